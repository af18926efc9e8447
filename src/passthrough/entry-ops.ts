// Operations that answer with an entry (a looked-up inode): LOOKUP, MKNOD, MKDIR, SYMLINK, LINK,
// CREATE and TMPFILE. Every name is checked before it reaches a syscall (names.ts), every child is
// opened O_NOFOLLOW relative to its parent's fd, and creation runs as the caller (the server has
// switched credentials), so the new object belongs to the caller and the host kernel decides.
import { C, sys } from '../native/sys';
import { Errno } from '../protocol/errno';
import { checkName, checkNewName, isDot, isDotDot } from './names';
import { lookupOnPool } from './pool-ops';
import { createdOnPool, madeOnPool, type MakeArgs } from './pool-creates';
import { MetaOp } from '../native/meta-jobs';
import type { Later } from '../server/file-system';
import type { Entry, PassthroughFs } from './passthrough-fs';
import type { Inode } from './inode';
import { hostOpenFlags, openFileHandle, OpenResult } from './file-ops';
import { isDir, isReg, isSymlink, statFd } from './host-stat';
import { securityLabelName, setSecurityLabel } from './xattr-ops';
import type { SecCtx } from '../protocol/request';

const PATH_MAX = 4096;

/**
 * Runs a creating syscall under the caller's umask, which the request carries. Under POSIX_ACL
 * (with DONT_MASK) the kernel sends the mode unmasked and the host must decide as it would
 * natively: a directory's default ACL replaces the umask, otherwise the umask applies. Without
 * it the kernel masked the mode already and masking again changes nothing. Either way the
 * daemon's own umask (inherited, typically 022) never applies: that would mask what the caller
 * asked for a second time. The umask is per process: set and restored around the one syscall
 * (creating calls run on the serving thread; a hostile client's umask only removes bits). When
 * the caller's umask is the daemon's own (022 on both sides, the usual case) the two umask
 * calls would change nothing and are skipped. Nothing else in the process sets the umask, so
 * the daemon's own, learnt at the first switch, stays what it is.
 */
let ownUmask = -1;

function underUmask(umask: number, make: () => number): number {
  const want = umask & 0o777;
  if (want === ownUmask) return make();
  const own = sys.umask(want);
  ownUmask = own;
  try {
    return make();
  } finally {
    sys.umask(own);
  }
}

/** The security label a creating request carried (FUSE_SECURITY_CTX on), or null: none sent,
 *  or the feature is off. */
export type Label = SecCtx | null;

/**
 * Labels what a creating syscall (result `made`) just made at pfd/name, before anyone is told it
 * exists. It is reached by an O_PATH fd (a device node or FIFO must not be opened for I/O) and
 * its /proc/self/fd name, which names exactly that object (a symlink stays the symlink). If the
 * label cannot be set, the object is removed again and the creation fails with that errno, as
 * in virtiofsd: nothing stays behind without the label the guest's LSM gave it.
 */
function labelledAt(fs: PassthroughFs, pfd: number, name: Uint8Array, label: Label, removeFlags: number, made: number): number {
  if (made < 0 || label === null) return made;
  const pathFd = sys.openat(pfd, name, C.O_PATH | C.O_NOFOLLOW | C.O_CLOEXEC, 0);
  const r = pathFd < 0 ? pathFd : setSecurityLabel(fs, label.name, label.value, (host) => sys.setxattr(fs.procPath(pathFd), host, label.value, 0, false));
  if (pathFd >= 0) sys.close(pathFd);
  if (r < 0) fs.creds.privileged(() => sys.unlinkat(pfd, name, removeFlags));
  return r < 0 ? r : made;
}

/** The same for a file created open (CREATE, TMPFILE): labelled through its fd; on failure the
 *  fd is closed and `remove` (as the daemon) unlinks the name (TMPFILE has none to unlink). */
function labelledFd(fs: PassthroughFs, fd: number, label: Label, remove: (() => number) | null): number {
  if (fd < 0 || label === null) return fd;
  const r = setSecurityLabel(fs, label.name, label.value, (host) => sys.fsetxattr(fd, host, label.value, 0));
  if (r >= 0) return fd;
  sys.close(fd);
  if (remove) fs.creds.privileged(remove);
  return r;
}

/** A label as a pooled make takes it (its host name checked), null for none, or the errno the
 *  label is refused with: then nothing is made (inline would make and remove it again). */
function poolLabel(fs: PassthroughFs, label: Label): { host: Uint8Array; value: Uint8Array } | null | number {
  if (label === null) return null;
  const host = securityLabelName(fs, label.name);
  return typeof host === 'number' ? host : { host: Uint8Array.from(host), value: Uint8Array.from(label.value) };
}

/** Looks `name` up in `parent` and answers with its entry. */
function entryAt(fs: PassthroughFs, parent: Inode, name: Uint8Array): Entry | number {
  const r = fs.lookupChild(parent, name);
  if (typeof r === 'number') return r;
  return fs.entryOf(r.inode, r.st, parent);
}

