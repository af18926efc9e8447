// LOOKUP and GETATTR on the worker pool, for a mount whose syscalls are slow (off-loop.ts): the
// syscalls run on a worker as the caller, the decisions (which inode, which node id, the export
// check) stay on the JS thread, before the post and after the completion.
//
// What may happen while the syscalls run, and why the answer is still right:
//  - The parent or the inode is forgotten (a FORGET, possibly hostile, or the session ending):
//    the worker uses its own dup of the fd, so nothing it uses is closed; the completion finds
//    the node id no longer live and answers ENOENT (the new fd of a lookup is closed).
//  - The session ends (DESTROY, a disconnect: releaseAll) and, on virtio-fs, a new one may start
//    on the same PassthroughFs: the root is live again under the same node id, so a lookup in it
//    completing late would hand the new session an inode with a lookup its guest never made
//    (one FORGET short for good). fs.generation tells: such a completion answers ENOENT.
//  - Another LOOKUP of the same name completes first: adopt() finds the inode by key, adds a
//    lookup and closes our fd: one inode, two lookups, as when they run inline.
//  - The name is renamed or unlinked on the host (or by another request): the worker's openat
//    sees the host before or after, and answers as the host does.
// A request's name lives in the inbox, valid only during its batch: it is copied before the post.
import { metaJobs, MetaOp } from '../native/meta-jobs';
import { sys } from '../native/sys';
import { Errno } from '../protocol/errno';
import { decodeStatx, HostStat } from './host-stat';
import type { Inode } from './inode';
import type { Entry, PassthroughFs, WireAttr } from './passthrough-fs';

const ENOSYS = -Errno.ENOSYS;

/** A completion runs from the pool's callback on the loop, where nothing above would catch a
 *  throw (a bug): it becomes EIO for the one request, like a throw in an inline handler. */
function settled<T>(fn: () => T | number): T | number {
  try {
    return fn();
  } catch {
    return -Errno.EIO;
  }
}

/** LOOKUP of name (neither "." nor "..") in parent on the pool; null when no pool runs (the
 *  caller then looks up inline). */
export function lookupOnPool(fs: PassthroughFs, parent: Inode, name: Uint8Array): Promise<Entry | number> | null {
  const parentId = parent.nodeid;
  const mnt = parent.mntId;
  const own = Uint8Array.from(name);
  const gen = fs.generation;
  const who = fs.creds.caller();
  let answer!: (e: Entry | number) => void;
  const p = new Promise<Entry | number>((resolve) => { answer = resolve; });
  const posted = fs.withFdInExport(parent, (pfd) => metaJobs.metaJob(MetaOp.Lookup, pfd, own, who.uid, who.gid, who.groups, (fd, stat, micros) => {
    fs.offLoop.ranOnPool(mnt, micros);
    answer(settled(() => lookedUp(fs, gen, parentId, own, fd, stat)));
  }));
  if (posted === ENOSYS) {
    fs.offLoop.noPool();
    return null;
  }
  return posted < 0 ? Promise.resolve(posted) : p;
}

function lookedUp(fs: PassthroughFs, gen: number, parentId: number, name: Uint8Array, fd: number, stat: Buffer | null): Entry | number {
  if (fd < 0 || stat === null) return fd < 0 ? fd : -Errno.EIO;
  const parent = fs.generation === gen ? fs.inode(parentId) : undefined;
  if (!parent) {
    sys.close(fd);
    return -Errno.ENOENT;
  }
  const r = fs.adopt(fd, parent, name, decodeStatx(stat));
  return typeof r === 'number' ? r : fs.entryOf(r.inode, r.st, parent);
}

/** GETATTR's statx on the pool; null when no pool runs. */
export function statOnPool(fs: PassthroughFs, inode: Inode): Promise<WireAttr | number> | null {
  const nodeid = inode.nodeid;
  const mnt = inode.mntId;
  const gen = fs.generation;
  let answer!: (a: WireAttr | number) => void;
  const p = new Promise<WireAttr | number>((resolve) => { answer = resolve; });
  // A statx of an fd needs no permission: it runs with the daemon's credentials.
  const posted = fs.withFd(inode, (fd) => metaJobs.metaJob(MetaOp.Stat, fd, null, -1, 0, null, (r, stat, micros) => {
    fs.offLoop.ranOnPool(mnt, micros);
    answer(settled(() => statted(fs, gen, nodeid, r, stat)));
  }));
  if (posted === ENOSYS) {
    fs.offLoop.noPool();
    return null;
  }
  return posted < 0 ? Promise.resolve(posted) : p;
}

function statted(fs: PassthroughFs, gen: number, nodeid: number, r: number, stat: Buffer | null): WireAttr | number {
  if (r < 0 || stat === null) return r < 0 ? r : -Errno.EIO;
  const inode = fs.generation === gen ? fs.inode(nodeid) : undefined;
  if (!inode) return -Errno.ENOENT;
  const st: HostStat = decodeStatx(stat);
  return fs.attrOf(st, inode);
}
