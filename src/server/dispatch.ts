// Opcode -> handler. Each handler decodes its request (protocol), calls the filesystem's operation
// (file-system.ts) and answers through the replier. Every opcode of the protocol is here or answered
// ENOSYS by the session (IOCTL, POLL, BMAP, SETUPMAPPING, REMOVEMAPPING: not supported, like
// virtiofsd without DAX). The tests of each opcode: test/README.md.
import * as P from '../protocol';
import type { Handler, Req, ServerParts } from './handler';
import type { CreateReply, FileJob, FileLock, Later, OpenReply } from './file-system';
import { readdirInto } from './readdir-reply';
import { later } from './later';
import { PathResult, DataPath } from '../native/channel';

/** The label a creating request carries once FUSE_SECURITY_CTX is on (null otherwise or when the
 *  guest's LSM sent none); a missing or malformed one throws ProtocolError (EINVAL). */
function labelOf(s: ServerParts, r: Req, nameEnd: number): P.SecCtx | null {
  return s.init!.securityLabel ? P.decodeCreateSecctx(r.buf, { off: r.off, h: r.h, nameEnd, bodyEnd: r.end }) : null;
}

/** Pages per request without FUSE_MAX_PAGES (the kernel's FUSE_DEFAULT_MAX_PAGES_PER_REQ). */
const DEFAULT_MAX_PAGES = 32;
/** The largest page a guest kernel may use (arm64 and ppc64 64 KiB): max_pages counts its pages. */
const MAX_GUEST_PAGE = 64 * 1024;

/** The largest READ a kernel sends after our INIT: max_pages of its pages (fuse_init_out has no
 *  max_read; the kernel caps reads at min(max_read mount option, max_pages << PAGE_SHIFT)). */
function maxRead(s: ServerParts): number {
  const init = s.init!;
  const pages = init.flags & P.InitFlag.MAX_PAGES ? init.out.maxPages : DEFAULT_MAX_PAGES;
  return Math.max(init.out.maxWrite, pages * MAX_GUEST_PAGE);
}
const ownerKey = (owner: bigint) => owner.toString(16);