/** LOOKUP. On a mount whose syscalls are slow (off-loop.ts) it completes later, on the pool. */
export function lookup(fs: PassthroughFs, parentId: number, name: Uint8Array): Entry | number | Promise<Entry | number> {
  const parent = fs.known(parentId);
  if (typeof parent === 'number') return parent;
  const bad = checkName(name);
  if (bad < 0) return bad;
  const mnt = parent.mntId;
  if (fs.offLoop.wants(mnt) && !isDot(name) && !isDotDot(name)) {
    const later = lookupOnPool(fs, parent, name);
    if (later) return later;
  }
  return fs.offLoop.timed(mnt, () => entryAt(fs, parent, name));
}

/**
 * Runs `make(parentFd)` as the creating syscall, then looks the new name up. `pooled`: on a slow
 * mount the same make runs on the worker pool instead (pool-creates.ts), labelled there when the
 * request carries a security label (`label`).
 */
function createThen(fs: PassthroughFs, parentId: number, name: Uint8Array, make: (pfd: number) => number, pooled: MakeArgs, label: Label = null): Later<Entry | number> {
  const parent = fs.known(parentId);
  if (typeof parent === 'number') return parent;
  const bad = checkNewName(name);
  if (bad < 0) return bad;
  if (fs.offLoop.wants(parent.mntId)) {
    const l = poolLabel(fs, label);
    if (typeof l === 'number') return l;
    const later = madeOnPool(fs, parent, name, { ...pooled, label: l });
    if (later) return later;
  }
  // One containment check for both the creating call and the lookup of what it made.
  const r = fs.offLoop.timed(parent.mntId, () => fs.withFdInExport(parent, (pfd) => {
    const made = make(pfd);
    return made < 0 ? made : fs.lookupIn(parent, pfd, name, true);
  }));
  if (typeof r === 'number') return r;
  return fs.entryOf(r.inode, r.st, parent);
}

export function mknod(fs: PassthroughFs, parentId: number, name: Uint8Array, mode: number, rdevMajor: number, rdevMinor: number, umask = 0, label: Label = null): Later<Entry | number> {
  return createThen(fs, parentId, name, (pfd) => labelledAt(fs, pfd, name, label, 0, underUmask(umask, () => sys.mknodat(pfd, name, mode, rdevMajor, rdevMinor))),
    { op: MetaOp.Mknod, mode, umask, rdevMajor, rdevMinor }, label);
}

export function mkdir(fs: PassthroughFs, parentId: number, name: Uint8Array, mode: number, umask = 0, label: Label = null): Later<Entry | number> {
  return createThen(fs, parentId, name, (pfd) => labelledAt(fs, pfd, name, label, C.AT_REMOVEDIR, underUmask(umask, () => sys.mkdirat(pfd, name, mode & 0o7777))),
    { op: MetaOp.Mkdir, mode: mode & 0o7777, umask }, label);
}

export function symlink(fs: PassthroughFs, parentId: number, name: Uint8Array, target: Uint8Array, label: Label = null): Later<Entry | number> {
  // The target is stored, never followed by us; it may say anything but must fit a path.
  if (target.length === 0) return -Errno.ENOENT;
  if (target.length >= PATH_MAX) return -Errno.ENAMETOOLONG;
  if (target.indexOf(0) >= 0) return -Errno.EINVAL;
  // umask: symlinkat makes mode 0777 whatever it is; the worker's is set all the same.
  return createThen(fs, parentId, name, (pfd) => labelledAt(fs, pfd, name, label, 0, sys.symlinkat(target, pfd, name)),
    { op: MetaOp.Symlink, mode: 0, umask: 0, target }, label);
}

export function link(fs: PassthroughFs, nodeid: number, newParentId: number, newName: Uint8Array): Later<Entry | number> {
  const inode = fs.known(nodeid);
  if (typeof inode === 'number') return inode;
  // linkat(AT_EMPTY_PATH) would need CAP_DAC_READ_SEARCH, which the caller's credentials lack;
  // following the /proc/self/fd magic link reaches the same inode without it.
  return createThen(fs, newParentId, newName, (pfd) =>
    // The source must still be inside the export too: a file the host moved out after the client
    // looked it up must not get a new name inside (a hard link to an outside file).
    fs.withFdInExport(inode, (fd) => sys.linkat(fs.procSelfFd, fs.procName(fd), pfd, newName, C.AT_SYMLINK_FOLLOW)),
  { op: MetaOp.Link, mode: 0, umask: 0, source: inode });
}

export interface CreateResult {
  entry: Entry;
  open: OpenResult;
}

