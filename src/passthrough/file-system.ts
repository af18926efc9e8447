// The passthrough as the server sees it: src/server/file-system.ts's FileSystem, each operation
// handed to the module that does it (entry-ops, attr-ops, file-ops, dir-ops, remove-ops,
// xattr-ops, lock-ops) on one PassthroughFs, which holds the state they share (inodes, handles,
// credentials, the export root).
import type * as P from '../protocol';
import { Errno } from '../protocol/errno';
import type { DirSink, FileJob, FileLock, FileSystem, InitFeatures, IoTarget, Later } from '../server/file-system';
import type { PassthroughFs } from './passthrough-fs';
import * as entryOps from './entry-ops';
import * as attrOps from './attr-ops';
import * as setattrOps from './setattr-ops';
import * as fileOps from './file-ops';
import * as dirOps from './dir-ops';
import * as removeOps from './remove-ops';
import * as xattrOps from './xattr-ops';
import * as lockOps from './lock-ops';
import { statxOf } from './statx-out';
import type { HostStat } from './host-stat';
import type { Inode } from './inode';

function statfsOf(v: Float64Array): P.Statfs {
  return { bsize: v[0], blocks: v[1], bfree: v[2], bavail: v[3], files: v[4], ffree: v[5], namelen: v[6], frsize: v[7] };
}

export class PassthroughFileSystem implements FileSystem {
  readonly timeout: number;
  private readonly statfsOut = new Float64Array(10);

  constructor(readonly fs: PassthroughFs) {
    this.timeout = fs.timeout;
  }

  init(f: InitFeatures): void { this.fs.init(f); }
  asCaller(uid: number, gid: number, pid: number): number { return this.fs.creds.become(uid, gid, pid); }
  asDaemon(): void { this.fs.creds.reset(); }
  releaseAll(): void { this.fs.releaseAll(); }

  lookup(parent: number, name: Uint8Array) { return entryOps.lookup(this.fs, parent, name); }
  forget(nodeid: number, nlookup: number): void { this.fs.inodes.forget(nodeid, nlookup); }
  getattr(nodeid: number) { return attrOps.getattr(this.fs, nodeid); }
  setattr(nodeid: number, a: P.SetattrIn) { return setattrOps.setattr(this.fs, nodeid, a); }
  readlink(nodeid: number, out: Buffer) { return attrOps.readlink(this.fs, nodeid, out); }
  access(nodeid: number, mask: number) { return attrOps.access(this.fs, nodeid, mask); }

  statfs(nodeid: number): Later<P.Statfs | number> {
    const e = attrOps.statfs(this.fs, nodeid, this.statfsOut);
    if (e instanceof Promise) return e.then((v) => (typeof v === 'number' ? v : statfsOf(v)));
    return e < 0 ? e : statfsOf(this.statfsOut);
  }

  statx(nodeid: number, mask: number): Later<P.FuseStatx | number> {
    const x = attrOps.statx(this.fs, nodeid);
    if (x instanceof Promise) return x.then((v) => this.statxReply(v, mask));
    return this.statxReply(x, mask);
  }

  private statxReply(x: { st: HostStat; inode: Inode } | number, mask: number): P.FuseStatx | number {
    if (typeof x === 'number') return x;
    return statxOf(x.st, x.inode.clientIno, mask, this.fs.guestUid(x.st.uid), this.fs.guestGid(x.st.gid));
  }

