// SETATTR of a slow mount on the worker pool (issue 12), through the real command on /dev/fuse.
// The export is the held source (test/helpers/held-source.ts), a FUSE stub served by this
// process: vfsd (with --cache never, so every stat reaches it) first sees two LOOKUPs of `lag*`
// names take 20 ms each inline, which marks the export's mount slow (src/passthrough/off-loop.ts).
// The source then holds the SETATTR of a `held*` name that a client's chmod, chown, truncate or
// utimes makes, until the test lets it go: vfsd must still answer another client's stat
// meanwhile, and the held change succeeds as the source answers it once released.
// Control: with --thread-pool-size 0 the change runs on vfsd's JS thread and the stat is not
// answered while it is held — so the test can fail. No timing assertion: the checks are
// "answered while held" and "not answered while held".
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OP } from '../fixtures/stub-engine';
import { statHeldUp } from '../helpers/held-source';
import { heldAct, othersAnsweredWhileHeld, slowVfsd } from '../helpers/slow-vfsd';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

const root = process.geteuid?.() === 0;

/** Each client act makes one SETATTR (of one kind of change) of a `held*` file in the root. */
const ACTS: Array<{ what: string; name: string; act: (p: string) => Promise<unknown> }> = [
  { what: 'chmod', name: 'held-mode', act: (p) => fs.promises.chmod(p, 0o600) },
  { what: 'chown', name: 'held-owner', act: (p) => fs.promises.chown(p, 1000, 1000) },
  // truncate(2) by path (no open file: a SETATTR without a handle), in a child process: this
  // one must stay free to release the held request.
  { what: 'truncate', name: 'held-size', act: (p) => run('python3', ['-c', 'import os, sys; os.truncate(sys.argv[1], 10)', p]) },
  { what: 'utimes', name: 'held-times', act: (p) => fs.promises.utimes(p, 1000, 2000) },
];

for (const a of ACTS) {
  t.test(`a SETATTR (${a.what}) held on a slow source does not hold up other clients`, { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
    const { src, v } = await slowVfsd(t, OP.SETATTR, ['--thread-pool-size', '4']);
    const p = path.join(v.mnt, a.name);
    t.ok((await fs.promises.stat(p)).isFile(), 'the file is there');
    const held = await heldAct(src, OP.SETATTR, `SETATTR (${a.what})`, () => a.act(p));
    await othersAnsweredWhileHeld(t, src, v.mnt, OP.SETATTR, `SETATTR (${a.what})`, held);
    t.equal(await v.stop(), 0, 'clean exit');
  });
}

t.test('control: --thread-pool-size 0 runs the SETATTR inline, so the held one holds up the stat', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, v } = await slowVfsd(t, OP.SETATTR, ['--thread-pool-size', '0']);
  const p = path.join(v.mnt, 'held-mode');
  await fs.promises.stat(p);
  const held = await heldAct(src, OP.SETATTR, 'SETATTR (chmod)', () => fs.promises.chmod(p, 0o600));
  await statHeldUp(t, v.mnt, () => src.release(OP.SETATTR, true), 'the chmod');
  await held.p;
  t.equal(await v.stop(), 0, 'clean exit');
});
