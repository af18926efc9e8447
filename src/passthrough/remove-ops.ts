// UNLINK, RMDIR, RENAME and RENAME2. All relative to the parents' fds with checked names; the
// inode of a removed name stays valid for the client until it FORGETs it (open-unlink-read works
// because the open handle has its own fd). Nothing of ours changes with the host's answer, so on
// a mount whose syscalls are slow (off-loop.ts) the syscall runs on the pool as the caller and
// its status is the answer (pool-ops.ts); the checks before it stay here, on the JS thread.
import { C, sys } from '../native/sys';
import { Errno } from '../protocol/errno';
import type { Later } from '../server/file-system';
import type { PassthroughFs } from './passthrough-fs';
import { checkNewName } from './names';
import { renameOnPool, unlinkOnPool } from './pool-ops';

function removeAt(fs: PassthroughFs, parentId: number, name: Uint8Array, flags: number): Later<number> {
  const bad = checkNewName(name);
  if (bad < 0) return bad;
  const parent = fs.known(parentId);
  if (typeof parent === 'number') return parent;
  const mnt = parent.mntId;
  if (fs.offLoop.wants(mnt)) {
    const later = unlinkOnPool(fs, parent, name, flags);
    if (later) return later;
  }
  return fs.offLoop.timed(mnt, () => fs.withFdInExport(parent, (pfd) => sys.unlinkat(pfd, name, flags)));
}

export function unlink(fs: PassthroughFs, parentId: number, name: Uint8Array): Later<number> {
  return removeAt(fs, parentId, name, 0);
}

export function rmdir(fs: PassthroughFs, parentId: number, name: Uint8Array): Later<number> {
  return removeAt(fs, parentId, name, C.AT_REMOVEDIR);
}

const RENAME_KNOWN = C.RENAME_NOREPLACE | C.RENAME_EXCHANGE | C.RENAME_WHITEOUT;

export function rename(fs: PassthroughFs, parentId: number, name: Uint8Array, newParentId: number, newName: Uint8Array, flags: number): Later<number> {
  if (flags & ~RENAME_KNOWN) return -Errno.EINVAL;
  const bad = checkNewName(name) || checkNewName(newName);
  if (bad < 0) return bad;
  const newParent = fs.known(newParentId);
  if (typeof newParent === 'number') return newParent;
  const parent = fs.known(parentId);
  if (typeof parent === 'number') return parent;
  const mnt = parent.mntId;
  if (fs.offLoop.wants(mnt)) {
    const later = renameOnPool(fs, parent, name, newParent, newName, flags);
    if (later) return later;
  }
  return fs.offLoop.timed(mnt, () => fs.withFdInExport(parent, (pfd) => fs.withFdInExport(newParent, (npfd) => sys.renameat2(pfd, name, npfd, newName, flags))));
}
