// Metadata operations on the worker pool, for a mount whose syscalls are slow (off-loop.ts):
// LOOKUP, GETATTR, OPEN and OPENDIR (the reopen), ACCESS, UNLINK, RMDIR, RENAME as the caller
// (MKDIR, MKNOD, SYMLINK, LINK, CREATE, TMPFILE: pool-creates.ts, on this file's onPool);
// READDIR's and READDIRPLUS's getdents64 (a directory stream's refill), READLINK, STATFS with the daemon's
// credentials (as inline: none of them checks the caller's permission). The decisions (names, the export check, which inode, which node id, the handle) stay on
// the JS thread, before the post and after the completion. An inode these need whose fd the
// budget took back is first opened from its file handle on the pool too (onPool's `uses`).
//
// What may happen while the syscalls run, and why the answer is still right:
//  - The inode (or the parent) is forgotten (a FORGET, possibly hostile, or the session ending):
//    the worker uses its own dup of the fd (a lock call, whose dup's close would be a flush: a
//    lease of the open file's fd, lock-ops.ts), so nothing it uses is closed; the completion finds
//    the node id no longer live and answers ENOENT (a new fd the job made is closed).
//  - The session ends (DESTROY, a disconnect: releaseAll) and, on virtio-fs, a new one may start
//    on the same PassthroughFs: the root is live again under the same node id, so a lookup in it
//    completing late would hand the new session an inode with a lookup its guest never made
//    (one FORGET short for good). fs.generation tells: such a completion answers ENOENT.
//  - Another LOOKUP of the same name completes first: adopt() finds the inode by key, adds a
//    lookup and closes our fd: one inode, two lookups, as when they run inline.
//  - The name is renamed or unlinked on the host (or by another request): the worker's openat
//    (unlinkat, renameat2) sees the host before or after, and answers as the host does.
//  - UNLINK, RMDIR, RENAME change nothing of ours (an unlinked name's inode stays until FORGET,
//    remove-ops.ts): their completion is the host's status alone, whatever the session is now.
//  - An inode is forgotten while its handle is opened for it (lentFds): the new fd is closed
//    and the answer is ENOENT; one that got its fd back meanwhile keeps that one, ours closed.
//    The handle is a copy (the inode's storage may be reused); a malformed one is refused by
//    the native post (EINVAL) before the kernel would read past it.
//  - A directory's handle is released (RELEASEDIR, the session ending) while its refill runs: the
//    worker reads through its own dup (the open file stays until the job ends, then closes); the
//    completion finds the handle gone and answers EBADF. A second READDIR of the handle meanwhile
//    waits for the refill (DirStream.filling): the stream's buffer and position have one user.
// A request's name lives in the inbox, valid only during its batch: it is copied before the post
// (the native post copies the names it takes; LOOKUP keeps its own for the completion).
import { metaJobs, MetaOp, type MetaDone } from '../native/meta-jobs';
import { sys } from '../native/sys';
import { Errno } from '../protocol/errno';
import { decodeStatx, type HostStat } from './host-stat';
import { INLINE_FILL } from './dir-stream';
import type { Inode } from './inode';
import type { DirHandle } from './handles';
import { reopenFlags, type Entry, type PassthroughFs, type WireAttr } from './passthrough-fs';

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

/**
 * Posts one meta job (post() calls metaJobs.metaJob with the callback it is given) and turns its
 * completion into a Promise of finish(result, stat). null when no pool runs: the caller then
 * does the work inline. A refused post (-errno) is the answer at once. post() may run after the
 * handler returned (below), when the transport has reused the request's buffer: the names and
 * values it passes must be copies of the caller's own (test/native/pool-deferred-bytes).
 * `uses`: the inodes whose fds post() takes (through fs.withFd). Those whose fd the budget took
 * back (or that are file handles only) are opened from their handles on the pool first
 * (handleFdOnPool), not by withFd on this thread. A post that waited for them must not decline
 * (return 0): nothing could run inline any more, so the make ops decide before (makeOnPool).
 */
