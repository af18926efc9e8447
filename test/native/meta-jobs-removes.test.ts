// The worker pool's Unlink and Rename meta jobs (native/meta_jobs.cc, used by remove-ops.ts on a
// slow mount) against a real directory: they run as the caller they are given — a caller without
// search permission in the directory gets EACCES, where the daemon (root) succeeds — and answer
// the host's errno (ENOENT, ENOTDIR, EISDIR); a malformed post is EINVAL and queues nothing.
// Compared with the same act on the native directory (fs.*Sync as root).
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { metaJobs, MetaOp } from '../../src/native/meta-jobs';
import { workerPool } from '../../src/native/worker-pool';
import { C } from '../../src/native/sys';

const root = process.geteuid?.() === 0;
const NOBODY = 65534;
const ENOENT = 2, EACCES = 13, ENOTDIR = 20, EISDIR = 21, EINVAL = 22;
const enc = (s: string) => new TextEncoder().encode(s);

/** Posts one job; its status. `uid` -1: the daemon's credentials. */
function job(op: number, fd: number, name: string | null, flags: number, uid: number, fd2 = -1, name2?: string): Promise<number> {
  return new Promise((resolve) => {
    const r = metaJobs.metaJob(op, fd, fd2, name === null ? null : enc(name), flags, uid, uid < 0 ? 0 : uid, uid < 0 ? null : new Uint32Array(0),
      (res) => resolve(res), name2 === undefined ? undefined : enc(name2));
    if (r !== 1) resolve(r);
  });
}

t.test('Unlink and Rename jobs on the pool, as the caller', { skip: !root && 'needs root' }, async (t) => {
  // The pool's completions do not keep the event loop alive (vfsd's channel does): this does.
  const alive = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(alive));
  const started = workerPool.startWorkerPool(2);
  t.equal(started, 0, 'pool started');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-meta-removes-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o700); // nobody may not search it
  for (const f of ['a', 'b', 'c']) fs.writeFileSync(path.join(dir, f), f);
  fs.mkdirSync(path.join(dir, 'd'));
  const fd = fs.openSync(dir, 'r');
  t.teardown(() => fs.closeSync(fd));

  t.equal(await job(MetaOp.Unlink, fd, 'a', 0, NOBODY), -EACCES, 'UNLINK as nobody: EACCES');
  t.ok(fs.existsSync(path.join(dir, 'a')), 'and the name stays');
  t.equal(await job(MetaOp.Unlink, fd, 'a', 0, 0), 0, 'UNLINK as root: 0');
  t.notOk(fs.existsSync(path.join(dir, 'a')), 'and the name is gone');
  t.equal(await job(MetaOp.Unlink, fd, 'a', 0, 0), -ENOENT, 'again: ENOENT');
  t.equal(await job(MetaOp.Unlink, fd, 'd', 0, -1), -EISDIR, 'UNLINK of a directory: EISDIR');
  t.equal(await job(MetaOp.Unlink, fd, 'b', C.AT_REMOVEDIR, -1), -ENOTDIR, 'RMDIR of a file: ENOTDIR');
  t.equal(await job(MetaOp.Unlink, fd, 'd', C.AT_REMOVEDIR, 0), 0, 'RMDIR of the directory: 0');
  t.notOk(fs.existsSync(path.join(dir, 'd')), 'and it is gone');

  t.equal(await job(MetaOp.Rename, fd, 'b', 0, NOBODY, fd, 'moved'), -EACCES, 'RENAME as nobody: EACCES');
  t.equal(await job(MetaOp.Rename, fd, 'b', C.RENAME_NOREPLACE, 0, fd, 'c'), -17 /* EEXIST */, 'RENAME_NOREPLACE onto a name: EEXIST');
  t.equal(await job(MetaOp.Rename, fd, 'b', 0, 0, fd, 'moved'), 0, 'RENAME as root: 0');
  t.same(fs.readdirSync(dir).sort(), ['c', 'moved'], 'the directory as the host has it');
  t.equal(fs.readFileSync(path.join(dir, 'moved'), 'utf8'), 'b', 'the moved name is the old file');
  t.equal(await job(MetaOp.Rename, fd, 'b', 0, 0, fd, 'x'), -ENOENT, 'RENAME of a missing name: ENOENT');

  t.equal(await job(MetaOp.Unlink, fd, null, 0, 0), -EINVAL, 'Unlink without a name: EINVAL');
  t.equal(await job(MetaOp.Rename, fd, 'c', 0, 0, fd), -EINVAL, 'Rename without a new name: EINVAL');
  t.equal(await job(MetaOp.Unlink, fd, 'c', 0, 0, -1, 'y'), -EINVAL, 'Unlink with a new name: EINVAL');
  t.equal(await job(MetaOp.Rename, fd, 'c', 0, 0, -1, 'y'), -9 /* EBADF */, 'Rename with no new parent fd: EBADF');
  t.ok(fs.existsSync(path.join(dir, 'c')), 'none of those touched anything');
});
