// The worker pool's OpenHandle meta job (native/meta_jobs.cc, used by pool-ops.ts to open again,
// on a slow mount, an inode whose fd the budget took back) against a real directory: the handle
// name_to_handle_at gave opens the same inode, O_PATH, as a new fd the caller owns; a handle of a
// file that is gone is the host's ESTALE. The handle is guest-reachable state (what vfsd kept for
// an inode), so a malformed one — shorter than its handle_bytes says, or longer than MAX_HANDLE_SZ
// — is EINVAL before the kernel would read past the buffer, and queues nothing.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { metaJobs, MetaOp } from '../../src/native/meta-jobs';
import { workerPool } from '../../src/native/worker-pool';
import { sys } from '../../src/native/sys';

const root = process.geteuid?.() === 0;
const EBADF = 9, EINVAL = 22, ESTALE = 116;
const O_PATH = 0o10000000;

/** Posts one OpenHandle job; the new fd or -errno. */
function openHandle(mountFd: number, handle: Uint8Array): Promise<number> {
  return new Promise((resolve) => {
    const r = metaJobs.metaIntoJob(MetaOp.OpenHandle, mountFd, handle, (res) => resolve(res));
    if (r !== 1) resolve(r);
  });
}

/** name's handle, exactly as long as its header says. */
function handleOf(dirFd: number, name: string): Uint8Array {
  const buf = new Uint8Array(8 + 128);
  const mnt = sys.nameToHandleAt(dirFd, name, 0, buf);
  if (mnt < 0) throw new Error(`name_to_handle_at ${name}: ${mnt}`);
  return buf.slice(0, 8 + new DataView(buf.buffer).getUint32(0, true));
}

t.test('OpenHandle jobs on the pool', { skip: !root && 'needs root (CAP_DAC_READ_SEARCH)' }, async (t) => {
  // The pool's completions do not keep the event loop alive (vfsd's channel does): this does.
  const alive = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(alive));
  t.equal(workerPool.startWorkerPool(2), 0, 'pool started');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-meta-handle-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const f of ['kept', 'gone']) fs.writeFileSync(path.join(dir, f), f);
  const mountFd = fs.openSync(dir, 'r'); // not O_PATH: open_by_handle_at takes no O_PATH mount fd
  t.teardown(() => fs.closeSync(mountFd));
  const kept = handleOf(mountFd, 'kept');
  const gone = handleOf(mountFd, 'gone');

  const fd = await openHandle(mountFd, kept);
  t.ok(fd >= 0, 'the handle opens');
  if (fd >= 0) {
    t.equal(fs.fstatSync(fd).ino, fs.statSync(path.join(dir, 'kept')).ino, 'the same inode as the name');
    t.equal(fs.readlinkSync(`/proc/self/fd/${fd}`), path.join(dir, 'kept'), 'at its path');
    const flags = parseInt(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').match(/flags:\s+(\d+)/)?.[1] ?? '0', 8);
    t.ok(flags & O_PATH, 'opened O_PATH');
    fs.closeSync(fd);
  }

  fs.unlinkSync(path.join(dir, 'gone'));
  t.equal(await openHandle(mountFd, gone), -ESTALE, 'a handle of a file that is gone: ESTALE, as the host says');
  t.equal(await openHandle(-1, kept), -EBADF, 'no mount fd: EBADF');

  const short = kept.slice(0, kept.length - 1);
  t.equal(await openHandle(mountFd, short), -EINVAL, 'shorter than its handle_bytes: EINVAL');
  t.equal(await openHandle(mountFd, kept.slice(0, 7)), -EINVAL, 'shorter than the header: EINVAL');
  const huge = new Uint8Array(8 + 200);
  new DataView(huge.buffer).setUint32(0, 200, true);
  t.equal(await openHandle(mountFd, huge), -EINVAL, 'handle_bytes past MAX_HANDLE_SZ: EINVAL');
  t.equal(metaJobs.metaIntoJob(MetaOp.OpenHandle, mountFd, short, () => t.fail('a malformed post completed')), -EINVAL,
    'and it is refused at the post: nothing queued');
});
