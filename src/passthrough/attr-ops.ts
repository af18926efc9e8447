// GETATTR, SETATTR, READLINK, STATFS, ACCESS and STATX: reading and changing what an inode is.
// Changes go through the inode's own fd (or its /proc/self/fd name), so a path the host renamed
// meanwhile can never redirect them to another file.
import { C, sys } from '../native/sys';
import { Errno } from '../protocol/errno';
import type { PassthroughFs, WireAttr } from './passthrough-fs';
import type { Inode } from './inode';
import { HostStat, isReg, isSymlink, statFd } from './host-stat';
import { exact } from './file-ops';
import { FORBIDDEN } from '../policy/id-map';
import { accessOnPool, readlinkOnPool, statfsOnPool, statOnPool } from './pool-ops';
import type { Later } from '../server/file-system';

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

/** GETATTR. On a mount whose syscalls are slow (off-loop.ts) it completes later, on the pool. */
export function getattr(fs: PassthroughFs, nodeid: number): WireAttr | number | Promise<WireAttr | number> {
  const inode = fs.known(nodeid);
  if (typeof inode === 'number') return inode;
  const mnt = inode.mntId;
  if (fs.offLoop.wants(mnt)) {
    const later = statOnPool(fs, inode);
    if (later) return later;
  }
  const st = fs.offLoop.timed(mnt, () => statOf(fs, inode));
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
    const chmod = (mode: number) => (h ? sys.fchmod(h.fd, mode) : sys.fchmodat(fs.procSelfFd, proc, mode, 0));
    if (a.valid & FATTR.MODE) {
      let e = chmod(a.mode & 0o7777);
      // Without HANDLE_KILLPRIV_V2 the kernel clears setuid/setgid after a write or truncate
      // with a SETATTR of the mode, sent as the writer, who may not chmod (not the owner). The
      // host lets such a writer clear exactly those bits: so do we, with our own rights, when
      // the request asks for nothing else and the caller may write the file.
      if (e === -Errno.EPERM && isPrivilegeKill(fd, a.mode & 0o7777) && mayWrite(fs, proc)) {
        e = fs.creds.privileged(() => chmod(a.mode & 0o7777));
      }
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
    // HANDLE_KILLPRIV_V2: the kernel asks us to clear them (a truncate by a caller without
    // CAP_FSETID). The host's truncate as that caller usually did already; a caller we serve with
    // our own rights (uid 0 without CAP_FSETID) would keep them, so they are cleared here.
    if (a.valid & FATTR.KILL_SUIDGID && !(a.valid & FATTR.MODE)) {
      const st = statFd(fd);
      if (typeof st === 'number') return st;
      const kill = killedBits(st.mode);
      if (kill && isReg(st.mode)) {
        const e = fs.creds.privileged(() => chmod(st.mode & 0o7777 & ~kill));
        if (e < 0) return e;
      }
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
  // The attributes after the change, inline: the change itself just ran inline.
  const st = statOf(fs, inode);
  return typeof st === 'number' ? st : fs.attrOf(st, inode);
}

const { S_ISUID, S_ISGID } = C;
const S_IXGRP = 0o010;
const W_OK = 2;

/** What a write by an unprivileged caller clears (the kernel's should_remove_suid): setuid
 *  always, setgid only with group execute (without it, setgid marks mandatory locking). */
function killedBits(mode: number): number {
  return (mode & S_ISUID) | ((mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP) ? S_ISGID : 0);
}

/** The requested mode is the current one with exactly the bits a write clears taken away. */
function isPrivilegeKill(fd: number, mode: number): boolean {
  const st = statFd(fd);
  if (typeof st === 'number' || !isReg(st.mode)) return false;
  const kill = killedBits(st.mode);
  return kill !== 0 && mode === (st.mode & 0o7777 & ~kill);
}

/** Whether the caller (whose ids the thread has) may write the object (AT_EACCESS). */
function mayWrite(fs: PassthroughFs, proc: string): boolean {
  return sys.faccessat(fs.procSelfFd, proc, W_OK, C.AT_EACCESS) === 0;
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

/** READLINK into out: its length. On a mount whose syscalls are slow the readlinkat runs on the
 *  pool and the Promise settles to the target's bytes (at most out.length of them). */
export function readlink(fs: PassthroughFs, nodeid: number, out: Buffer): number | Promise<Buffer | number> {
  const inode = fs.known(nodeid);
  if (typeof inode === 'number') return inode;
  if (!isSymlink(inode.mode)) return -Errno.EINVAL;
  const mnt = inode.mntId;
  if (fs.offLoop.wants(mnt)) {
    const later = readlinkOnPool(fs, inode, out.length);
    if (later) return later;
  }
  return fs.offLoop.timed(mnt, () => fs.withFd(inode, (fd) => sys.readlinkat(fd, '', out)));
}

/** [bsize, blocks, bfree, bavail, files, ffree, namelen, frsize, type, flags] of the inode's
 *  filesystem: into out (0), or on the pool for a slow mount (the Promise's own array). */
export function statfs(fs: PassthroughFs, nodeid: number, out: Float64Array): number | Promise<Float64Array | number> {
  const inode = fs.known(nodeid);
  if (typeof inode === 'number') return inode;
  const mnt = inode.mntId;
  if (fs.offLoop.wants(mnt)) {
    const later = statfsOnPool(fs, inode);
    if (later) return later;
  }
  return fs.offLoop.timed(mnt, () => fs.withFd(inode, (fd) => sys.fstatfs(fd, out)));
}

/** ACCESS. On a mount whose syscalls are slow the check runs on the pool, as the caller. */
export function access(fs: PassthroughFs, nodeid: number, mask: number): Later<number> {
  const inode = fs.known(nodeid);
  if (typeof inode === 'number') return inode;
  const mnt = inode.mntId;
  if (fs.offLoop.wants(mnt)) {
    const later = accessOnPool(fs, inode, mask);
    if (later) return later;
  }
  // AT_EACCESS: checked with the caller's (fs) ids we switched to, not the daemon's real ones.
  return fs.offLoop.timed(mnt, () => fs.withFd(inode, (fd) => sys.faccessat(fs.procSelfFd, fs.procName(fd), mask, C.AT_EACCESS)));
}

export function statx(fs: PassthroughFs, nodeid: number): { st: HostStat; inode: Inode } | number {
  const inode = fs.known(nodeid);
  if (typeof inode === 'number') return inode;
  const st = statOf(fs, inode);
  return typeof st === 'number' ? st : { st, inode };
}
