// MKDIR, MKNOD, SYMLINK, LINK and CREATE of a slow mount on the worker pool (off-loop.ts): the
// creating syscall runs on a worker as the caller, under the request's umask (each worker has
// its own: native/worker_pool.cc unshares CLONE_FS), and the worker also opens what it made
// O_PATH and statx'es it, so nothing of the make-and-look-up touches the slow source on the JS
// thread. The decisions stay here: the names were checked and the parent found inside the export
// before the post; the completion turns the new fd into an inode (adopt, by key: a LOOKUP of the
// same name completing first gives one inode with two lookups) and, for CREATE, a file handle.
//
// What may happen meanwhile, beyond pool-ops.ts's list:
//  - The parent is forgotten or the session ends before the completion: the object was made on
//    the host (as it would be for a client that vanished after asking), the new fds are closed
//    and the answer is ENOENT.
//  - A CREATE without O_EXCL finds the name taken (made by the host, or by another client, after
//    the kernel's LOOKUP said it was free): EEXIST comes back and the existing file is opened
//    inline, as OPEN of it would (entry-ops.ts openExisting). Rare: the kernel sends CREATE only
//    for a name it just found missing.
// A request labelled by the guest's LSM (FUSE_SECURITY_CTX) gets its label on the worker, right
// after the make and before the completion (so before anyone is told the object exists), with
// the daemon's credentials; if the host refuses it, the worker removes the object again and the
// make fails with that errno, as inline (entry-ops.ts).
import { metaJobs, MetaOp, type MetaDone } from '../native/meta-jobs';
import { sys } from '../native/sys';
import { workerPool } from '../native/worker-pool';
import { Errno } from '../protocol/errno';
import { decodeStatx } from './host-stat';
import type { Inode } from './inode';
import type { Entry, PassthroughFs } from './passthrough-fs';
import { onPool, stillThere } from './pool-ops';
import { openFileHandle, type OpenResult } from './file-ops';

/** What a pooled make needs besides the parent and the name. */
export interface MakeArgs {
  op: typeof MetaOp.Mkdir | typeof MetaOp.Mknod | typeof MetaOp.Symlink | typeof MetaOp.Create | typeof MetaOp.Link;
  mode: number;
  umask: number;
  rdevMajor?: number;
  rdevMinor?: number;
  target?: Uint8Array;
  /** CREATE's host open flags (O_CREAT|O_EXCL|O_NOFOLLOW included) */
  openFlags?: number;
  /** LINK's source (checked inside the export when posted, as inline) */
  source?: Inode;
  /** the security label to set on what is made (its host xattr name, checked), or none */
  label?: { host: Uint8Array; value: Uint8Array } | null;
}

/** Posts the make of `own`, the caller's copy of the name (the completion runs when the
 *  request's buffer holds other requests); then(parent, pathFd, stat, ioFd) at its completion,
 *  with the parent still live; a failure's -errno is the answer, and the fds are closed when the
 *  parent is gone. null: the make runs inline, decided before anything is posted, because the
 *  post may wait for the parent's (and LINK's source's) open from its handle on the pool
 *  (onPool's `uses`: with --inode-file-handles mandatory or prefer that is every make, the
 *  preceding LOOKUP's fd having been lent for it alone), and after that wait nothing could
 *  run inline any more. */
function makeOnPool<T>(fs: PassthroughFs, parent: Inode, own: Uint8Array, a: MakeArgs,
  then: (parent: Inode, fd: number, stat: Buffer, ioFd: number) => T | number): Promise<T | number> | null {
  if (!workerPool.workerPoolRunsMakes()) return null; // the workers share one umask: inline
  const parentId = parent.nodeid;
  const target = a.target ? Uint8Array.from(a.target) : null;
  const who = fs.creds.caller();
  const label = a.label;
  const post = (done: MetaDone, pfd: number, fd2: number) => metaJobs.metaMakeJob(a.op, pfd, fd2, own, target, a.mode,
    a.rdevMajor ?? 0, a.rdevMinor ?? 0, a.umask, a.openFlags ?? 0, who.uid, who.gid, who.groups, done,
    label ? label.host : null, label ? label.value : undefined);
  const source = a.source;
  return onPool(fs, parent.mntId,
    (done) => fs.withFdInExport(parent, (pfd) => (source
      ? fs.withFdInExport(source, (sfd) => post(done, pfd, sfd))
      : post(done, pfd, fs.procSelfFd))),
    (fd, stat, gen, ioFd) => {
      if (fd < 0) return fd;
      const p = stillThere(fs, gen, parentId, fd);
      if (!p || !stat) {
        if (ioFd >= 0) sys.close(ioFd);
        if (p) sys.close(fd);
        return p ? -Errno.EIO : -Errno.ENOENT;
      }
      return then(p, fd, stat, ioFd);
    }, source && source !== parent ? [parent, source] : [parent]);
}

/** MKDIR, MKNOD, SYMLINK or LINK on the pool: the new object's entry (LINK's: the source's
 *  inode, found by key, with one more lookup). */
export function madeOnPool(fs: PassthroughFs, parent: Inode, name: Uint8Array, a: MakeArgs): Promise<Entry | number> | null {
  const own = Uint8Array.from(name);
  return makeOnPool(fs, parent, own, a, (p, fd, stat) => {
    const r = fs.adopt(fd, p, own, decodeStatx(stat));
    return typeof r === 'number' ? r : fs.entryOf(r.inode, r.st, p);
  });
}

/** CREATE on the pool: the new file's entry and its open handle. `existing(name)`: opens the
 *  name (the job's copy) inline when the create found it taken and O_EXCL was not asked. */
export function createdOnPool(fs: PassthroughFs, parent: Inode, name: Uint8Array, a: MakeArgs, flags: number,
  existing: ((name: Uint8Array) => { entry: Entry; open: OpenResult } | number) | null): Promise<{ entry: Entry; open: OpenResult } | number> | null {
  const own = Uint8Array.from(name);
  const p = makeOnPool(fs, parent, own, a, (pp, fd, stat, ioFd) => {
    const r = fs.adopt(fd, pp, null, decodeStatx(stat));
    if (typeof r === 'number') {
      sys.close(ioFd);
      return r;
    }
    return { entry: fs.entryOf(r.inode, r.st, pp), open: openFileHandle(fs, r.inode, ioFd, flags) };
  });
  if (!p || !existing) return p;
  return p.then((r) => (r === -Errno.EEXIST ? existing(own) : r));
}
