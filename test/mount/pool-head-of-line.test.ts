// Head-of-line blocking on /dev/fuse (issue 12): while one client's fsync waits on a slow host
// filesystem, other clients are answered. The export is a FUSE stub whose FSYNC is held until
// the test lets it go (test/helpers/held-source.ts): vfsd's worker really blocks inside fsync(2),
// as on a disk that takes its time. Control: with --thread-pool-size 0 (everything inline, as
// before the pool) the same stat does not come back while the fsync is held — so the test can
// fail. No timing assertion: the checks are "answered while the fsync is still pending" and
// "not answered while it is pending".
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from '../fixtures/stub-engine';
import { FSYNC, SLOW_SIZE, mountHeldSource } from '../helpers/held-source';
import { OP } from '../fixtures/stub-engine';
import { waitFor } from '../helpers/wait';
import { startVfsd } from '../helpers/vfsd-process';

const root = process.geteuid?.() === 0;
const WAIT = 20000;

/** dd 4 KiB into `slow` through the mount, then fsync (conv=fsync): its FSYNC gets held. */
const syncWrite = (mnt: string) => run('dd', ['if=/dev/zero', `of=${path.join(mnt, 'slow')}`, 'bs=4096', 'count=1', 'conv=notrunc,fsync'], 60000);

/** vfsd with `args` on a held source, and a client's fsync of `slow` held there (in vfsd's pool,
 *  or on its event loop with --thread-pool-size 0). */
async function fsyncHeld(t: Test, args: string[]) {
  const src = mountHeldSource(t);
  const v = await startVfsd(t, { sharedDir: src.dir, args });
  const dd = syncWrite(v.mnt);
  await waitFor(() => src.held(FSYNC) > 0, 'the fsync to reach the slow filesystem', WAIT);
  return { src, v, dd };
}

for (const pt of [['--no-passthrough'], []]) {
  const mode = pt.join(' ') || 'passthrough';
  t.test(`a held fsync does not hold up other clients (${mode})`, { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
    const { src, v, dd } = await fsyncHeld(t, [...pt, '--cache', 'never', '--thread-pool-size', '4']);
    // Other requests while the worker is inside fsync: GETATTR and LOOKUPs of the export.
    const st = await fs.promises.stat(v.mnt);
    t.ok(st.isDirectory(), 'GETATTR answered');
    t.ok((await fs.promises.stat(path.join(v.mnt, 'slow'))).isFile(), 'LOOKUP of the busy file answered');
    await t.rejects(fs.promises.stat(path.join(v.mnt, 'missing')), { code: 'ENOENT' }, 'LOOKUP answered');
    t.ok(src.held(FSYNC) > 0, 'all while the fsync is still held');
    let ddDone = false;
    void dd.then(() => { ddDone = true; });
    t.notOk(ddDone, 'and its client still waits');
    src.release(FSYNC);
    const r = await dd;
    t.equal(r.code, 0, `the fsync completes once the disk answers: ${r.stderr.trim().split('\n').pop()}`);
    t.equal(await v.stop(), 0, 'clean exit');
  });
}

t.test('closes on a source whose close() waits (FLUSH, RELEASE) run off the loop, one FLUSH each', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  // Every close() of an fd of a FUSE (or NFS) file is a flush that may wait. vfsd closes on the
  // loop only on filesystems without a flush method (tmpfs, ext4, xfs, btrfs); here the client's
  // close (FLUSH: close(dup)) and the file's last close (RELEASE) go to the pool. And a pooled
  // READ uses the handle's own fd (a lease, not a dup): no close, no extra flush, per READ.
  const src = mountHeldSource(t, [OP.FLUSH]);
  const v = await startVfsd(t, { sharedDir: src.dir, args: ['--no-passthrough', '--cache', 'never', '--thread-pool-size', '4'] });
  const stillServed = async (what: string) => {
    t.ok((await fs.promises.stat(v.mnt)).isDirectory(), `GETATTR answered while ${what} is held`);
    await t.rejects(fs.promises.stat(path.join(v.mnt, 'missing')), { code: 'ENOENT' }, `LOOKUP answered while ${what} is held`);
  };
  let catDone = false;
  const cat = run('cat', [path.join(v.mnt, 'slow')], 60000).then((r) => { catDone = true; return r; });
  await waitFor(() => src.held(OP.FLUSH) > 0, 'the first flush to reach the slow filesystem', WAIT);
  await stillServed("the client's close");
  src.release(OP.FLUSH);
  // The READs flushed nothing: the FLUSH just released was the client's close, which now returns
  // (a pooled READ closing a dup of its own would hold the client at a FLUSH of its own). RELEASE's
  // close may reach the source (and be held) before this process sees the client exit.
  await waitFor(() => catDone, 'the client to exit', WAIT).catch(() => {});
  t.ok(catDone, 'the client exits after one FLUSH (its pooled READs closed no dup)');
  const r = await cat;
  t.equal(r.code, 0, 'cat succeeded');
  t.equal(r.stdout.length, SLOW_SIZE, 'and read the whole file');
  await waitFor(() => src.held(OP.FLUSH) > 0, "RELEASE's close to reach the slow filesystem", WAIT);
  await stillServed("RELEASE's close");
  src.release(OP.FLUSH, true);
  t.equal(await v.stop(), 0, 'clean exit');
});