  mknod(parent: number, name: Uint8Array, mode: number, major: number, minor: number, umask: number, label: P.SecCtx | null) {
    return entryOps.mknod(this.fs, parent, name, mode, major, minor, umask, label);
  }
  mkdir(parent: number, name: Uint8Array, mode: number, umask: number, label: P.SecCtx | null) { return entryOps.mkdir(this.fs, parent, name, mode, umask, label); }
  symlink(parent: number, name: Uint8Array, target: Uint8Array, label: P.SecCtx | null) { return entryOps.symlink(this.fs, parent, name, target, label); }
  link(nodeid: number, newParent: number, newName: Uint8Array) { return entryOps.link(this.fs, nodeid, newParent, newName); }
  unlink(parent: number, name: Uint8Array) { return removeOps.unlink(this.fs, parent, name); }
  rmdir(parent: number, name: Uint8Array) { return removeOps.rmdir(this.fs, parent, name); }
  rename(parent: number, name: Uint8Array, newParent: number, newName: Uint8Array, flags: number) {
    return removeOps.rename(this.fs, parent, name, newParent, newName, flags);
  }

  open(nodeid: number, flags: number) { return fileOps.open(this.fs, nodeid, flags); }
  create(parent: number, name: Uint8Array, flags: number, mode: number, umask: number, label: P.SecCtx | null) { return entryOps.create(this.fs, parent, name, flags, mode, umask, label); }
  tmpfile(parent: number, flags: number, mode: number, umask: number, label: P.SecCtx | null) { return entryOps.tmpfile(this.fs, parent, flags, mode, umask, label); }

  readTarget(fh: number): IoTarget | number {
    const h = this.fs.handles.file(fh);
    return h ? { fd: h.fd, path: h.readPath } : -Errno.EBADF;
  }

  writeTarget(fh: number, size: number): IoTarget | number {
    const h = this.fs.handles.file(fh);
    return h ? { fd: h.fd, path: fileOps.writePath(h, size) } : -Errno.EBADF;
  }

  noNoWait(fh: number, write: boolean): void {
    const h = this.fs.handles.file(fh);
    if (h) fileOps.noNoWait(h, write);
  }

  release(fh: number) { return fileOps.release(this.fs, fh); }
  flush(fh: number, lockOwner: string | null) { return fileOps.flush(this.fs, fh, lockOwner); }
  fsync(nodeid: number, fh: number, datasync: boolean) { return fileOps.fsync(this.fs, nodeid, fh, datasync); }
  fallocate(fh: number, mode: number, offset: number, length: number) { return fileOps.fallocate(this.fs, fh, mode, offset, length); }
  copyFileRange(fhIn: number, offIn: number, fhOut: number, offOut: number, len: number, flags: number, wide: boolean) {
    return fileOps.copyFileRange(this.fs, fhIn, offIn, fhOut, offOut, len, flags, wide);
  }
  syncfs(nodeid: number) { return fileOps.syncfs(this.fs, nodeid); }
  jobPosted(j: FileJob): void { fileOps.jobPosted(j); }
  lseek(fh: number, offset: number, whence: number) { return fileOps.lseek(this.fs, fh, offset, whence); }

  getlk(fh: number, owner: string, l: FileLock) { return lockOps.getlk(this.fs, fh, owner, l); }
  setlk(fh: number, owner: string, l: FileLock, isFlock: boolean) { return lockOps.setlk(this.fs, fh, owner, l, isFlock); }

  getxattr(nodeid: number, name: Uint8Array, size: number, out: Buffer) { return xattrOps.getxattr(this.fs, nodeid, name, size, out); }
  listxattr(nodeid: number, size: number, out: Buffer) { return xattrOps.listxattr(this.fs, nodeid, size, out); }
  setxattr(nodeid: number, name: Uint8Array, value: Uint8Array, flags: number) { return xattrOps.setxattr(this.fs, nodeid, name, value, flags); }
  removexattr(nodeid: number, name: Uint8Array) { return xattrOps.removexattr(this.fs, nodeid, name); }

  opendir(nodeid: number) { return dirOps.opendir(this.fs, nodeid); }
  readdir(fh: number, offset: number, plus: boolean, sink: DirSink) { return dirOps.readdir(this.fs, fh, offset, plus, sink); }
  releasedir(fh: number) { return dirOps.releasedir(this.fs, fh); }
  fsyncdir(fh: number, datasync: boolean) { return fileOps.fsyncdir(this.fs, fh, datasync); }
}
