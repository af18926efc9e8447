// GETATTR, SETATTR, READLINK, STATFS, ACCESS and STATX: reading and changing what an inode is.
// Changes go through the inode's own fd (or its /proc/self/fd name), so a path the host renamed
// meanwhile can never redirect them to another file.
import { C, sys } from '../native/sys';
import { Errno } from '../protocol/errno';
import type { PassthroughFs, WireAttr } from './passthrough-fs';
import type { Inode } from './inode';
import { HostStat, isSymlink, statFd } from './host-stat';
import { exact } from './file-ops';
import { FORBIDDEN } from '../policy/id-map';

export const FATTR = {
  MODE: 1 << 0, UID: 1 << 1, GID: 1 << 2, SIZE: 1 << 3, ATIME: 1 << 4, MTIME: 1 << 5, FH: 1 << 6,
  ATIME_NOW: 1 << 7, MTIME_NOW: 1 << 8, LOCKOWNER: 1 << 9, CTIME: 1 << 10, KILL_SUIDGID: 1 << 11,
} as const;

export interface SetattrIn {
  valid: number;
  fh: number;
  size: number;
  atime: number; mtime: number; atimensec: number; mtimensec: number;
  mode: number; uid: number; gid: number;
}

function statOf(fs: PassthroughFs, inode: Inode): HostStat | number {
  return fs.withFd(inode, (fd) => statFd(fd));
}

export function getattr(fs: PassthroughFs, nodeid: number): WireAttr | number {
  const inode = fs.known(nodeid);
  if (typeof inode === 'number') return inode;
  const st = statOf(fs, inode);
  return typeof st === 'number' ? st : fs.attrOf(st, inode);
}

export function setattr(fs: PassthroughFs, nodeid: number, a: SetattrIn): WireAttr | number {
  const inode = fs.known(nodeid);
  if (typeof inode === 'number') return inode;
  // 64-bit size and times past 2^53 are not exact as JS numbers (and may not fit the native
  // int64 arguments at all): refused rather than rounded.
  if ((a.valid & FATTR.SIZE && !exact(a.size)) || (a.valid & FATTR.ATIME && !exact(a.atime)) || (a.valid & FATTR.MTIME && !exact(a.mtime))) {
    return -Errno.EINVAL;
  }
  const h = a.valid & FATTR.FH ? fs.handles.file(a.fh) : undefined;
  if (a.valid & FATTR.FH && !h) return -Errno.EBADF;
  // chown targets are guest ids (--translate-*): translated before anything changes, so a
  // forbidden one refuses the whole request rather than leaving the mode changed and the owner
  // not. (uid_t)-1 is in no rule's range: it still means "leave unchanged".
  let uid = a.valid & FATTR.UID ? a.uid : -1;
  let gid = a.valid & FATTR.GID ? a.gid : -1;
  const ids = fs.config.ids;
  if (ids && a.valid & FATTR.UID && (uid = ids.uid.toHost(a.uid)) === FORBIDDEN) return -Errno.EPERM;
  if (ids && a.valid & FATTR.GID && (gid = ids.gid.toHost(a.gid)) === FORBIDDEN) return -Errno.EPERM;
  const r = fs.withFd(inode, (fd) => {
    const proc = fs.procName(fd);
    if (a.valid & FATTR.MODE) {
      const e = h ? sys.fchmod(h.fd, a.mode & 0o7777) : sys.fchmodat(fs.procSelfFd, proc, a.mode & 0o7777, 0);
      if (e < 0) return e;
    }
    if (a.valid & (FATTR.UID | FATTR.GID)) {
      const e = sys.fchownat(fd, '', uid, gid, C.AT_EMPTY_PATH | C.AT_SYMLINK_NOFOLLOW);
      if (e < 0) return e;
    }
    if (a.valid & FATTR.SIZE) {
      const e = h ? sys.ftruncate(h.fd, a.size) : truncateByProc(fs, inode, fd, a.size);
      if (e < 0) return e;
    }
    if (a.valid & (FATTR.ATIME | FATTR.MTIME | FATTR.ATIME_NOW | FATTR.MTIME_NOW)) {
      const [as, an] = timeArg(a.valid, FATTR.ATIME, FATTR.ATIME_NOW, a.atime, a.atimensec);
      const [ms, mn] = timeArg(a.valid, FATTR.MTIME, FATTR.MTIME_NOW, a.mtime, a.mtimensec);
      const e = sys.utimensat(fd, '', as, an, ms, mn, C.AT_EMPTY_PATH | C.AT_SYMLINK_NOFOLLOW);
      if (e < 0) return e;
    }
    return 0;
  });
  if (r < 0) return r;
  return getattr(fs, nodeid);
}

function truncateByProc(fs: PassthroughFs, inode: Inode, fd: number, size: number): number {
  if (isSymlink(inode.mode)) return -Errno.EINVAL;
  return sys.truncate(fs.procPath(fd), size);
}

function timeArg(valid: number, setBit: number, nowBit: number, sec: number, nsec: number): [number, number] {
  if (valid & nowBit) return [0, C.UTIME_NOW];
  if (valid & setBit) return [sec, nsec];
  return [0, C.UTIME_OMIT];
}

export function readlink(fs: PassthroughFs, nodeid: number, out: Buffer): number {
  const inode = fs.known(nodeid);
  if (typeof inode === 'number') return inode;
  if (!isSymlink(inode.mode)) return -Errno.EINVAL;
  return fs.withFd(inode, (fd) => sys.readlinkat(fd, '', out));
}

/** [bsize, blocks, bfree, bavail, files, ffree, namelen, frsize] of the inode's filesystem. */
export function statfs(fs: PassthroughFs, nodeid: number, out: Float64Array): number {
  const inode = fs.known(nodeid);
  if (typeof inode === 'number') return inode;
  return fs.withFd(inode, (fd) => sys.fstatfs(fd, out));
}

export function access(fs: PassthroughFs, nodeid: number, mask: number): number {
  const inode = fs.known(nodeid);
  if (typeof inode === 'number') return inode;
  // AT_EACCESS: checked with the caller's (fs) ids we switched to, not the daemon's real ones.
  return fs.withFd(inode, (fd) => sys.faccessat(fs.procSelfFd, fs.procName(fd), mask, C.AT_EACCESS));
}

export function statx(fs: PassthroughFs, nodeid: number): { st: HostStat; inode: Inode } | number {
  const inode = fs.known(nodeid);
  if (typeof inode === 'number') return inode;
  const st = statOf(fs, inode);
  return typeof st === 'number' ? st : { st, inode };
}
