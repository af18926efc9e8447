// GETXATTR, SETXATTR, LISTXATTR, REMOVEXATTR (only with --xattr; otherwise ENOSYS so the kernel
// stops asking, except the POSIX ACLs while FUSE_POSIX_ACL is on: PassthroughFs.aclXattrs).
// O_PATH fds cannot carry xattr calls, so they go through the fd's /proc/self/fd
// name, which resolves to exactly the object the fd pins (a symlink stays the symlink).
import { sys } from '../native/sys';
import { Errno } from '../protocol/errno';
import type { PassthroughFs } from './passthrough-fs';
import type { Inode } from './inode';
import { isIdCarryingXattr } from '../policy/id-map';

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

/** size 0 asks for the value's size; otherwise the value is read into out[0..size). */
export function getxattr(fs: PassthroughFs, nodeid: number, name: Uint8Array, size: number, out: Buffer): number {
  const bad = checkXattrName(fs, name);
  if (bad < 0) return bad;
  if (size > XATTR_SIZE_MAX) size = XATTR_SIZE_MAX;
  return withInode(fs, nodeid, (p) => sys.getxattr(p, name, out.subarray(0, size), false), name);
}

export function listxattr(fs: PassthroughFs, nodeid: number, size: number, out: Buffer): number {
  if (size > XATTR_SIZE_MAX) size = XATTR_SIZE_MAX;
  return withInode(fs, nodeid, (p) => sys.listxattr(p, out.subarray(0, size), false));
}

export function setxattr(fs: PassthroughFs, nodeid: number, name: Uint8Array, value: Uint8Array, flags: number): number {
  const bad = checkXattrName(fs, name);
  if (bad < 0) return bad;
  if (value.length > XATTR_SIZE_MAX) return -Errno.E2BIG;
  return withInode(fs, nodeid, (p) => sys.setxattr(p, name, value, flags, false), name);
}

export function removexattr(fs: PassthroughFs, nodeid: number, name: Uint8Array): number {
  const bad = checkXattrName(fs, name);
  if (bad < 0) return bad;
  return withInode(fs, nodeid, (p) => sys.removexattr(p, name, false), name);
}
