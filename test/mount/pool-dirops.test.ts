// Directory listings, READLINK and STATFS of a slow mount on the worker pool (issue 12), through
// the real command on /dev/fuse. The export is the held source (test/helpers/held-source.ts), a
// FUSE stub served by this process: vfsd (with --cache never, so every stat reaches it) first sees
// two LOOKUPs of `lag*` names take 20 ms each inline, which marks the export's mount slow
// (src/passthrough/off-loop.ts). The source then holds its READDIR (vfsd's getdents64 of `list`),
// READLINK (of `link`) or STATFS until the test lets them go: vfsd must still answer another
// client's stat meanwhile, and answer the held request as the source does once it is released.
// Control: with --thread-pool-size 0 the same syscall runs on vfsd's JS thread and the stat is not
// answered while it is held — so the test can fail. No timing assertion: the checks are "answered
// while held" and "not answered while held".
// Also: vfsd's fds after a pooled listing are what they were before (the stream's refill works on
// a dup, closed by the job; RELEASEDIR closes the handle's), and SIGTERM with a READDIR held on
// the pool ends cleanly once the source answers.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OP } from '../fixtures/stub-engine';
import { LINK_TARGET, LIST_NAMES, STATFS, statHeldUp } from '../helpers/held-source';
import { heldAct, othersAnsweredWhileHeld, slowVfsd } from '../helpers/slow-vfsd';
import { waitFor, waitUntil } from '../helpers/wait';

const root = process.geteuid?.() === 0;
const WAIT = 20000;

/** The ops held in the source, and what the client does that needs one through vfsd. */
const HELD: Array<{ op: number; what: string; act: (mnt: string) => Promise<unknown> }> = [
  { op: OP.READDIR, what: 'READDIR', act: (mnt) => fs.promises.readdir(path.join(mnt, 'list')) },
  { op: OP.READLINK, what: 'READLINK', act: (mnt) => fs.promises.readlink(path.join(mnt, 'link')) },
  { op: OP.STATFS, what: 'STATFS', act: (mnt) => fs.promises.statfs(mnt) },
];

const fdsOf = (pid: number) => fs.readdirSync(`/proc/${pid}/fd`).length;

for (const h of HELD) {
  t.test(`a ${h.what} held on a slow source does not hold up other clients; the answer is the source's`, { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
    const { src, v } = await slowVfsd(t, h.op, ['--thread-pool-size', '4']);
    const held = await heldAct(src, h.op, h.what, () => h.act(v.mnt));
    const got = await othersAnsweredWhileHeld(t, src, v.mnt, h.op, h.what, held);
    if (h.op === OP.READDIR) {
      t.same([...(got as string[])].sort(), [...LIST_NAMES].sort(), `the listing is the source's (${LIST_NAMES.length} names)`);
      t.same(await fs.promises.readdir(path.join(v.mnt, 'list')), await fs.promises.readdir(path.join(src.dir, 'list')), 'listed again: as the source lists it, in its order');
    } else if (h.op === OP.READLINK) {
      t.equal(got, LINK_TARGET, 'the target is the source\'s');
      t.equal(got, await fs.promises.readlink(path.join(src.dir, 'link')), 'as the source reads it');
    } else {
      const st = got as fs.StatsFs;
      const want = { bsize: STATFS.bsize, blocks: STATFS.blocks, bfree: STATFS.bfree, bavail: STATFS.bavail, files: STATFS.files, ffree: STATFS.ffree };
      t.same({ bsize: st.bsize, blocks: st.blocks, bfree: st.bfree, bavail: st.bavail, files: st.files, ffree: st.ffree }, want, 'the numbers are the source\'s');
    }
    t.equal(await v.stop(), 0, 'clean exit');
  });

  t.test(`control: --thread-pool-size 0 runs the ${h.what} inline, so the held one holds up the stat`, { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
    const { src, v } = await slowVfsd(t, h.op, ['--thread-pool-size', '0']);
    const held = await heldAct(src, h.op, h.what, () => h.act(v.mnt));
    await statHeldUp(t, v.mnt, () => src.release(h.op, true), `the ${h.what}'s syscall`);
    await held.p;
    t.equal(await v.stop(), 0, 'clean exit');
  });
}

for (const plus of [true, false]) {
  t.test(`pooled ${plus ? 'READDIRPLUS' : 'READDIR'} listings leave no fd behind in vfsd`, { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
    const { src, v } = await slowVfsd(t, OP.READDIR, ['--thread-pool-size', '2', ...(plus ? [] : ['--no-readdirplus'])]);
    src.release(OP.READDIR, true);
    const pid = v.child.pid!;
    // One listing first: the inode of `list` (and its fd) is known from then on.
    t.same((await fs.promises.readdir(path.join(v.mnt, 'list'))).sort(), [...LIST_NAMES].sort(), 'listed as the source lists it');
    // The kernel sends RELEASEDIR after the client's close: wait for vfsd's fds to settle.
    let before = -1;
    await waitUntil(() => { const n = fdsOf(pid); const same = n === before; before = n; return same; }, 2000, 200);
    src.hold(OP.READDIR);
    const held = await heldAct(src, OP.READDIR, 'READDIR', () => HELD[0].act(v.mnt));
    src.release(OP.READDIR, true);
    t.equal((await held.p as string[]).length, LIST_NAMES.length, 'a held listing completes');
    for (let i = 0; i < 3; i++) await fs.promises.readdir(path.join(v.mnt, 'list'));
    const settled = await waitUntil(() => fdsOf(pid) === before, 5000, 20);
    t.ok(settled, `vfsd's fds are back to ${before} (now ${fdsOf(pid)}): every refill's dup and every handle closed`);
    t.equal(await v.stop(), 0, 'clean exit');
  });
}

t.test('SIGTERM with a READDIR held on the pool: the client is answered, vfsd exits 0', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, v } = await slowVfsd(t, OP.READDIR, ['--thread-pool-size', '2']);
  const held = await heldAct(src, OP.READDIR, 'READDIR', () => HELD[0].act(v.mnt));
  const stopping = v.stop();
  const r = await held.p.then(() => 'answered', (e: NodeJS.ErrnoException) => e.code ?? String(e));
  t.not(r, 'answered', `the client gets an error, not a hang (${r})`);
  await waitFor(() => v.log().includes('"unmounted"'), 'vfsd to end its session', WAIT);
  src.release(OP.READDIR, true);
  t.equal(await stopping, 0, 'and exits 0 once the source answers');
});
