// LSEEK (SEEK_DATA, SEEK_HOLE) of a slow mount runs on the worker pool (issue 12): on NFS 4.2 it
// is a round trip to the server (its SEEK operation). Through the real command on /dev/fuse, on
// the held source (test/helpers/held-source.ts), a FUSE stub that answers LSEEK itself: data at
// the offset asked, a hole a page after it (not what the kernel's own fallback, from the file's
// size, would say). vfsd (--cache never) first sees two LOOKUPs of `lag*` names take 20 ms each
// inline, which marks the export's mount slow; the source then holds the LSEEK a client's
// lseek(SEEK_HOLE) makes on a `held*` file until the test lets it go: vfsd must answer another
// client's stat meanwhile, and the client then gets the source's offset.
// Control: with --thread-pool-size 0 the lseek runs on vfsd's JS thread and the stat is not
// answered while it is held — so the test can fail.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { OP } from '../fixtures/stub-engine';
import { statHeldUp } from '../helpers/held-source';
import { heldAct, othersAnsweredWhileHeld, slowVfsd } from '../helpers/slow-vfsd';

const root = process.geteuid?.() === 0;
const run = promisify(execFile);
const FROM = 100;
const SOURCE_SAYS = String(FROM + 4096);

/** lseek(fd, FROM, SEEK_HOLE) of p in python3 (Node has no SEEK_HOLE): the offset, or the errno. */
async function seekHole(p: string): Promise<string> {
  const script = `import os, sys\nfd = os.open(sys.argv[1], os.O_RDONLY)\ntry:\n    print(os.lseek(fd, ${FROM}, os.SEEK_HOLE))\nexcept OSError as e:\n    print('errno', e.errno)`;
  return (await run('python3', ['-c', script, p])).stdout.trim();
}

t.test('an LSEEK held on a slow source does not hold up other clients; the answer is the source\'s', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, v } = await slowVfsd(t, OP.LSEEK, ['--thread-pool-size', '4']);
  const p = path.join(v.mnt, 'held-seek');
  t.ok((await fs.promises.stat(p)).isFile(), 'the file is there');
  const held = await heldAct(src, OP.LSEEK, 'LSEEK', () => seekHole(p));
  t.equal(await othersAnsweredWhileHeld(t, src, v.mnt, OP.LSEEK, 'LSEEK', held), SOURCE_SAYS, `the client got the source's offset (${SOURCE_SAYS})`);
  t.equal(await v.stop(), 0, 'clean exit');
});

t.test('control: --thread-pool-size 0 runs the LSEEK inline, so the held one holds up the stat', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, v } = await slowVfsd(t, OP.LSEEK, ['--thread-pool-size', '0']);
  const p = path.join(v.mnt, 'held-seek');
  await fs.promises.stat(p);
  const held = await heldAct(src, OP.LSEEK, 'LSEEK', () => seekHole(p));
  await statHeldUp(t, v.mnt, () => src.release(OP.LSEEK, true), 'the lseek');
  t.equal(await held.p, SOURCE_SAYS, 'the held LSEEK completes with the source\'s answer');
  t.equal(await v.stop(), 0, 'clean exit');
});
