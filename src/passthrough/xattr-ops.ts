// GETXATTR, SETXATTR, LISTXATTR, REMOVEXATTR (only with --xattr; otherwise ENOSYS so the kernel
// stops asking, except the POSIX ACLs while FUSE_POSIX_ACL is on: PassthroughFs.aclXattrs).
// O_PATH fds cannot carry xattr calls, so they go through the fd's /proc/self/fd
// name, which resolves to exactly the object the fd pins (a symlink stays the symlink). On a mount
// whose syscalls are slow (off-loop.ts) the call runs on the worker pool, as the caller.
import { sys } from '../native/sys';
import { Errno } from '../protocol/errno';
import type { PassthroughFs } from './passthrough-fs';
import type { Inode } from './inode';
import { isIdCarryingXattr } from '../policy/id-map';
import { mapClientName, mapServerList } from '../policy/xattr-map';
import { metaJobs, MetaOp } from '../native/meta-jobs';
import { onPool } from './pool-ops';
import type { Later } from '../server/file-system';

const XATTR_NAME_MAX = 255;
const XATTR_SIZE_MAX = 65536;
/** The whole list of an inline LISTXATTR under --xattrmap (listxattr below). */
const listScratch = Buffer.allocUnsafeSlow(XATTR_SIZE_MAX);

/** The inode the request is about, or the errno when xattrs are not served (or it is unknown). */
function target(fs: PassthroughFs, nodeid: number, name?: Uint8Array): Inode | number {
  if (!fs.config.xattr && !(fs.aclXattrs && name && isIdCarryingXattr(name))) {
    // With FUSE_POSIX_ACL the kernel reads ACLs by GETXATTR to check permissions, so those are
    // served even without --xattr. Any other name then answers EOPNOTSUPP, not ENOSYS: one
    // ENOSYS makes the kernel stop sending GETXATTR at all, ACLs included.
    return fs.aclXattrs && name ? -Errno.EOPNOTSUPP : -Errno.ENOSYS;
  }
  return fs.known(nodeid);
}

/** The call inline, by the fd's /proc/self/fd name, timed (off-loop.ts: it may mark the mount slow). */
function inline(fs: PassthroughFs, inode: Inode, fn: (path: string) => number): number {
  return fs.offLoop.timed(inode.mntId, () => fs.withFd(inode, (fd) => fn(fs.procPath(fd))));
}

/**
 * The call on the worker pool when the inode's mount is slow (as the caller, on the job's dup
 * of the fd): then(n, buf) turns its byte count into the answer. buf() gives the job's buffer,
 * asked only when it goes to the pool (a fast mount allocates nothing); a SETXATTR's is a copy
 * of the value, as the name is here: the post may wait for the inode's open from its handle
 * (onPool), after the request's buffer was reused. null: inline (a fast mount, or no pool).
 */
function onPoolIfSlow<T>(fs: PassthroughFs, inode: Inode, op: number, name: Uint8Array | null, buf: () => Uint8Array | null, flags: number, then: (n: number, buf: Uint8Array) => T | number): Promise<T | number> | null {
  if (!fs.offLoop.wants(inode.mntId)) return null;
  const who = fs.creds.caller();
  const b = buf();
  const own = name && Uint8Array.from(name);
  return onPool(fs, inode.mntId,
    (done) => fs.withFd(inode, (fd) => metaJobs.metaXattrJob(op, fd, own, b, flags, who.uid, who.gid, who.groups, done)),
    (n) => (n < 0 || !b ? n : then(n, b)), [inode]);
}

/** A read's answer from the pool: the size for a size query (size 0), else the bytes read. */
const readAnswer = (size: number) => (n: number, buf: Uint8Array): Buffer | number =>
  (size === 0 ? n : Buffer.from(buf.buffer, buf.byteOffset, n));

/** A GETXATTR's or LISTXATTR's answer: bytes written into the caller's buffer (inline), or from
 *  the pool the bytes themselves (copied into the reply then) or, for a size query, the size. */
export type XattrRead = number | Promise<Buffer | number>;

function checkXattrName(fs: PassthroughFs, name: Uint8Array): number {
  if (name.length === 0 || name.length > XATTR_NAME_MAX) return -Errno.ERANGE;
  if (name.indexOf(0) >= 0) return -Errno.EINVAL;
  // POSIX ACLs hold ids we would have to translate inside the value: refused, as virtiofsd does.
  return fs.config.xattr && fs.config.ids && isIdCarryingXattr(name) ? -Errno.EOPNOTSUPP : 0;
}

/** The host's name for a client's xattr name under --xattrmap (unchanged without one), or the
 *  errno its rule answers: a 'bad' name is EPERM (denied), an 'unsupported' one EOPNOTSUPP. */
function hostName(fs: PassthroughFs, name: Uint8Array): Uint8Array | number {
  const map = fs.config.xattrMap;
  if (!map) return name;
  const m = mapClientName(map, name);
  if (m.kind === 'pass') return m.name;
  return m.kind === 'deny' ? -Errno.EPERM : -Errno.EOPNOTSUPP;
}