export const HANDLERS: Partial<Record<number, Handler>> = {
  [P.Op.LOOKUP]: (s, r) => entryReply(s, r, s.fs.lookup(r.h.nodeid, P.decodeLookup(r.buf, r.off, r.end).name)),

  [P.Op.FORGET]: (s, r) => {
    s.fs.forget(r.h.nodeid, P.decodeForget(r.buf, r.off, r.end).nlookup);
    s.channel.done(r.token);
  },

  [P.Op.BATCH_FORGET]: (s, r) => {
    // The decoder bounds the list by the request's real length: a hostile count cannot make us
    // read past it. Unknown node ids are ignored, as the kernel may race us.
    for (const f of P.decodeBatchForget(r.buf, r.off, r.end).items) s.fs.forget(f.nodeid, f.nlookup);
    s.channel.done(r.token);
  },

  [P.Op.GETATTR]: (s, r) => attrReply(s, r, s.fs.getattr(r.h.nodeid)),
  [P.Op.SETATTR]: (s, r) => attrReply(s, r, s.fs.setattr(r.h.nodeid, P.decodeSetattr(r.buf, r.off, r.end))),

  [P.Op.READLINK]: (s, r) => readlinkReply(s, r, s.fs.readlink(r.h.nodeid, s.replier.out.subarray(s.replier.body, s.replier.body + 4096))),

  [P.Op.SYMLINK]: (s, r) => {
    const a = P.decodeSymlink(r.buf, r.off, r.end);
    entryReply(s, r, s.fs.symlink(r.h.nodeid, a.name, a.target, labelOf(s, r, a.nameEnd)));
  },

  [P.Op.MKNOD]: (s, r) => {
    const a = P.decodeMknod(r.buf, r.off, r.end);
    const { major, minor } = P.decodeRdev(a.rdev);
    entryReply(s, r, s.fs.mknod(r.h.nodeid, a.name, a.mode, major, minor, a.umask, labelOf(s, r, a.nameEnd)));
  },

  [P.Op.MKDIR]: (s, r) => {
    const a = P.decodeMkdir(r.buf, r.off, r.end);
    entryReply(s, r, s.fs.mkdir(r.h.nodeid, a.name, a.mode, a.umask, labelOf(s, r, a.nameEnd)));
  },

  [P.Op.UNLINK]: (s, r) => statusReply(s, r, s.fs.unlink(r.h.nodeid, P.decodeUnlink(r.buf, r.off, r.end).name)),
  [P.Op.RMDIR]: (s, r) => statusReply(s, r, s.fs.rmdir(r.h.nodeid, P.decodeRmdir(r.buf, r.off, r.end).name)),

  [P.Op.RENAME]: (s, r) => {
    const a = P.decodeRename(r.buf, r.off, r.end);
    statusReply(s, r, s.fs.rename(r.h.nodeid, a.oldName, a.newdir, a.newName, 0));
  },

  [P.Op.RENAME2]: (s, r) => {
    const a = P.decodeRename2(r.buf, r.off, r.end);
    statusReply(s, r, s.fs.rename(r.h.nodeid, a.oldName, a.newdir, a.newName, a.flags));
  },

  [P.Op.LINK]: (s, r) => {
    const a = P.decodeLink(r.buf, r.off, r.end);
    entryReply(s, r, s.fs.link(a.oldNodeid, r.h.nodeid, a.name));
  },

  [P.Op.OPEN]: (s, r) => openReply(s, r, s.fs.open(r.h.nodeid, P.decodeOpen(r.buf, r.off, r.end).flags)),

  [P.Op.CREATE]: (s, r) => {
    const a = P.decodeCreate(r.buf, r.off, r.end);
    createReply(s, r, s.fs.create(r.h.nodeid, a.name, a.flags, a.mode, a.umask, labelOf(s, r, a.nameEnd)));
  },

  [P.Op.TMPFILE]: (s, r) => {
    const a = P.decodeTmpfile(r.buf, r.off, r.end);
    createReply(s, r, s.fs.tmpfile(r.h.nodeid, a.flags, a.mode, a.umask, labelOf(s, r, a.nameEnd)));
  },

  // READ and WRITE: the filesystem chooses where the bytes move (inline, or RWF_NOWAIT inline
  // with the pool for what would block, or the pool); the transport moves them and answers.
  [P.Op.READ]: (s, r) => {
    const a = P.decodeRead(r.buf, r.off, r.end);
    // A guest may ask for up to 4 GiB, with every reply buffer aliasing the same guest page: the
    // copy would hold up every other request. No kernel asks more than INIT allowed.
    if (a.size > maxRead(s)) return s.replier.error(r.token, P.Errno.EINVAL);
    const io = s.fs.readTarget(a.fh);
    if (typeof io === 'number') return s.replier.error(r.token, -io);
    if (a.offset > Number.MAX_SAFE_INTEGER) return s.replier.error(r.token, P.Errno.EINVAL);
    if (s.channel.readInto(r.token, io.fd, a.size, a.offset, io.path) === PathResult.NoWaitUnsupported) s.fs.noNoWait(a.fh, false);
  },

  [P.Op.WRITE]: (s, r) => {
    const a = P.decodeWrite(r.buf, r.off, r.end);
    // max_write is what we told the kernel in INIT; more is a hostile guest (see READ).
    if (a.size > s.init!.out.maxWrite) return s.replier.error(r.token, P.Errno.EINVAL);
    const io = s.fs.writeTarget(a.fh, a.size);
    if (typeof io === 'number') return s.replier.error(r.token, -io);
    if (a.offset > Number.MAX_SAFE_INTEGER) return s.replier.error(r.token, P.Errno.EFBIG);
    // The size must match the data that came with the request (header len minus the structs).
    if (a.size !== r.h.len - P.IN_HEADER_SIZE - P.Size.WRITE_IN) return s.replier.error(r.token, P.Errno.EINVAL);
    const killPriv = (a.writeFlags & P.WriteFlag.KILL_SUIDGID) !== 0;
    if (s.channel.writeFrom(r.token, io.fd, a.size, a.offset, killPriv, io.path) === PathResult.NoWaitUnsupported) s.fs.noNoWait(a.fh, true);
  },

  [P.Op.STATFS]: (s, r) => statfsReply(s, r, s.fs.statfs(r.h.nodeid)),

  [P.Op.RELEASE]: (s, r) => s.replier.status(r.token, s.fs.release(P.decodeRelease(r.buf, r.off, r.end).fh)),

  [P.Op.FSYNC]: (s, r) => {
    const a = P.decodeFsync(r.buf, r.off, r.end);
    fileJob(s, r, s.fs.fsync(r.h.nodeid, a.fh, (a.fsyncFlags & P.FsyncFlag.FDATASYNC) !== 0));
  },

  [P.Op.FLUSH]: (s, r) => {
    const a = P.decodeFlush(r.buf, r.off, r.end);
    fileJob(s, r, s.fs.flush(a.fh, ownerKey(a.lockOwner)));
  },

  [P.Op.SETXATTR]: (s, r) => {
    const a = P.decodeSetxattr(r.buf, r.off, r.end, s.init?.setxattrExt ?? false);
    statusReply(s, r, s.fs.setxattr(r.h.nodeid, a.name, a.value, a.flags));
  },

  [P.Op.GETXATTR]: (s, r) => {
    const a = P.decodeGetxattr(r.buf, r.off, r.end);
    xattrReply(s, r, a.size, (out) => s.fs.getxattr(r.h.nodeid, a.name, a.size, out));
  },

  [P.Op.LISTXATTR]: (s, r) => {
    const a = P.decodeListxattr(r.buf, r.off, r.end);
    xattrReply(s, r, a.size, (out) => s.fs.listxattr(r.h.nodeid, a.size, out));
  },

  [P.Op.REMOVEXATTR]: (s, r) => statusReply(s, r, s.fs.removexattr(r.h.nodeid, P.decodeRemovexattr(r.buf, r.off, r.end).name)),

  [P.Op.OPENDIR]: (s, r) => opendirReply(s, r, s.fs.opendir(r.h.nodeid)),

  [P.Op.READDIR]: (s, r) => readdirInto(s, r, false),
  [P.Op.READDIRPLUS]: (s, r) => readdirInto(s, r, true),

  [P.Op.RELEASEDIR]: (s, r) => s.replier.status(r.token, s.fs.releasedir(P.decodeRelease(r.buf, r.off, r.end).fh)),

  [P.Op.FSYNCDIR]: (s, r) => {
    const a = P.decodeFsync(r.buf, r.off, r.end);
    fileJob(s, r, s.fs.fsyncdir(a.fh, (a.fsyncFlags & P.FsyncFlag.FDATASYNC) !== 0));
  },

  [P.Op.GETLK]: (s, r) => {
    const a = P.decodeLk(r.buf, r.off, r.end);
    lkReply(s, r, s.fs.getlk(a.fh, ownerKey(a.owner), a));
  },

  [P.Op.SETLK]: (s, r) => {
    const a = P.decodeLk(r.buf, r.off, r.end);
    statusReply(s, r, s.fs.setlk(a.fh, ownerKey(a.owner), a, (a.lkFlags & P.LkFlag.FLOCK) !== 0));
  },

  [P.Op.SETLKW]: (s, r) => {
    const a = P.decodeLk(r.buf, r.off, r.end);
    const isFlock = (a.lkFlags & P.LkFlag.FLOCK) !== 0;
    const token = r.token;
    s.locks.wait(`${r.h.uniqueHi}:${r.h.uniqueLo}`,
      () => s.fs.setlk(a.fh, ownerKey(a.owner), a, isFlock),
      (res) => s.replier.status(token, res));
  },

  [P.Op.ACCESS]: (s, r) => statusReply(s, r, s.fs.access(r.h.nodeid, P.decodeAccess(r.buf, r.off, r.end).mask)),

  [P.Op.INTERRUPT]: (s, r) => {
    const a = P.decodeInterrupt(r.buf, r.off, r.end);
    s.locks.interrupt(`${a.uniqueHi}:${a.uniqueLo}`);
    s.channel.done(r.token);
  },

  [P.Op.DESTROY]: (s, r) => {
    s.locks.interruptAll();
    s.stop();
    s.replier.status(r.token, 0);
  },

  [P.Op.FALLOCATE]: (s, r) => {
    const a = P.decodeFallocate(r.buf, r.off, r.end);
    fileJob(s, r, s.fs.fallocate(a.fh, a.mode, a.offset, a.length));
  },

  [P.Op.LSEEK]: (s, r) => {
    const a = P.decodeLseek(r.buf, r.off, r.end);
    const pos = s.fs.lseek(a.fh, a.offset, a.whence);
    if (typeof pos !== 'number') return fileJob(s, r, pos);
    if (pos < 0) return s.replier.error(r.token, -pos);
    s.replier.send(r.token, P.writeLseekOut(s.replier.out, s.replier.body, pos));
  },

  [P.Op.COPY_FILE_RANGE]: (s, r) => copyRange(s, r, false),
  [P.Op.COPY_FILE_RANGE_64]: (s, r) => copyRange(s, r, true),

  [P.Op.STATX]: (s, r) => {
    const a = P.decodeStatx(r.buf, r.off, r.end);
    statxReply(s, r, s.fs.statx(r.h.nodeid, a.sxMask));
  },

  [P.Op.SYNCFS]: (s, r) => fileJob(s, r, s.fs.syncfs(r.h.nodeid)),

  // The answer to a notification we never send: nothing to do, and no reply is expected.
  [P.Op.NOTIFY_REPLY]: (s, r) => s.channel.done(r.token),
};

