// MKDIR, CREATE and LINK of a slow mount on the worker pool (issue 12), through the real command on
// /dev/fuse. The export is the held source (test/helpers/held-source.ts), a FUSE stub served by
// this process, marked slow by two 20 ms LOOKUPs (slowVfsd). The source then holds the MKDIR,
// CREATE or LINK of a `heldnew*` name until the test lets it go: vfsd must still answer another client's
// stat meanwhile, and once released the new object is there, through vfsd and in the source.
// The names are in a subdirectory (`helddir0`): the kernel locks the parent for these ops, and a
// held one in the root would hold up every lookup in the root whatever vfsd does.
// Control: with --thread-pool-size 0 the same syscall runs on vfsd's JS thread and the stat is
// not answered while it is held — so the test can fail. No timing assertion.
// (The make jobs' credentials and umask against a real directory: test/native/meta-jobs-creates.)
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OP } from '../fixtures/stub-engine';
import { statHeldUp } from '../helpers/held-source';
import { heldAct, othersAnsweredWhileHeld, slowVfsd } from '../helpers/slow-vfsd';

const root = process.geteuid?.() === 0;
const DIR = 'helddir0';

const HELD: Array<{ op: number; what: string; act: (p: string) => Promise<unknown>; check: (st: fs.Stats) => boolean; sameAs?: string }> = [
  { op: OP.MKDIR, what: 'MKDIR', act: (p) => fs.promises.mkdir(p), check: (st) => st.isDirectory() },
  { op: OP.CREATE, what: 'CREATE', act: async (p) => (await fs.promises.open(p, 'wx')).close(), check: (st) => st.isFile() },
  // A new name for helddir0/held1: the same inode.
  { op: OP.LINK, what: 'LINK', act: (p) => fs.promises.link(path.join(path.dirname(p), 'held1'), p), check: (st) => st.isFile(), sameAs: 'held1' },
];

for (const h of HELD) {
  t.test(`a ${h.what} held on a slow source does not hold up other clients; then the object is there`, { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
    const { src, v } = await slowVfsd(t, h.op, ['--thread-pool-size', '4']);
    const name = 'heldnew1';
    const held = await heldAct(src, h.op, h.what, () => h.act(path.join(v.mnt, DIR, name)));
    await othersAnsweredWhileHeld(t, src, v.mnt, h.op, h.what, held);
    t.ok(h.check(await fs.promises.stat(path.join(v.mnt, DIR, name))), 'the new object is there through vfsd');
    t.ok(h.check(await fs.promises.stat(path.join(src.dir, DIR, name))), 'and in the source');
    if (h.sameAs) {
      const [a, b] = await Promise.all([name, h.sameAs].map((n) => fs.promises.stat(path.join(v.mnt, DIR, n))));
      t.equal(a.ino, b.ino, `through vfsd the new name is ${h.sameAs}'s inode`);
    }
    const again = await h.act(path.join(v.mnt, DIR, name)).then(() => 'made', (e: NodeJS.ErrnoException) => e.code ?? String(e));
    t.equal(again, 'EEXIST', 'making it again: EEXIST');
    t.equal(await v.stop(), 0, 'clean exit');
  });

  t.test(`control: --thread-pool-size 0 runs the ${h.what} inline, so the held one holds up the stat`, { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
    const { src, v } = await slowVfsd(t, h.op, ['--thread-pool-size', '0']);
    const held = await heldAct(src, h.op, h.what, () => h.act(path.join(v.mnt, DIR, 'heldnew1')));
    await statHeldUp(t, v.mnt, () => src.release(h.op, true), `the ${h.what}'s syscall`);
    await held.p;
    t.equal(await v.stop(), 0, 'clean exit');
  });
}
