// Metadata head-of-line on /dev/fuse (issue 12): on an export whose syscalls are measured slow,
// a LOOKUP that waits on the host filesystem does not hold up other clients. The export is the
// held source (test/helpers/held-source.ts), a FUSE stub served by this process: vfsd (the real
// command, with --cache never so every stat reaches it) first sees two LOOKUPs of `lag*` names
// take 20 ms each inline, which marks the export's mount slow (src/passthrough/off-loop.ts); a
// LOOKUP of `held-x` then goes to the worker pool and waits inside openat until the test lets it.
// Control: with --thread-pool-size 0 the same LOOKUP runs inline and the other client's stat is
// not answered while it is held — so the test can fail. No timing assertion: the checks are
// "answered while the LOOKUP is still held" and "not answered while it is".
// Also: SIGTERM with the held LOOKUP in flight — every client request is answered or failed
// without waiting for the source, and vfsd exits 0 once its worker is out of the syscall.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OP } from '../fixtures/stub-engine';
import { mountHeldSource, statHeldUp } from '../helpers/held-source';
import { answeredWhileHeld, makeSlow, othersAnsweredWhileHeld } from '../helpers/slow-vfsd';
import { waitFor } from '../helpers/wait';
import { startVfsd } from '../helpers/vfsd-process';

const root = process.geteuid?.() === 0;
const WAIT = 20000;

/** vfsd on a held source, made slow, with a client's stat of `held-x` held in the source. */
async function lookupHeld(t: Test, args: string[]) {
  const src = mountHeldSource(t, [OP.LOOKUP]);
  const v = await startVfsd(t, { sharedDir: src.dir, args: ['--cache', 'never', ...args] });
  await makeSlow(v.mnt, 1);
  let settled = false;
  const held = fs.promises.stat(path.join(v.mnt, 'held-x')).finally(() => { settled = true; });
  held.catch(() => undefined); // awaited by the test; a rejection is its result, not a crash
  await waitFor(() => src.held(OP.LOOKUP) > 0, 'the LOOKUP of held-x to reach the source', WAIT);
  return { src, v, held, settled: () => settled };
}

t.test('a LOOKUP held on a slow source does not hold up other clients', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, v, held, settled } = await lookupHeld(t, ['--thread-pool-size', '4']);
  const release = () => src.release(OP.LOOKUP, true);
  await t.rejects(answeredWhileHeld(t, fs.promises.stat(path.join(v.mnt, 'missing')), 'a LOOKUP of a missing name', release),
    { code: 'ENOENT' }, 'a LOOKUP answered ENOENT');
  const st = await othersAnsweredWhileHeld(t, src, v.mnt, OP.LOOKUP, 'LOOKUP of held-x', { p: held, settled });
  const said = src.answers().filter((a) => a.name === 'held-x').map((a) => a.ino);
  t.ok(said.length > 0 && said[0] > 0, `the source answered inode ${said[0]}`);
  t.equal(st.ino, said[0], 'the held stat returns that inode');
  t.ok(st.isFile(), 'a regular file');
  t.equal(await v.stop(), 0, 'clean exit');
});

t.test('control: --thread-pool-size 0 looks up inline, so the held LOOKUP holds up the stat', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, v, held } = await lookupHeld(t, ['--thread-pool-size', '0']);
  await statHeldUp(t, v.mnt, () => src.release(OP.LOOKUP, true), 'openat');
  t.ok((await held).isFile(), 'the held stat completes');
  t.equal(await v.stop(), 0, 'clean exit');
});

t.test('SIGTERM with a LOOKUP held on the pool: the client is answered, vfsd exits 0', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, v, held } = await lookupHeld(t, ['--thread-pool-size', '2']);
  const stopping = v.stop();
  // The unmount is lazy and the client's request pins the connection: after its grace period
  // vfsd ends the session and the kernel fails the request (ENOTCONN) — without the source.
  const r = await held.then(() => 'answered', (e: NodeJS.ErrnoException) => e.code ?? String(e));
  t.not(r, 'answered', `the client gets an error, not a hang (${r})`);
  t.ok(src.held(OP.LOOKUP) > 0, 'while the worker is still inside openat');
  await waitFor(() => v.log().includes('"unmounted"'), 'vfsd to end its session', WAIT);
  // It has called exit; the process ends when its worker is out of the syscall: the kernel
  // keeps a task killed inside a FUSE request that its server has read waiting for the answer
  // (an NFS hard mount does the same). A pause to show it is still there, like the control
  // above: not a timing assertion.
  await new Promise((r) => setTimeout(r, 1000));
  t.ok(v.exitCode() === null && v.child.signalCode === null, 'vfsd waits for its worker');
  src.release(OP.LOOKUP, true);
  t.equal(await stopping, 0, 'and exits 0 once the source answers');
});
