// GETXATTR, SETXATTR, LISTXATTR, REMOVEXATTR (only with --xattr; otherwise ENOSYS so the kernel
// stops asking, except the POSIX ACLs while FUSE_POSIX_ACL is on: PassthroughFs.aclXattrs).
// O_PATH fds cannot carry xattr calls, so they go through the fd's /proc/self/fd
// name, which resolves to exactly the object the fd pins (a symlink stays the symlink).
import { sys } from '../native/sys';
import { Errno } from '../protocol/errno';
import type { PassthroughFs } from './passthrough-fs';
import type { Inode } from './inode';
import { isIdCarryingXattr } from '../policy/id-map';
import { mapClientName, mapServerList } from '../policy/xattr-map';

const XATTR_NAME_MAX = 255;
const XATTR_SIZE_MAX = 65536;

function withInode(fs: PassthroughFs, nodeid: number, fn: (path: string, inode: Inode) => number, name?: Uint8Array): number {
  if (!fs.config.xattr && !(fs.aclXattrs && name && isIdCarryingXattr(name))) {
    // With FUSE_POSIX_ACL the kernel reads ACLs by GETXATTR to check permissions, so those are
    // served even without --xattr. Any other name then answers EOPNOTSUPP, not ENOSYS: one
    // ENOSYS makes the kernel stop sending GETXATTR at all, ACLs included.
    return fs.aclXattrs && name ? -Errno.EOPNOTSUPP : -Errno.ENOSYS;
  }
  const inode = fs.known(nodeid);
  if (typeof inode === 'number') return inode;
  return fs.withFd(inode, (fd) => fn(fs.procPath(fd), inode));
}

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
export function getxattr(fs: PassthroughFs, nodeid: number, name: Uint8Array, size: number, out: Buffer): number {
  const bad = checkXattrName(fs, name);
  if (bad < 0) return bad;
  const host = hostName(fs, name);
  // A denied name reads as absent (as in virtiofsd): the client simply has no such xattr.
  if (typeof host === 'number') return host === -Errno.EPERM ? -Errno.ENODATA : host;
  if (size > XATTR_SIZE_MAX) size = XATTR_SIZE_MAX;
  return withInode(fs, nodeid, (p) => sys.getxattr(p, host, out.subarray(0, size), false), name);
}

export function listxattr(fs: PassthroughFs, nodeid: number, size: number, out: Buffer): number {
  if (size > XATTR_SIZE_MAX) size = XATTR_SIZE_MAX;
  const map = fs.config.xattrMap;
  if (!map) return withInode(fs, nodeid, (p) => sys.listxattr(p, out.subarray(0, size), false));
  // Renaming changes the list's length: read all of it, map it, then answer the size asked for
  // (exact, so a client that sizes its buffer from the first call never sees ERANGE).
  const all = Buffer.allocUnsafe(XATTR_SIZE_MAX);
  const n = withInode(fs, nodeid, (p) => sys.listxattr(p, all, false));
  if (n < 0) return n;
  const mapped = mapServerList(map, all.subarray(0, n));
  if (size === 0) return mapped.length;
  if (mapped.length > Math.min(size, out.length)) return -Errno.ERANGE;
  out.set(mapped, 0);
  return mapped.length;
}

export function setxattr(fs: PassthroughFs, nodeid: number, name: Uint8Array, value: Uint8Array, flags: number): number {
  const bad = checkXattrName(fs, name);
  if (bad < 0) return bad;
  if (value.length > XATTR_SIZE_MAX) return -Errno.E2BIG;
  const host = hostName(fs, name);
  if (typeof host === 'number') return host;
  return withInode(fs, nodeid, (p) => sys.setxattr(p, host, value, flags, false), name);
}

export function removexattr(fs: PassthroughFs, nodeid: number, name: Uint8Array): number {
  const bad = checkXattrName(fs, name);
  if (bad < 0) return bad;
  const host = hostName(fs, name);
  if (typeof host === 'number') return host;
  return withInode(fs, nodeid, (p) => sys.removexattr(p, host, false), name);
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
  if (name.length <= SECURITY_PREFIX.length || Buffer.compare(name.subarray(0, SECURITY_PREFIX.length), SECURITY_PREFIX) !== 0) return -Errno.EINVAL;
  const host = hostName(fs, name);
  if (typeof host === 'number') return host;
  return fs.creds.privileged(() => set(host));
}