/** A number: the length written at the reply's body, or -errno; a Buffer: the target, from the
 *  pool (copied into the reply buffer only now: other replies used it meanwhile). */
function readlinkReply(s: ServerParts, r: Req, n: number | Buffer | Promise<Buffer | number>): void {
  if (n instanceof Promise) return later(s, r, n, (v) => readlinkReply(s, r, v));
  if (typeof n !== 'number') s.replier.bytes(r.token, n.copy(s.replier.out, s.replier.body));
  else if (n < 0) s.replier.error(r.token, -n);
  else s.replier.bytes(r.token, n);
}

function statfsReply(s: ServerParts, r: Req, v: Later<P.Statfs | number>): void {
  if (v instanceof Promise) return later(s, r, v, (w) => statfsReply(s, r, w));
  if (typeof v === 'number') return s.replier.error(r.token, -v);
  s.replier.send(r.token, P.writeStatfsOut(s.replier.out, s.replier.body, v));
}

function entryReply(s: ServerParts, r: Req, e: Later<P.EntryOut | number>): void {
  if (e instanceof Promise) return later(s, r, e, (v) => entryReply(s, r, v));
  if (typeof e === 'number') s.replier.error(r.token, -e);
  else s.replier.entry(r.token, e);
}

function createReply(s: ServerParts, r: Req, c: Later<CreateReply | number>): void {
  if (c instanceof Promise) return later(s, r, c, (v) => createReply(s, r, v));
  if (typeof c === 'number') s.replier.error(r.token, -c);
  else s.replier.create(r.token, c.entry, c.open.fh, c.open.openFlags, c.open.backingId);
}

