// The filesystem the server serves: one method per FUSE operation, in the server's own terms
// (node ids, file handles, wire structs). The server owns this interface; the passthrough
// (src/passthrough/file-system.ts) implements it, read-only.ts wraps it, and a test may serve
// its own. Node ids and fh values are the implementation's; the server only carries them.
//
// Completing later: the operations typed Later<T> may return a Promise (their syscalls run on
// the worker pool, e.g. a LOOKUP on a slow mount) and the server answers when it settles. Their
// arguments are only valid during the call (a name points into the request inbox): an
// implementation that completes later copies what it keeps. The others answer inline, or hand
// back a FileJob the transport runs on its pool.
//
// Results: a number is a negative errno; anything else is the answer's content.
import type * as P from '../protocol';
import type { BackingFiles } from '../native/channel';

export type Later<T> = T | Promise<T>;

export interface OpenReply {
  fh: number;
  /** FOPEN_* */
  openFlags: number;
  /** FUSE passthrough backing id, or 0 */
  backingId: number;
}

export interface CreateReply {
  entry: P.EntryOut;
  open: OpenReply;
}

/** Where a READ's or WRITE's bytes move: the fd and the DataPath (native/channel.ts). */
export interface IoTarget {
  fd: number;
  path: number;
}

/** Work the transport runs on its worker pool: FileOp (native/channel.ts) on fd (fd2 for copies). */
export interface FileJob {
  op: number;
  fd: number;
  fd2: number;
  a: number;
  b: number;
  c: number;
  /** fd was opened for this job alone: close it once posted (the job works on its own dup) */
  owned: boolean;
}

export interface FileLock {
  start: number;
  /** inclusive; >= OFFSET_MAX means to the end of the file */
  end: number;
  type: number;
  pid: number;
}

/** The reply room READDIR entries are encoded into natively. */
export interface DirentRoom {
  out: Buffer;
  pos: number;
  limit: number;
}

/** One directory entry as the implementation's stream holds it (name bytes in buf). */
export interface DirentView {
  readonly buf: Buffer;
  readonly nameStart: number;
  readonly nameEnd: number;
  readonly nextOffset: number;
  readonly type: number;
}

/** Where READDIR/READDIRPLUS put their entries: the server owns the encoding and the room. */
export interface DirSink {
  /** The reply's free bytes, for entries encoded natively (fits/add still serve the entries
   *  encoded one by one, and must agree with room.pos). */
  room?: DirentRoom;
  /** READDIRPLUS: completes the natively encoded entry at out[rec] (attributes from its statx in
   *  place) with what the lookup found: node id, client inode number, attr.flags, and the
   *  owner as the client sees it. */
  complete?(rec: number, nodeid: number, ino: P.InoValue, attrFlags: number, uid: number, gid: number): void;
  /** READDIRPLUS: rewrites the natively encoded entry at out[rec] with this lookup result
   *  (null: no attributes, nodeid 0; its d_ino stays). */
  rewrite?(rec: number, entry: P.EntryOut | null): void;
  /** whether an entry with this name length still fits in the reply */
  fits(nameLen: number): boolean;
  /** adds the stream's current entry */
  add(d: DirentView, clientIno: P.InoValue, entry: P.EntryOut | null): void;
}

/** What INIT settled (like virtiofsd's FileSystem::init). */
export interface InitFeatures {
  submounts: boolean;
  posixAcl: boolean;
  writeback: boolean;
  backing: BackingFiles | null;
}

export interface FileSystem {
  /** entry and attribute validity, seconds */
  readonly timeout: number;
  init(f: InitFeatures): void;
  /** Run what follows as this caller (0 or -errno: refused). */
  asCaller(uid: number, gid: number, pid: number): number;
  /** Back to the daemon's own credentials. */
  asDaemon(): void;
  /** DESTROY or the session's end: everything the client held is released. */
  releaseAll(): void;