export function onPool<T>(fs: PassthroughFs, mnt: number, post: (done: MetaDone) => number, finish: (r: number, stat: Buffer | null, gen: number, ioFd: number) => T | number, uses: readonly Inode[] = []): Promise<T | number> | null {
  const closed = uses.filter((i) => i.live && i.fd < 0);
  if (closed.length > 0) {
    const opening = closed.map((i) => handleFdOnPool(fs, i));
    if (opening.every((o) => o)) {
      const gen = fs.generation;
      return Promise.all(opening as Promise<number>[]).then((fds) => lentFds(fs, gen, closed, fds,
        // The pool ran the opens, so it takes the post (a null could only mean it stopped).
        () => onPool(fs, mnt, post, finish) ?? -Errno.EIO));
    }
    // An inode without a handle to open (withFd answers at once) or no pool (all inline).
    for (const o of opening) void o?.then((fd) => { if (fd >= 0) sys.close(fd); });
  }
  let answer!: (v: T | number) => void;
  const p = new Promise<T | number>((resolve) => { answer = resolve; });
  const gen = fs.generation;
  const posted = post((r, stat, micros, ioFd) => {
    fs.offLoop.ranOnPool(mnt, micros);
    answer(settled(() => finish(r, stat, gen, ioFd)));
  });
  if (posted === ENOSYS) {
    fs.offLoop.noPool();
    return null;
  }
  if (posted === 0) return null; // declined (metaMakeJob without per-worker umask): inline
  return posted < 0 ? Promise.resolve(posted) : p;
}

/**
 * Opens on the pool an inode whose fd the budget (inode-fd-ring.ts) took back, from its file
 * handle: open_by_handle_at reads the inode from the disk, or asks the server, when the host's
 * cache let it go, so on a slow mount it must not run on this thread. Settles to the new O_PATH
 * fd (the caller's), or -errno (ESTALE: the object is gone). null: no pool.
 */
function handleFdOnPool(fs: PassthroughFs, inode: Inode): Promise<number> | null {
  const h = fs.handleToOpen(inode);
  if (!h) return null;
  return retriedIfShort(fs, () => onPool<number>(fs, inode.mntId, (done) => metaJobs.metaIntoJob(MetaOp.OpenHandle, h.mountFd, h.handle, done), (fd) => fd));
}

/**
 * Runs a pooled open once more when it failed EMFILE/ENFILE and the fd budget gave fds back,
 * as retryShort does for an inline open: without it a full fd table under a slow mount would
 * answer the guest EMFILE where the same call inline succeeds. Only for jobs whose open is the
 * first thing they change (LOOKUP, the reopen, open_by_handle_at): the kernel takes the fd
 * number before it walks the path, so a failed try created, truncated or followed nothing.
 */
function retriedIfShort<T>(fs: PassthroughFs, attempt: () => Promise<T | number> | null): Promise<T | number> | null {
  const p = attempt();
  return p && p.then((r) => (typeof r === 'number' && fs.shedForShortage(r) ? (attempt() ?? r) : r));
}

/**
 * Gives each inode its fd opened on the pool, then runs post() (which takes them: a job dups
 * its fds when posted). An fd goes under the budget when it takes it; otherwise (no budget, as
 * with --inode-file-handles mandatory, or every budgeted fd borrowed right now) it is lent to
 * its inode for this post alone and closed after. An inode forgotten meanwhile (a FORGET, the
 * session ending) answers ENOENT; one that got its fd back from another request keeps that one.
 */
function lentFds<T>(fs: PassthroughFs, gen: number, inodes: Inode[], fds: number[], post: () => T | number): T | number {
  const err = fds.find((fd) => fd < 0);
  const gone = fs.generation !== gen || inodes.some((i) => !i.live);
  if (err !== undefined || gone) {
    for (const fd of fds) if (fd >= 0) sys.close(fd);
    return err ?? -Errno.ENOENT;
  }
  const lent: number[] = [];
  inodes.forEach((inode, k) => {
    if (inode.fd >= 0) sys.close(fds[k]);
    else if (!fs.inodes.budgetFd(inode, fds[k])) {
      inode.fd = fds[k];
      lent.push(k);
    }
  });
  try {
    return post();
  } finally {
    for (const k of lent) {
      inodes[k].fd = -1;
      sys.close(fds[k]);
    }
  }
}

