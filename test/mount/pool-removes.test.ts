// UNLINK, RMDIR and RENAME of a slow mount on the worker pool (issue 12), through the real command
// on /dev/fuse. The export is the held source (test/helpers/held-source.ts), a FUSE stub served by
// this process: vfsd (with --cache never, so every stat reaches it) first sees two LOOKUPs of
// `lag*` names take 20 ms each inline, which marks the export's mount slow
// (src/passthrough/off-loop.ts). The source then holds its UNLINK, RMDIR or RENAME of a `held*`
// name until the test lets it go: vfsd must still answer another client's stat meanwhile, and
// answer the held request as the source does once it is released — the name gone (moved), or
// ENOENT when the host removed it while the request was held.
// The names are in a subdirectory (`helddir0`): the kernel locks the parent directory for these
// ops, on the client's mount and on the source's, and a held one in the root would hold up every
// lookup in the root whatever vfsd does.
// Control: with --thread-pool-size 0 the same syscall runs on vfsd's JS thread and the stat is not
// answered while it is held — so the test can fail. No timing assertion: the checks are "answered
// while held" and "not answered while held".
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OP } from '../fixtures/stub-engine';
import { statHeldUp } from '../helpers/held-source';
import { answeredWhileHeld, heldAct, othersAnsweredWhileHeld, slowVfsd } from '../helpers/slow-vfsd';

const root = process.geteuid?.() === 0;
const DIR = 'helddir0';

/** The ops held in the source: the client's act on `name` in dir, and the names it removes. */
const HELD: Array<{ op: number; what: string; name: string; act: (dir: string, name: string) => Promise<unknown> }> = [
  { op: OP.UNLINK, what: 'UNLINK', name: 'held1', act: (dir, name) => fs.promises.unlink(path.join(dir, name)) },
  { op: OP.RMDIR, what: 'RMDIR', name: 'helddir1', act: (dir, name) => fs.promises.rmdir(path.join(dir, name)) },
  { op: OP.RENAME, what: 'RENAME', name: 'held2', act: (dir, name) => fs.promises.rename(path.join(dir, name), path.join(dir, `${name}-moved`)) },
];

/** The errno code stat of p fails with, or 'exists'. */
const statCode = (p: string) => fs.promises.stat(p).then(() => 'exists', (e: NodeJS.ErrnoException) => e.code ?? String(e));

for (const h of HELD) {
  t.test(`a ${h.what} held on a slow source does not hold up other clients; the answer is the source's`, { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
    const { src, v } = await slowVfsd(t, h.op, ['--thread-pool-size', '4']);
    const srcDir = path.join(src.dir, DIR);
    const before = await fs.promises.stat(path.join(srcDir, h.name));
    const held = await heldAct(src, h.op, h.what, () => h.act(path.join(v.mnt, DIR), h.name));
    await othersAnsweredWhileHeld(t, src, v.mnt, h.op, h.what, held);
    t.equal(await statCode(path.join(v.mnt, DIR, h.name)), 'ENOENT', 'the name is gone through vfsd');
    t.equal(await statCode(path.join(srcDir, h.name)), 'ENOENT', 'and in the source');
    if (h.op === OP.RENAME) {
      const moved = `${h.name}-moved`;
      t.ok((await fs.promises.stat(path.join(v.mnt, DIR, moved))).isFile(), 'the new name is there through vfsd');
      t.equal((await fs.promises.stat(path.join(srcDir, moved))).ino, before.ino, 'the source\'s new name is the old inode');
    }
    t.equal(await v.stop(), 0, 'clean exit');
  });

  t.test(`a ${h.what} of a name the host removed while it was held: ENOENT, from the pool`, { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
    const { src, v } = await slowVfsd(t, h.op, ['--thread-pool-size', '4']);
    const parent = (await fs.promises.stat(path.join(src.dir, DIR))).ino;
    const held = await heldAct(src, h.op, h.what, () => h.act(path.join(v.mnt, DIR), h.name));
    t.ok((await answeredWhileHeld(t, fs.promises.stat(v.mnt), 'another client', () => src.release(h.op, true))).isDirectory(), 'another client answered while it is held');
    src.hostUnlink(h.name, parent);
    src.release(h.op, true);
    const r = await held.p.then(() => 'done', (e: NodeJS.ErrnoException) => e.code ?? String(e));
    t.equal(r, 'ENOENT', 'the client gets the source\'s ENOENT');
    t.equal(await v.stop(), 0, 'clean exit');
  });

  t.test(`control: --thread-pool-size 0 runs the ${h.what} inline, so the held one holds up the stat`, { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
    const { src, v } = await slowVfsd(t, h.op, ['--thread-pool-size', '0']);
    const held = await heldAct(src, h.op, h.what, () => h.act(path.join(v.mnt, DIR), h.name));
    await statHeldUp(t, v.mnt, () => src.release(h.op, true), `the ${h.what}'s syscall`);
    await held.p;
    t.equal(await v.stop(), 0, 'clean exit');
  });
}