/** Turns an fd opened for I/O into a looked-up inode (via an O_PATH reopen) plus a file handle. */
function adoptOpened(fs: PassthroughFs, parent: Inode, fd: number, flags: number): CreateResult | number {
  const pathFd = sys.openat(fs.procSelfFd, fs.procName(fd), C.O_PATH, 0);
  if (pathFd < 0) {
    sys.close(fd);
    return pathFd;
  }
  const r = fs.adopt(pathFd, parent, null);
  if (typeof r === 'number') {
    sys.close(fd);
    return r;
  }
  return { entry: fs.entryOf(r.inode, r.st, parent), open: openFileHandle(fs, r.inode, fd, flags) };
}

export function create(fs: PassthroughFs, parentId: number, name: Uint8Array, flags: number, mode: number, umask = 0, label: Label = null): Later<CreateResult | number> {
  const parent = fs.known(parentId);
  if (typeof parent === 'number') return parent;
  const bad = checkNewName(name);
  if (bad < 0) return bad;
  // O_NOFOLLOW: an existing symlink at `name` is never followed out of the export. O_EXCL: an
  // existing name is never opened by this call, because it may be a FIFO (the open would block
  // the whole server) or a device node (we would hand the client the host's device).
  flags &= ~C.O_PATH; // see file-ops STRIP: O_PATH would ignore O_CREAT|O_EXCL and open what exists
  const hostFlags = hostOpenFlags(fs, flags);
  const openFlags = (hostFlags | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW | C.O_CLOEXEC) & ~C.O_NOCTTY;
  const existing = (n: Uint8Array) => {
    const fd = fs.withFdInExport(parent, (pfd) => openExisting(fs, pfd, n, hostFlags));
    return fd < 0 ? fd : adoptOpened(fs, parent, fd, flags);
  };
  const mnt = parent.mntId;
  if (fs.offLoop.wants(mnt)) {
    const l = poolLabel(fs, label);
    if (typeof l === 'number') return l;
    const later = createdOnPool(fs, parent, name, { op: MetaOp.Create, mode: mode & 0o7777, umask, openFlags, label: l }, flags,
      flags & C.O_EXCL ? null : existing);
    if (later) return later;
  }
  return fs.offLoop.timed(mnt, () => {
    // Only a file this call made gets the label; an existing one opened below keeps its own.
    const fd = fs.withFdInExport(parent, (pfd) =>
      labelledFd(fs, underUmask(umask, () => sys.openat(pfd, name, openFlags, mode & 0o7777)), label, () => sys.unlinkat(pfd, name, 0)));
    if (fd === -Errno.EEXIST && !(flags & C.O_EXCL)) return existing(name);
    if (fd < 0) return fd;
    return adoptOpened(fs, parent, fd, flags);
  });
}

/** CREATE without O_EXCL of a name that exists: open it as OPEN would, regular files only. The
 *  O_PATH fd pins the object we checked, so a swap on the host cannot change what is opened. */
function openExisting(fs: PassthroughFs, pfd: number, name: Uint8Array, flags: number): number {
  const pathFd = sys.openat(pfd, name, C.O_PATH | C.O_NOFOLLOW, 0);
  if (pathFd < 0) return pathFd;
  try {
    const st = statFd(pathFd);
    if (typeof st === 'number') return st;
    if (isSymlink(st.mode)) return -Errno.ELOOP;
    if (isDir(st.mode)) return -Errno.EISDIR;
    if (!isReg(st.mode)) return -Errno.EACCES;
    return sys.openat(fs.procSelfFd, fs.procName(pathFd), (flags & ~(C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW | C.O_NOCTTY)) | C.O_CLOEXEC, 0);
  } finally {
    sys.close(pathFd);
  }
}

/** TMPFILE: an unnamed file in the parent (O_TMPFILE, which needs write access: a read-only
 *  open is made read-write). On a slow mount the open runs on the pool as a CREATE of ".". */
export function tmpfile(fs: PassthroughFs, parentId: number, flags: number, mode: number, umask = 0, label: Label = null): Later<CreateResult | number> {
  const parent = fs.known(parentId);
  if (typeof parent === 'number') return parent;
  let openFlags = ((flags & ~(C.O_CREAT | C.O_EXCL | C.O_NOCTTY | C.O_PATH)) | C.O_TMPFILE | C.O_CLOEXEC);
  if ((openFlags & C.O_ACCMODE) === C.O_RDONLY) openFlags |= C.O_RDWR;
  if (fs.offLoop.wants(parent.mntId)) {
    const l = poolLabel(fs, label);
    if (typeof l === 'number') return l;
    const later = createdOnPool(fs, parent, DOT, { op: MetaOp.Create, mode: mode & 0o7777, umask, openFlags, label: l }, flags, null);
    if (later) return later;
  }
  return fs.offLoop.timed(parent.mntId, () => {
    const fd = fs.withFdInExport(parent, (pfd) => labelledFd(fs, underUmask(umask, () => sys.openat(pfd, '.', openFlags, mode & 0o7777)), label, null));
    return fd < 0 ? fd : adoptOpened(fs, parent, fd, flags);
  });
}

const DOT = new TextEncoder().encode('.');
