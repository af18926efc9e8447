// UNLINK, RMDIR, RENAME and RENAME2. All relative to the parents' fds with checked names; the
// inode of a removed name stays valid for the client until it FORGETs it (open-unlink-read works
// because the open handle has its own fd).
import { C, sys } from '../native/sys';
import { Errno } from '../protocol/errno';
import type { PassthroughFs } from './passthrough-fs';
import { checkNewName } from './names';

function dirFdCall(fs: PassthroughFs, nodeid: number, fn: (fd: number) => number): number {
  const inode = fs.known(nodeid);
  if (typeof inode === 'number') return inode;
  return fs.withFdInExport(inode, fn);
}

export function unlink(fs: PassthroughFs, parentId: number, name: Uint8Array): number {
  const bad = checkNewName(name);
  if (bad < 0) return bad;
  return dirFdCall(fs, parentId, (pfd) => sys.unlinkat(pfd, name, 0));
}

export function rmdir(fs: PassthroughFs, parentId: number, name: Uint8Array): number {
  const bad = checkNewName(name);
  if (bad < 0) return bad;
  return dirFdCall(fs, parentId, (pfd) => sys.unlinkat(pfd, name, C.AT_REMOVEDIR));
}

const RENAME_KNOWN = C.RENAME_NOREPLACE | C.RENAME_EXCHANGE | C.RENAME_WHITEOUT;

export function rename(fs: PassthroughFs, parentId: number, name: Uint8Array, newParentId: number, newName: Uint8Array, flags: number): number {
  if (flags & ~RENAME_KNOWN) return -Errno.EINVAL;
  const bad = checkNewName(name) || checkNewName(newName);
  if (bad < 0) return bad;
  const newParent = fs.known(newParentId);
  if (typeof newParent === 'number') return newParent;
  return dirFdCall(fs, parentId, (pfd) => fs.withFdInExport(newParent, (npfd) => sys.renameat2(pfd, name, npfd, newName, flags)));
}