/** The live inode of nodeid at a completion of a job posted in session `gen`, or null (a fd the
 *  job made is then closed). */
export function stillThere(fs: PassthroughFs, gen: number, nodeid: number, madeFd: number): Inode | null {
  const inode = fs.generation === gen ? fs.inode(nodeid) : undefined;
  if (!inode && madeFd >= 0) sys.close(madeFd);
  return inode ?? null;
}

/** LOOKUP of name (neither "." nor "..") in parent. */
export function lookupOnPool(fs: PassthroughFs, parent: Inode, name: Uint8Array): Promise<Entry | number> | null {
  const parentId = parent.nodeid;
  const own = Uint8Array.from(name);
  const who = fs.creds.caller();
  return retriedIfShort(fs, () => onPool(fs, parent.mntId,
    (done) => fs.withFdInExport(parent, (pfd) => metaJobs.metaJob(MetaOp.Lookup, pfd, -1, own, 0, who.uid, who.gid, who.groups, done)),
    (fd, stat, gen) => {
      if (fd < 0) return fd;
      const p = stillThere(fs, gen, parentId, fd);
      if (!p) return -Errno.ENOENT;
      const r = fs.adopt(fd, p, own, stat ? decodeStatx(stat) : undefined);
      return typeof r === 'number' ? r : fs.entryOf(r.inode, r.st, p);
    }, [parent]));
}

/** GETATTR's statx (an fd's statx needs no permission: the daemon's credentials). */
export function statOnPool(fs: PassthroughFs, inode: Inode): Promise<WireAttr | number> | null {
  return statxOnPool(fs, inode, (st, now) => fs.attrOf(st, now));
}

/** The inode's statx on the pool: then(st, inode) with the inode still live (STATX's answer,
 *  or GETATTR's through statOnPool). */
export function statxOnPool<T = { st: HostStat; inode: Inode }>(fs: PassthroughFs, inode: Inode,
  then: (st: HostStat, inode: Inode) => T = (st, now) => ({ st, inode: now }) as T): Promise<T | number> | null {
  const nodeid = inode.nodeid;
  return onPool(fs, inode.mntId,
    (done) => fs.withFd(inode, (fd) => metaJobs.metaJob(MetaOp.Stat, fd, -1, null, 0, -1, 0, null, done)),
    (r, stat, gen) => {
      if (r < 0 || !stat) return r < 0 ? r : -Errno.EIO;
      const now = stillThere(fs, gen, nodeid, -1);
      return now ? then(decodeStatx(stat), now) : -Errno.ENOENT;
    }, [inode]);
}

/**
 * PassthroughFs.reopen on the pool, as the caller: then(inode, fd) with the inode still live
 * and the new fd (owned by then) or the -errno the open failed with. `inExport`: only while the
 * inode is inside the export (OPENDIR, see withFdInExport).
 */
export function reopenOnPool<T>(fs: PassthroughFs, inode: Inode, flags: number, inExport: boolean, then: (inode: Inode, fd: number) => T | number): Promise<T | number> | null {
  const nodeid = inode.nodeid;
  const who = fs.creds.caller();
  const f = reopenFlags(flags);
  const post = (done: MetaDone) => (fd: number) => metaJobs.metaJob(MetaOp.Reopen, fd, fs.procSelfFd, null, f, who.uid, who.gid, who.groups, done);
  return retriedIfShort(fs, () => onPool(fs, inode.mntId,
    (done) => (inExport ? fs.withFdInExport(inode, post(done)) : fs.withFd(inode, post(done))),
    (fd, _stat, gen) => {
      const now = stillThere(fs, gen, nodeid, fd);
      if (!now) return fd < 0 ? fd : -Errno.ENOENT;
      return then(now, fd);
    }, [inode]));
}