t.test('control: --thread-pool-size 0 serves inline, so the held fsync holds up the stat', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, v, dd } = await fsyncHeld(t, ['--no-passthrough', '--cache', 'never', '--thread-pool-size', '0']);
  let answered = false;
  const st = fs.promises.stat(v.mnt).then(() => { answered = true; });
  // A generous pause: if the stat were served it would be back long before.
  await new Promise((r) => setTimeout(r, 1500));
  t.notOk(answered, 'no answer while the event loop is inside fsync');
  src.release(FSYNC);
  await st;
  t.ok(answered, 'answered once the fsync returns');
  t.equal((await dd).code, 0, 'the fsync completes');
  t.equal(await v.stop(), 0, 'clean exit');
});

t.test('a client killed during a pooled fsync (INTERRUPT): answered when it completes, vfsd serves on', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, v, dd } = await fsyncHeld(t, ['--no-passthrough', '--cache', 'never', '--thread-pool-size', '2']);
  // SIGKILL: the kernel interrupts the FUSE FSYNC (INTERRUPT to vfsd) and gives up on its answer.
  const ddPids = (await run('pgrep', ['-f', `of=${path.join(v.mnt, 'slow')}`])).stdout.toString().trim().split('\n').filter(Boolean);
  t.ok(ddPids.length > 0, 'found the waiting client');
  for (const p of ddPids) process.kill(Number(p), 'SIGKILL');
  t.ok(src.held(FSYNC) > 0, 'its fsync still runs on the worker');
  // (The kernel keeps a killed task waiting for a request already read by the server: the
  // worker's answer, when the disk is done, is what lets it go.)
  src.release(FSYNC);
  const r = await dd;
  t.equal(r.signal, 'SIGKILL', 'the client is gone');
  // The late answer goes to a request the kernel dropped: vfsd must take that in its stride.
  const again = syncWrite(v.mnt);
  await waitFor(() => src.held(FSYNC) > 0, 'the next fsync', WAIT);
  src.release(FSYNC);
  t.equal((await again).code, 0, 'a later fsync works');
  t.ok((await fs.promises.stat(v.mnt)).isDirectory(), 'and so does a stat');
  t.equal(v.exitCode(), null, 'vfsd is still running');
  t.equal(await v.stop(), 0, 'clean exit');
});

t.test('SIGTERM with a job in flight: the client is answered, vfsd exits 0', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, v, dd } = await fsyncHeld(t, ['--no-passthrough', '--cache', 'never', '--thread-pool-size', '2']);
  const stopping = v.stop();
  // The session ends (after its grace period) with the fsync still held: the kernel fails the
  // client's request (ENOTCONN) instead of leaving it hanging.
  const r = await dd;
  t.not(r.code, 0, `the client gets an error answer, not a hang (dd exit ${r.code}: ${r.stderr.trim().split('\n')[0]})`);
  t.ok(src.held(FSYNC) > 0, 'while the worker is still inside fsync');
  // A thread inside a syscall on a FUSE (or NFS) file cannot be killed until it returns: the
  // process exits when the disk answers.
  src.release(FSYNC);
  t.equal(await stopping, 0, 'vfsd exits 0 once the worker is out');
});