function attrReply(s: ServerParts, r: Req, a: Later<P.Attr | number>): void {
  if (a instanceof Promise) return later(s, r, a, (v) => attrReply(s, r, v));
  if (typeof a === 'number') s.replier.error(r.token, -a);
  else s.replier.attr(r.token, s.fs.timeout, a);
}

function openReply(s: ServerParts, r: Req, o: Later<OpenReply | number>): void {
  if (o instanceof Promise) return later(s, r, o, (v) => openReply(s, r, v));
  if (typeof o === 'number') s.replier.error(r.token, -o);
  else s.replier.open(r.token, o.fh, o.openFlags, o.backingId);
}

function opendirReply(s: ServerParts, r: Req, fh: Later<number>): void {
  if (fh instanceof Promise) return later(s, r, fh, (v) => opendirReply(s, r, v));
  if (fh < 0) s.replier.error(r.token, -fh);
  else s.replier.open(r.token, fh, s.opts.cacheAlways ? P.Fopen.CACHE_DIR | P.Fopen.KEEP_CACHE : 0, 0);
}

function statxReply(s: ServerParts, r: Req, x: Later<P.FuseStatx | number>): void {
  if (x instanceof Promise) return later(s, r, x, (v) => statxReply(s, r, v));
  if (typeof x === 'number') return s.replier.error(r.token, -x);
  s.replier.send(r.token, P.writeStatxOut(s.replier.out, s.replier.body, s.fs.timeout, 0, 0, x));
}

