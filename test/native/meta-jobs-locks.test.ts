// The worker pool's lock jobs (native/meta_jobs.cc GetLk, SetLk, Flock; used by lock-ops.ts on a
// slow mount) against a real file: they act on the open file description of the fd they are
// given (a lease of it, not a dup), so a lock taken by a job is the same as one taken inline on
// that fd: another description conflicts with it, GETLK on another description sees it, and
// closing the fd (closeFile) releases it. The fd stays leased while the job runs, so a closeFile
// meanwhile is deferred to the job's end. A malformed post is EINVAL and queues nothing.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { metaJobs, MetaOp } from '../../src/native/meta-jobs';
import { workerPool } from '../../src/native/worker-pool';
import { C, sys } from '../../src/native/sys';

const EINVAL = 22;
const EAGAIN = 11;
const OFFSET = 100;

/** Posts one lock job on fd; its result and the lock array (GetLk's answer). */
function job(op: number, fd: number, lock: number[], flags = 0): Promise<{ r: number; lock: Float64Array }> {
  const buf = Float64Array.from(lock);
  return new Promise((resolve) => {
    const r = metaJobs.metaLockJob(op, fd, buf, flags, (res) => resolve({ r: res, lock: buf }));
    if (r !== 1) resolve({ r, lock: buf });
  });
}

/** The same lock call inline (the reference). */
function inline(fd: number, cmd: number, lock: number[]): { r: number; lock: Float64Array } {
  const buf = Float64Array.from(lock);
  return { r: sys.fcntlLock(fd, cmd, buf), lock: buf };
}

t.test('lock jobs on the pool take, see and drop the OFD locks inline calls do', async (t) => {
  const alive = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(alive));
  t.equal(workerPool.startWorkerPool(2), 0, 'pool started');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-meta-locks-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const p = path.join(dir, 'f');
  fs.writeFileSync(p, 'x'.repeat(1000));
  const a = fs.openSync(p, 'r+');
  const b = fs.openSync(p, 'r+');
  t.teardown(() => { fs.closeSync(b); });

  t.equal((await job(MetaOp.SetLk, a, [C.F_WRLCK, OFFSET, 10, 0])).r, 0, 'a write lock on [100, 110) taken by a job on a');
  t.equal(inline(b, C.F_OFD_SETLK, [C.F_WRLCK, OFFSET, 10, 0]).r, -EAGAIN, 'another description conflicts with it (inline)');
  t.equal((await job(MetaOp.SetLk, b, [C.F_RDLCK, OFFSET + 5, 1, 0])).r, -EAGAIN, 'and on the pool');
  const seen = await job(MetaOp.GetLk, b, [C.F_WRLCK, 0, 0, 0]);
  const ref = inline(b, C.F_OFD_GETLK, [C.F_WRLCK, 0, 0, 0]);
  t.equal(seen.r, 0, 'GETLK on the pool');
  t.same([...seen.lock], [...ref.lock], 'answers what GETLK inline does');
  t.same([seen.lock[0], seen.lock[1], seen.lock[2], seen.lock[3]], [C.F_WRLCK, OFFSET, 10, -1], 'the conflicting lock: write, [100, 110), an OFD lock (pid -1)');
  const free = await job(MetaOp.GetLk, b, [C.F_RDLCK, 0, 50, 0]);
  t.equal(free.lock[0], C.F_UNLCK, 'a free range: F_UNLCK');

  t.equal((await job(MetaOp.Flock, a, [0, 0, 0, 0], C.LOCK_EX | C.LOCK_NB)).r, 0, 'flock LOCK_EX by a job on a');
  t.equal(sys.flock(b, C.LOCK_SH | C.LOCK_NB), -EAGAIN, 'another description cannot share it');
  t.equal((await job(MetaOp.Flock, a, [0, 0, 0, 0], C.LOCK_UN)).r, 0, 'LOCK_UN by a job');
  t.equal(sys.flock(b, C.LOCK_SH | C.LOCK_NB), 0, 'now it can');
  t.equal(sys.flock(b, C.LOCK_UN), 0);

  // A close of the leased fd while a job is queued: deferred to the job's end, so the job works
  // on a, and the lock it takes goes with a's close.
  const taking = job(MetaOp.SetLk, a, [C.F_RDLCK, 500, 1, 0]);
  t.equal(sys.closeFile(a, false), 0, 'a closed by the engine while the job may run');
  t.equal((await taking).r, 0, 'the job still ran on a');
  t.equal(inline(b, C.F_OFD_SETLK, [C.F_WRLCK, 0, 0, 0]).r, 0, 'a closed: its locks are gone, b locks the whole file');
  t.equal(sys.leasedFds(), 0, 'no lease left');
});

t.test('a malformed lock job is refused and queues nothing', async (t) => {
  t.equal(workerPool.startWorkerPool(2), 0, 'pool running');
  const fd = fs.openSync('/proc/self/status', 'r');
  t.teardown(() => fs.closeSync(fd));
  const never = () => t.fail('a refused job never completes');
  t.equal(metaJobs.metaLockJob(MetaOp.Stat, fd, new Float64Array(4), 0, never), -EINVAL, 'not a lock op');
  t.equal(metaJobs.metaLockJob(MetaOp.SetLk, fd, new Float64Array([C.F_RDLCK, 0.5, 1, 0]), 0, never), -EINVAL, 'a start that is not an integer');
  t.equal(metaJobs.metaLockJob(MetaOp.SetLk, fd, new Float64Array([C.F_RDLCK, 2 ** 64, 1, 0]), 0, never), -EINVAL, 'a start past 64 bits');
  t.equal(metaJobs.metaLockJob(MetaOp.SetLk, -1, new Float64Array(4), 0, never), -9, 'no fd: EBADF');
  t.equal(metaJobs.metaLockJob(MetaOp.SetLk, fd, new Float64Array(2), 0, never), -EINVAL, 'a lock array too short');
  t.throws(() => metaJobs.metaLockJob(MetaOp.SetLk, fd, new Uint8Array(32) as unknown as Float64Array, 0, never), 'not a Float64Array: a TypeError (a bug of ours, not the client\'s)');
  await new Promise((r) => setTimeout(r, 50));
});
