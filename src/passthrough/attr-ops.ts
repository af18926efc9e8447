// GETATTR, READLINK, STATFS, ACCESS and STATX: reading what an inode is (SETATTR, the changes:
// setattr-ops.ts).
import { C, sys } from '../native/sys';
import { Errno } from '../protocol/errno';
import type { PassthroughFs, WireAttr } from './passthrough-fs';
import type { Inode } from './inode';
import { HostStat, isSymlink, statFd } from './host-stat';
import { accessOnPool, readlinkOnPool, statfsOnPool, statOnPool, statxOnPool } from './pool-ops';
import type { Later } from '../server/file-system';

/** statx of what the inode is (its fd, or one opened by handle for the call). */
export function statOf(fs: PassthroughFs, inode: Inode): HostStat | number {
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

/** STATX (the kernel sends it when a caller asks for more than the basic stats, btime say). On a
 *  slow mount the statx runs on the pool, as GETATTR's. */
export function statx(fs: PassthroughFs, nodeid: number): Later<{ st: HostStat; inode: Inode } | number> {
  const inode = fs.known(nodeid);
  if (typeof inode === 'number') return inode;
  if (fs.offLoop.wants(inode.mntId)) {
    const later = statxOnPool(fs, inode);
    if (later) return later;
  }
  const st = fs.offLoop.timed(inode.mntId, () => statOf(fs, inode));
  return typeof st === 'number' ? st : { st, inode };
}