  lookup(parent: number, name: Uint8Array): Later<P.EntryOut | number>;
  forget(nodeid: number, nlookup: number): void;
  getattr(nodeid: number): Later<P.Attr | number>;
  setattr(nodeid: number, a: P.SetattrIn): Later<P.Attr | number>;
  /** the target into out; its length or -errno */
  /** The target into out (its length), or, completing later, the target's own bytes. */
  readlink(nodeid: number, out: Buffer): number | Promise<Buffer | number>;
  access(nodeid: number, mask: number): Later<number>;
  statfs(nodeid: number): Later<P.Statfs | number>;
  statx(nodeid: number, mask: number): Later<P.FuseStatx | number>;

  // `label`: the security context the request carried (FUSE_SECURITY_CTX on), to be stored on the
  // new object before the answer (a failure fails the create and removes it); null: none.
  mknod(parent: number, name: Uint8Array, mode: number, rdevMajor: number, rdevMinor: number, umask: number, label: P.SecCtx | null): Later<P.EntryOut | number>;
  mkdir(parent: number, name: Uint8Array, mode: number, umask: number, label: P.SecCtx | null): Later<P.EntryOut | number>;
  symlink(parent: number, name: Uint8Array, target: Uint8Array, label: P.SecCtx | null): Later<P.EntryOut | number>;
  link(nodeid: number, newParent: number, newName: Uint8Array): Later<P.EntryOut | number>;
  unlink(parent: number, name: Uint8Array): Later<number>;
  rmdir(parent: number, name: Uint8Array): Later<number>;
  rename(parent: number, name: Uint8Array, newParent: number, newName: Uint8Array, flags: number): Later<number>;

  open(nodeid: number, flags: number): Later<OpenReply | number>;
  create(parent: number, name: Uint8Array, flags: number, mode: number, umask: number, label: P.SecCtx | null): Later<CreateReply | number>;
  tmpfile(parent: number, flags: number, mode: number, umask: number, label: P.SecCtx | null): Later<CreateReply | number>;
  readTarget(fh: number): IoTarget | number;
  writeTarget(fh: number, size: number): IoTarget | number;
  /** The transport found the fd without RWF_NOWAIT: choose another path next time. */
  noNoWait(fh: number, write: boolean): void;
  release(fh: number): number;
  flush(fh: number, lockOwner: string | null): FileJob | number;
  fsync(nodeid: number, fh: number, datasync: boolean): FileJob | number;
  fallocate(fh: number, mode: number, offset: number, length: number): FileJob | number;
  copyFileRange(fhIn: number, offIn: number, fhOut: number, offOut: number, len: number, flags: number, wide: boolean): FileJob | number;
  syncfs(nodeid: number): FileJob | number;
  /** The job was posted (or refused): what the implementation opened for it alone may go. */
  jobPosted(j: FileJob): void;
  /** The new offset, or (a slow mount's SEEK_DATA/SEEK_HOLE) a job that answers it. */
  lseek(fh: number, offset: number, whence: number): FileJob | number;

  getlk(fh: number, owner: string, l: FileLock): Later<FileLock | number>;
  /** One attempt that never waits (-EAGAIN: the lock is taken; a SETLKW tries again later). */
  setlk(fh: number, owner: string, l: FileLock, isFlock: boolean): Later<number>;

  /** size 0: the value's length; else the value into out, its length or -errno */
  /** Bytes read into out, -errno, or (completing on the pool) the bytes themselves or, for a
   *  size query (size 0), the size. */
  getxattr(nodeid: number, name: Uint8Array, size: number, out: Buffer): number | Promise<Buffer | number>;
  listxattr(nodeid: number, size: number, out: Buffer): number | Promise<Buffer | number>;
  setxattr(nodeid: number, name: Uint8Array, value: Uint8Array, flags: number): Later<number>;
  removexattr(nodeid: number, name: Uint8Array): Later<number>;

  /** fh or -errno */
  opendir(nodeid: number): Later<number>;
  /** Entries into sink: how many, or -errno. A Promise (the entries are read on the worker pool)
   *  settles to -errno (the answer) or null: call again with a new sink over the reply buffer as
   *  it is then (nothing was written into this one: the buffer serves other replies meanwhile). */
  readdir(fh: number, offset: number, plus: boolean, sink: DirSink): number | Promise<number | null>;
  releasedir(fh: number): number;
  fsyncdir(fh: number, datasync: boolean): FileJob | number;
}