/** ACCESS's faccessat as the caller. */
export function accessOnPool(fs: PassthroughFs, inode: Inode, mask: number): Promise<number> | null {
  const who = fs.creds.caller();
  return onPool(fs, inode.mntId,
    (done) => fs.withFd(inode, (fd) => metaJobs.metaJob(MetaOp.Access, fd, fs.procSelfFd, null, mask, who.uid, who.gid, who.groups, done)),
    (r) => r, [inode]);
}

/** UNLINK's (flags 0) or RMDIR's (AT_REMOVEDIR) unlinkat of name in parent, as the caller. */
export function unlinkOnPool(fs: PassthroughFs, parent: Inode, name: Uint8Array, flags: number): Promise<number> | null {
  const who = fs.creds.caller();
  const own = Uint8Array.from(name); // the post may wait for the parent's open (onPool)
  return onPool(fs, parent.mntId,
    (done) => fs.withFdInExport(parent, (pfd) => metaJobs.metaJob(MetaOp.Unlink, pfd, -1, own, flags, who.uid, who.gid, who.groups, done)),
    (r) => r, [parent]);
}

/** RENAME's renameat2 of name in parent to newName in newParent, as the caller. */
export function renameOnPool(fs: PassthroughFs, parent: Inode, name: Uint8Array, newParent: Inode, newName: Uint8Array, flags: number): Promise<number> | null {
  const who = fs.creds.caller();
  const own = Uint8Array.from(name); // the post may wait for the parents' opens (onPool)
  const ownNew = Uint8Array.from(newName);
  return onPool(fs, parent.mntId,
    (done) => fs.withFdInExport(parent, (pfd) => fs.withFdInExport(newParent, (npfd) =>
      metaJobs.metaJob(MetaOp.Rename, pfd, npfd, own, flags, who.uid, who.gid, who.groups, done, ownNew))),
    (r) => r, parent === newParent ? [parent] : [parent, newParent]);
}

/**
 * Refills directory handle fh's stream (its buffer is consumed) with one getdents64 on the pool.
 * Settles to null (refilled: the READDIR runs again from the buffer) or -errno (its answer).
 */
export function refillOnPool(fs: PassthroughFs, fh: number, h: DirHandle): Promise<number | null> | null {
  const s = h.stream;
  let queued = false;
  const p = onPool<null>(fs, h.inode.mntId,
    (done) => {
      // Judged (off-loop.ts) by what an inline fill would have cost: the time scaled to
      // INLINE_FILL bytes. A fast filesystem's 64 KiB fill of a large directory takes as long
      // as a slow one's small fill; unscaled, it would keep a fast mount on the pool forever.
      const r = metaJobs.metaIntoJob(MetaOp.Getdents, s.fd, s.buf,
        (n, stat, micros, ioFd) => done(n, stat, n > INLINE_FILL ? micros * INLINE_FILL / n : micros, ioFd));
      queued = r === 1;
      return r;
    },
    (n, _stat, gen) => {
      s.filling = null;
      if (fs.generation !== gen || fs.handles.dir(fh) !== h) return -Errno.EBADF;
      if (n < 0) return n;
      s.refilled(n);
      return null;
    });
  if (p && queued) s.filling = p;
  return p;
}

/** READLINK's readlinkat: the target's bytes (up to max). */
export function readlinkOnPool(fs: PassthroughFs, inode: Inode, max: number): Promise<Buffer | number> | null {
  const out = Buffer.allocUnsafeSlow(max);
  return onPool(fs, inode.mntId,
    (done) => fs.withFd(inode, (fd) => metaJobs.metaIntoJob(MetaOp.Readlink, fd, out, done)),
    (n) => (n < 0 ? n : out.subarray(0, n)), [inode]);
}

/** STATFS's fstatfs: sys.fstatfs's ten numbers. */
export function statfsOnPool(fs: PassthroughFs, inode: Inode): Promise<Float64Array | number> | null {
  const v = new Float64Array(10);
  return onPool(fs, inode.mntId,
    (done) => fs.withFd(inode, (fd) => metaJobs.metaIntoJob(MetaOp.Statfs, fd, new Uint8Array(v.buffer), done)),
    (r) => (r < 0 ? r : v), [inode]);
}