function lkReply(s: ServerParts, r: Req, l: Later<FileLock | number>): void {
  if (l instanceof Promise) return later(s, r, l, (v) => lkReply(s, r, v));
  if (typeof l === 'number') return s.replier.error(r.token, -l);
  s.replier.send(r.token, P.writeLkOut(s.replier.out, s.replier.body, l.start, l.end, l.type, l.pid));
}

function statusReply(s: ServerParts, r: Req, e: Later<number>): void {
  if (e instanceof Promise) return later(s, r, e, (v) => s.replier.status(r.token, v));
  s.replier.status(r.token, e);
}

function xattrReply(s: ServerParts, r: Req, size: number, read: (out: Buffer) => number | Promise<Buffer | number>): void {
  const body = s.replier.body;
  xattrAnswer(s, r, size, read(size === 0 ? s.replier.out.subarray(body, body) : s.replier.out.subarray(body)));
}

/** A number: the length written at the reply's body (a size query: the size), or -errno; a
 *  Buffer: the bytes, from the pool (copied into the reply buffer only now: other replies used
 *  it meanwhile). */
function xattrAnswer(s: ServerParts, r: Req, size: number, n: number | Buffer | Promise<Buffer | number>): void {
  if (n instanceof Promise) return later(s, r, n, (v) => xattrAnswer(s, r, size, v));
  if (typeof n !== 'number') return s.replier.bytes(r.token, n.copy(s.replier.out, s.replier.body));
  if (n < 0) return s.replier.error(r.token, -n);
  if (size === 0) return s.replier.send(r.token, P.writeGetxattrOut(s.replier.out, s.replier.body, n));
  s.replier.bytes(r.token, n);
}

function copyRange(s: ServerParts, r: Req, wide: boolean): void {
  const a = P.decodeCopyFileRange(r.buf, r.off, r.end);
  fileJob(s, r, s.fs.copyFileRange(a.fhIn, a.offIn, a.fhOut, a.offOut, a.len, a.flags, wide));
}

/** Hands a request that may block to the transport's worker pool; it answers when done. The
 *  caller's uid decides killPriv: the worker is root, and a write by anyone else would clear
 *  suid/sgid (FALLOCATE, COPY_FILE_RANGE modify the file). */
function fileJob(s: ServerParts, r: Req, j: FileJob | number): void {
  // A number is the answer itself: -errno, or 0 when nothing was left to do (a FLUSH where a
  // close cannot report anything).
  if (typeof j === 'number') return s.replier.status(r.token, j);
  const rc = s.channel.fileJob(r.token, j.op, j.fd, j.fd2, j.a, j.b, j.c, DataPath.Pool, r.h.uid !== 0);
  s.fs.jobPosted(j);
  if (rc < 0) s.replier.error(r.token, -rc);
}