/** size 0 asks for the value's size; otherwise the value is read into out[0..size). */
export function getxattr(fs: PassthroughFs, nodeid: number, name: Uint8Array, size: number, out: Buffer): XattrRead {
  const bad = checkXattrName(fs, name);
  if (bad < 0) return bad;
  const host = hostName(fs, name);
  // A denied name reads as absent (as in virtiofsd): the client simply has no such xattr.
  if (typeof host === 'number') return host === -Errno.EPERM ? -Errno.ENODATA : host;
  if (size > XATTR_SIZE_MAX) size = XATTR_SIZE_MAX;
  const inode = target(fs, nodeid, name);
  if (typeof inode === 'number') return inode;
  const later = onPoolIfSlow(fs, inode, MetaOp.Getxattr, host, () => Buffer.allocUnsafeSlow(Math.min(size, out.length)), 0, readAnswer(size));
  return later ?? inline(fs, inode, (p) => sys.getxattr(p, host, out.subarray(0, size), false));
}

export function listxattr(fs: PassthroughFs, nodeid: number, size: number, out: Buffer): XattrRead {
  if (size > XATTR_SIZE_MAX) size = XATTR_SIZE_MAX;
  const inode = target(fs, nodeid);
  if (typeof inode === 'number') return inode;
  const map = fs.config.xattrMap;
  if (!map) {
    const later = onPoolIfSlow(fs, inode, MetaOp.Listxattr, null, () => Buffer.allocUnsafeSlow(Math.min(size, out.length)), 0, readAnswer(size));
    return later ?? inline(fs, inode, (p) => sys.listxattr(p, out.subarray(0, size), false));
  }
  // Renaming changes the list's length: read all of it, map it, then answer the size asked for
  // (exact, so a client that sizes its buffer from the first call never sees ERANGE). Inline the
  // whole list is read into one scratch buffer, kept; a pool job gets its own (it is written on
  // the worker while other requests run).
  let all = listScratch;
  const answer = (n: number, into: Buffer | null): Buffer | number => {
    const mapped = mapServerList(map, all.subarray(0, n));
    if (size === 0) return mapped.length;
    if (mapped.length > Math.min(size, out.length)) return -Errno.ERANGE;
    if (!into) return Buffer.from(mapped.buffer, mapped.byteOffset, mapped.length);
    into.set(mapped, 0);
    return mapped.length;
  };
  const later = onPoolIfSlow(fs, inode, MetaOp.Listxattr, null, () => (all = Buffer.allocUnsafeSlow(XATTR_SIZE_MAX)), 0, (n) => answer(n, null));
  if (later) return later;
  const n = inline(fs, inode, (p) => sys.listxattr(p, all, false));
  return n < 0 ? n : answer(n, out) as number;
}

export function setxattr(fs: PassthroughFs, nodeid: number, name: Uint8Array, value: Uint8Array, flags: number): Later<number> {
  const bad = checkXattrName(fs, name);
  if (bad < 0) return bad;
  if (value.length > XATTR_SIZE_MAX) return -Errno.E2BIG;
  const host = hostName(fs, name);
  if (typeof host === 'number') return host;
  const inode = target(fs, nodeid, name);
  if (typeof inode === 'number') return inode;
  return onPoolIfSlow(fs, inode, MetaOp.Setxattr, host, () => Uint8Array.from(value), flags, (n) => n)
    ?? inline(fs, inode, (p) => sys.setxattr(p, host, value, flags, false));
}

export function removexattr(fs: PassthroughFs, nodeid: number, name: Uint8Array): Later<number> {
  const bad = checkXattrName(fs, name);
  if (bad < 0) return bad;
  const host = hostName(fs, name);
  if (typeof host === 'number') return host;
  const inode = target(fs, nodeid, name);
  if (typeof inode === 'number') return inode;
  return onPoolIfSlow(fs, inode, MetaOp.Removexattr, host, () => null, 0, (n) => n)
    ?? inline(fs, inode, (p) => sys.removexattr(p, host, false));
}

const SECURITY_PREFIX = Buffer.from('security.');

/**
 * Stores the security label a creating request carried (FUSE_SECURITY_CTX) on the object it just
 * made, through `set(hostName)` (fsetxattr on an open fd, or setxattr on a /proc/self/fd name).
 * As in virtiofsd the name goes through --xattrmap, and the xattr is set with the daemon's
 * credentials, not the caller's: the guest's LSM chose the label, and on the host a security.*
 * xattr needs privilege (CAP_SYS_ADMIN without an LSM, the LSM's relabel rights with one) that no
 * guest user has. Only security.* names are taken: LSMs label with nothing else, and a hostile
 * guest must not use this privileged path to set trusted.* or system.* xattrs (EINVAL).
 */
export function setSecurityLabel(fs: PassthroughFs, name: Uint8Array, value: Uint8Array, set: (host: Uint8Array) => number): number {
  const host = securityLabelName(fs, name);
  if (typeof host === 'number') return host;
  return fs.creds.privileged(() => set(host));
}

/** The host's name of a security label's xattr (setSecurityLabel's checks and --xattrmap), or
 *  the errno it is refused with. */
export function securityLabelName(fs: PassthroughFs, name: Uint8Array): Uint8Array | number {
  if (name.length <= SECURITY_PREFIX.length || Buffer.compare(name.subarray(0, SECURITY_PREFIX.length), SECURITY_PREFIX) !== 0) return -Errno.EINVAL;
  return hostName(fs, name);
}
