// Encoders for every FUSE 7.45 reply payload, directory entries and the notifications we send.
//
// Conventions: writeX(buf, off, ...) writes at `off` into a caller-provided Buffer and returns
// the offset just past what it wrote; nothing allocates, so a reply buffer can be reused for
// every request. The caller makes sure the space is there (Buffer throws RangeError rather than
// write out of bounds). Padding and reserved fields are always written as zeros: a reused buffer
// must never leak the bytes of an earlier reply to the guest.
//
// A reply is writeOutHeader() followed by one payload writer (CREATE and TMPFILE: writeEntryOut
// then writeOpenOut). The native side overwrites the header's len and unique itself.
// Replies carried as raw bytes (READ, READLINK, GETXATTR/LISTXATTR with data, IOCTL data) have
// no writer here. SETUPMAPPING, REMOVEMAPPING and the no-data ops answer with the header only.
//
// Numbers: u64 fields are written exactly for every integral double (see wire.ts); inode
// numbers above 2^53 cannot be held exactly in a JS number in the first place. Times and loff_t
// values are written as signed 64-bit (times before 1970 stay negative; OFFSET_MAX round-trips).
//
// Exports: Attr, EntryOut, Statfs, FuseStatx, SxTime, InitOut, writeOutHeader, writeAttr,
// writeEntryOut, writeAttrOut, writeOpenOut, writeWriteOut, writeStatfsOut, initOutSize,
// writeInitOut, writeCuseInitOut, writeLkOut, writeBmapOut, writeLseekOut, writeGetxattrOut,
// writeStatx, writeStatxOut, writeIoctlOut, writeIoctlIovec, writePollOut,
// writeCopyFileRangeOut, direntSize, writeDirent, direntplusSize, writeDirentplus,
// writeNotifyPollWakeup, writeNotifyInvalInode, writeNotifyInvalEntry, writeNotifyDelete,
// writeNotifyStore, writeNotifyRetrieve, writeNotifyResend, writeNotifyIncEpoch, writeNotifyPrune.

import { Size, OUT_HEADER_SIZE, align8 } from './layout';
import { NotifyCode } from './opcodes';
import { MAX_ERRNO } from './errno';
import { room, setU32 } from './bytes';
import { writeU64, writeI64, writeIno, zeroFill, type InoValue } from './wire';

/** struct fuse_attr. rdev is in new_encode_dev form (encodeRdev). flags: AttrFlag bits. */
export interface Attr {
  ino: InoValue;
  size: number;
  blocks: number;
  atime: number;
  mtime: number;
  ctime: number;
  atimensec: number;
  mtimensec: number;
  ctimensec: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  blksize: number;
  flags: number;
}

/** struct fuse_entry_out. nodeid 0 with entryValid > 0 is a cacheable negative entry. */
export interface EntryOut {
  nodeid: number;
  generation: number;
  entryValid: number;
  entryValidNsec: number;
  attrValid: number;
  attrValidNsec: number;
  attr: Attr;
}

/** struct fuse_kstatfs (the fields that carry meaning). */
export interface Statfs {
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  bsize: number;
  namelen: number;
  frsize: number;
}

export interface SxTime {
  sec: number;
  nsec: number;
}

/** struct fuse_statx: the statx(2) result the guest sees. */
export interface FuseStatx {
  mask: number;
  blksize: number;
  attributes: number;
  nlink: number;
  uid: number;
  gid: number;
  mode: number;
  ino: InoValue;
  size: number;
  blocks: number;
  attributesMask: number;
  atime: SxTime;
  btime: SxTime;
  ctime: SxTime;
  mtime: SxTime;
  rdevMajor: number;
  rdevMinor: number;
  devMajor: number;
  devMinor: number;
}

/** struct fuse_init_out (see init.ts for how it is negotiated). */
export interface InitOut {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: number;
  maxBackground: number;
  congestionThreshold: number;
  maxWrite: number;
  timeGran: number;
  maxPages: number;
  mapAlignment: number;
  flags2: number;
  maxStackDepth: number;
  requestTimeout: number;
}

/** fuse_out_header: len, error = -errno (errno 0 for success), unique zeroed (the native side
 *  fills len and unique for replies). errno must be 0..511: anything else would make the
 *  kernel fail the request with EINVAL instead, so it is a bug here and throws RangeError. */
export function writeOutHeader(buf: Buffer, off: number, len: number, errno: number): number {
  room(buf, off, 16);
  if (!(errno >= 0 && errno <= MAX_ERRNO) || !Number.isInteger(errno)) throw new RangeError(`errno ${errno} out of range`);
  setU32(buf, off, len);
  setU32(buf, off + 4, -errno | 0);
  setU32(buf, off + 8, 0);
  setU32(buf, off + 12, 0);
  return off + OUT_HEADER_SIZE;
}

/** struct fuse_attr (88 bytes). */
export function writeAttr(buf: Buffer, off: number, a: Attr): number {
  room(buf, off, 88);
  writeIno(buf, off, a.ino);
  writeU64(buf, off + 8, a.size);
  writeU64(buf, off + 16, a.blocks);
  writeI64(buf, off + 24, a.atime);
  writeI64(buf, off + 32, a.mtime);
  writeI64(buf, off + 40, a.ctime);
  setU32(buf, off + 48, a.atimensec >>> 0);
  setU32(buf, off + 52, a.mtimensec >>> 0);
  setU32(buf, off + 56, a.ctimensec >>> 0);
  setU32(buf, off + 60, a.mode >>> 0);
  setU32(buf, off + 64, a.nlink >>> 0);
  setU32(buf, off + 68, a.uid >>> 0);
  setU32(buf, off + 72, a.gid >>> 0);
  setU32(buf, off + 76, a.rdev >>> 0);
  setU32(buf, off + 80, a.blksize >>> 0);
  setU32(buf, off + 84, a.flags >>> 0);
  return off + Size.ATTR;
}

/** struct fuse_entry_out (128 bytes; the 120-byte compat form is for minors < 9, which we
 *  never negotiate). Answers LOOKUP, MKNOD, MKDIR, SYMLINK, LINK, and begins CREATE/TMPFILE. */
export function writeEntryOut(buf: Buffer, off: number, e: EntryOut): number {
  room(buf, off, 128);
  writeU64(buf, off, e.nodeid);
  writeU64(buf, off + 8, e.generation);
  writeU64(buf, off + 16, e.entryValid);
  writeU64(buf, off + 24, e.attrValid);
  setU32(buf, off + 32, e.entryValidNsec >>> 0);
  setU32(buf, off + 36, e.attrValidNsec >>> 0);
  return writeAttr(buf, off + 40, e.attr);
}

/** struct fuse_attr_out (104 bytes): GETATTR, SETATTR. */
export function writeAttrOut(buf: Buffer, off: number, attrValid: number, attrValidNsec: number, attr: Attr): number {
  room(buf, off, 104);
  writeU64(buf, off, attrValid);
  setU32(buf, off + 8, attrValidNsec >>> 0);
  setU32(buf, off + 12, 0);
  return writeAttr(buf, off + 16, attr);
}

/** struct fuse_open_out (16 bytes): OPEN, OPENDIR, and the tail of CREATE/TMPFILE. backingId
 *  (signed) matters only with Fopen.PASSTHROUGH; pass 0 otherwise. */
export function writeOpenOut(buf: Buffer, off: number, fh: number, openFlags: number, backingId: number): number {
  room(buf, off, 16);
  writeU64(buf, off, fh);
  setU32(buf, off + 8, openFlags >>> 0);
  setU32(buf, off + 12, backingId | 0);
  return off + Size.OPEN_OUT;
}

/** struct fuse_write_out (8 bytes): WRITE, and COPY_FILE_RANGE (bytes copied, u32). */
export function writeWriteOut(buf: Buffer, off: number, size: number): number {
  buf.writeUInt32LE(size >>> 0, off);
  buf.writeUInt32LE(0, off + 4);
  return off + Size.WRITE_OUT;
}

/** struct fuse_copy_file_range_out (8 bytes): COPY_FILE_RANGE_64 (7.45). */
export function writeCopyFileRangeOut(buf: Buffer, off: number, bytesCopied: number): number {
  return writeU64(buf, off, bytesCopied);
}

/** struct fuse_statfs_out = fuse_kstatfs (80 bytes). */
export function writeStatfsOut(buf: Buffer, off: number, s: Statfs): number {
  writeU64(buf, off, s.blocks);
  writeU64(buf, off + 8, s.bfree);
  writeU64(buf, off + 16, s.bavail);
  writeU64(buf, off + 24, s.files);
  writeU64(buf, off + 32, s.ffree);
  buf.writeUInt32LE(s.bsize >>> 0, off + 40);
  buf.writeUInt32LE(s.namelen >>> 0, off + 44);
  buf.writeUInt32LE(s.frsize >>> 0, off + 48);
  zeroFill(buf, off + 52, off + Size.STATFS_OUT); // padding, spare[6]
  return off + Size.STATFS_OUT;
}

/** Size of fuse_init_out a kernel of this minor expects: 8 before 7.5, 24 before 7.23, 64 since. */
export function initOutSize(minor: number): number {
  if (minor < 5) return Size.COMPAT_INIT_OUT;
  if (minor < 23) return Size.COMPAT_22_INIT_OUT;
  return Size.INIT_OUT;
}

/** struct fuse_init_out, cut to the size a kernel of `minor` expects (initOutSize). */
export function writeInitOut(buf: Buffer, off: number, o: InitOut, minor: number): number {
  const size = initOutSize(minor);
  buf.writeUInt32LE(o.major >>> 0, off);
  buf.writeUInt32LE(o.minor >>> 0, off + 4);
  if (size === Size.COMPAT_INIT_OUT) return off + size;
  buf.writeUInt32LE(o.maxReadahead >>> 0, off + 8);
  buf.writeUInt32LE(o.flags >>> 0, off + 12);
  buf.writeUInt16LE(o.maxBackground & 0xffff, off + 16);
  buf.writeUInt16LE(o.congestionThreshold & 0xffff, off + 18);
  buf.writeUInt32LE(o.maxWrite >>> 0, off + 20);
  if (size === Size.COMPAT_22_INIT_OUT) return off + size;
  buf.writeUInt32LE(o.timeGran >>> 0, off + 24);
  buf.writeUInt16LE(o.maxPages & 0xffff, off + 28);
  buf.writeUInt16LE(o.mapAlignment & 0xffff, off + 30);
  buf.writeUInt32LE(o.flags2 >>> 0, off + 32);
  buf.writeUInt32LE(o.maxStackDepth >>> 0, off + 36);
  buf.writeUInt16LE(o.requestTimeout & 0xffff, off + 40);
  zeroFill(buf, off + 42, off + Size.INIT_OUT); // unused[11]
  return off + Size.INIT_OUT;
}

/** struct cuse_init_out (72 bytes). */
export function writeCuseInitOut(
  buf: Buffer, off: number, major: number, minor: number, flags: number,
  maxRead: number, maxWrite: number, devMajor: number, devMinor: number,
): number {
  buf.writeUInt32LE(major >>> 0, off);
  buf.writeUInt32LE(minor >>> 0, off + 4);
  buf.writeUInt32LE(0, off + 8);
  buf.writeUInt32LE(flags >>> 0, off + 12);
  buf.writeUInt32LE(maxRead >>> 0, off + 16);
  buf.writeUInt32LE(maxWrite >>> 0, off + 20);
  buf.writeUInt32LE(devMajor >>> 0, off + 24);
  buf.writeUInt32LE(devMinor >>> 0, off + 28);
  zeroFill(buf, off + 32, off + Size.CUSE_INIT_OUT);
  return off + Size.CUSE_INIT_OUT;
}

/** struct fuse_lk_out (24 bytes): GETLK. end = OFFSET_MAX means "to end of file". */
export function writeLkOut(buf: Buffer, off: number, start: number, end: number, type: number, pid: number): number {
  writeI64(buf, off, start);
  writeI64(buf, off + 8, end);
  buf.writeUInt32LE(type >>> 0, off + 16);
  buf.writeUInt32LE(pid >>> 0, off + 20);
  return off + Size.LK_OUT;
}

/** struct fuse_bmap_out (8 bytes). */
export function writeBmapOut(buf: Buffer, off: number, block: number): number {
  return writeU64(buf, off, block);
}

/** struct fuse_lseek_out (8 bytes). */
export function writeLseekOut(buf: Buffer, off: number, offset: number): number {
  return writeI64(buf, off, offset);
}

/** struct fuse_getxattr_out (8 bytes): GETXATTR/LISTXATTR asked with size 0. */
export function writeGetxattrOut(buf: Buffer, off: number, size: number): number {
  buf.writeUInt32LE(size >>> 0, off);
  buf.writeUInt32LE(0, off + 4);
  return off + Size.GETXATTR_OUT;
}

function writeSxTime(buf: Buffer, off: number, t: SxTime): void {
  writeI64(buf, off, t.sec);
  buf.writeUInt32LE(t.nsec >>> 0, off + 8);
  buf.writeInt32LE(0, off + 12);
}

/** struct fuse_statx (256 bytes). */
export function writeStatx(buf: Buffer, off: number, s: FuseStatx): number {
  buf.writeUInt32LE(s.mask >>> 0, off);
  buf.writeUInt32LE(s.blksize >>> 0, off + 4);
  writeU64(buf, off + 8, s.attributes);
  buf.writeUInt32LE(s.nlink >>> 0, off + 16);
  buf.writeUInt32LE(s.uid >>> 0, off + 20);
  buf.writeUInt32LE(s.gid >>> 0, off + 24);
  buf.writeUInt16LE(s.mode & 0xffff, off + 28);
  buf.writeUInt16LE(0, off + 30);
  writeIno(buf, off + 32, s.ino);
  writeU64(buf, off + 40, s.size);
  writeU64(buf, off + 48, s.blocks);
  writeU64(buf, off + 56, s.attributesMask);
  writeSxTime(buf, off + 64, s.atime);
  writeSxTime(buf, off + 80, s.btime);
  writeSxTime(buf, off + 96, s.ctime);
  writeSxTime(buf, off + 112, s.mtime);
  buf.writeUInt32LE(s.rdevMajor >>> 0, off + 128);
  buf.writeUInt32LE(s.rdevMinor >>> 0, off + 132);
  buf.writeUInt32LE(s.devMajor >>> 0, off + 136);
  buf.writeUInt32LE(s.devMinor >>> 0, off + 140);
  zeroFill(buf, off + 144, off + Size.STATX); // __spare2[14]
  return off + Size.STATX;
}

/** struct fuse_statx_out (288 bytes): STATX. flags is reserved (0 today). */
export function writeStatxOut(buf: Buffer, off: number, attrValid: number, attrValidNsec: number, flags: number, s: FuseStatx): number {
  writeU64(buf, off, attrValid);
  buf.writeUInt32LE(attrValidNsec >>> 0, off + 8);
  buf.writeUInt32LE(flags >>> 0, off + 12);
  zeroFill(buf, off + 16, off + 32); // spare[2]
  return writeStatx(buf, off + 32, s);
}

/** struct fuse_ioctl_out (16 bytes); output data (or iovecs on retry) follows. */
export function writeIoctlOut(buf: Buffer, off: number, result: number, flags: number, inIovs: number, outIovs: number): number {
  buf.writeInt32LE(result | 0, off);
  buf.writeUInt32LE(flags >>> 0, off + 4);
  buf.writeUInt32LE(inIovs >>> 0, off + 8);
  buf.writeUInt32LE(outIovs >>> 0, off + 12);
  return off + Size.IOCTL_OUT;
}

/** struct fuse_ioctl_iovec (16 bytes), for FUSE_IOCTL_RETRY answers. */
export function writeIoctlIovec(buf: Buffer, off: number, base: bigint, len: number): number {
  buf.writeBigUInt64LE(BigInt.asUintN(64, base), off);
  return writeU64(buf, off + 8, len);
}

/** struct fuse_poll_out (8 bytes). */
export function writePollOut(buf: Buffer, off: number, revents: number): number {
  buf.writeUInt32LE(revents >>> 0, off);
  buf.writeUInt32LE(0, off + 4);
  return off + Size.POLL_OUT;
}

// ---------------------------------------------------------------------------------------------
// Directory entries (READDIR, READDIRPLUS). Each record is 8-byte aligned; a record that does
// not fit the reply size must not be written at all (check the size first).

/** Bytes one fuse_dirent with a name of nameLen bytes takes, padding included. */
export function direntSize(nameLen: number): number {
  return align8(Size.DIRENT + nameLen);
}

/** struct fuse_dirent: ino, off (the cookie for the next READDIR), namelen, type (DirentType),
 *  name (no NUL), zero padding to 8. */
export function writeDirent(buf: Buffer, off: number, ino: InoValue, offset: number, type: number, name: Uint8Array): number {
  buf.set(name, off + Size.DIRENT);
  return finishDirent(buf, off, ino, offset, type, name.length);
}

/** writeDirent with the name taken from src[start, end): READDIR copies names straight from the
 *  getdents buffer, with no view object per entry. */
export function writeDirentFrom(
  buf: Buffer, off: number, ino: InoValue, offset: number, type: number, src: Buffer, start: number, end: number,
): number {
  const at = off + Size.DIRENT;
  // Most names are short: copying them byte by byte beats a native call per entry.
  if (end - start <= 32) for (let i = start; i < end; i++) buf[at + i - start] = src[i];
  else src.copy(buf, at, start, end);
  return finishDirent(buf, off, ino, offset, type, end - start);
}

/** The fixed part and the padding around a name already in place. */
function finishDirent(buf: Buffer, off: number, ino: InoValue, offset: number, type: number, len: number): number {
  writeIno(buf, off, ino);
  writeU64(buf, off + 8, offset);
  buf.writeUInt32LE(len, off + 16);
  buf.writeUInt32LE(type >>> 0, off + 20);
  const next = off + direntSize(len);
  zeroFill(buf, off + Size.DIRENT + len, next);
  return next;
}

/** Bytes one fuse_direntplus with a name of nameLen bytes takes, padding included. */
export function direntplusSize(nameLen: number): number {
  return align8(Size.DIRENTPLUS + nameLen);
}

/** struct fuse_direntplus: fuse_entry_out then fuse_dirent. The kernel takes a lookup
 *  reference for every entry with a nonzero nodeid it receives. */
export function writeDirentplus(
  buf: Buffer, off: number, e: EntryOut, ino: InoValue, offset: number, type: number, name: Uint8Array,
): number {
  writeEntryOut(buf, off, e);
  return writeDirent(buf, off + Size.ENTRY_OUT, ino, offset, type, name);
}

// ---------------------------------------------------------------------------------------------
// Notifications: unsolicited messages to the kernel. The header is complete here (len, error =
// the notify code, unique = 0): no request token is involved.

function writeNotifyHeader(buf: Buffer, off: number, len: number, code: number): number {
  buf.writeUInt32LE(len, off);
  buf.writeInt32LE(code, off + 4);
  buf.writeUInt32LE(0, off + 8);
  buf.writeUInt32LE(0, off + 12);
  return off + OUT_HEADER_SIZE;
}

/** FUSE_NOTIFY_POLL: wake the poller with kernel handle kh (from POLL). */
export function writeNotifyPollWakeup(buf: Buffer, off: number, kh: bigint): number {
  const p = writeNotifyHeader(buf, off, OUT_HEADER_SIZE + Size.NOTIFY_POLL_WAKEUP_OUT, NotifyCode.POLL);
  buf.writeBigUInt64LE(BigInt.asUintN(64, kh), p);
  return p + 8;
}

/** FUSE_NOTIFY_INVAL_INODE: drop cached attributes, and data in [fileOff, fileOff+len)
 *  (len 0 = to the end; fileOff -1 = attributes only). */
export function writeNotifyInvalInode(buf: Buffer, off: number, nodeid: number, fileOff: number, len: number): number {
  const p = writeNotifyHeader(buf, off, OUT_HEADER_SIZE + Size.NOTIFY_INVAL_INODE_OUT, NotifyCode.INVAL_INODE);
  writeU64(buf, p, nodeid);
  writeI64(buf, p + 8, fileOff);
  writeI64(buf, p + 16, len);
  return p + Size.NOTIFY_INVAL_INODE_OUT;
}

/** FUSE_NOTIFY_INVAL_ENTRY: forget the dentry `name` in `parent`. The kernel wants exactly
 *  header + struct + name + NUL (no padding). flags: NotifyInvalEntryFlag (EXPIRE_ONLY). */
export function writeNotifyInvalEntry(buf: Buffer, off: number, parent: number, name: Uint8Array, flags: number): number {
  const p = writeNotifyHeader(buf, off, OUT_HEADER_SIZE + Size.NOTIFY_INVAL_ENTRY_OUT + name.length + 1, NotifyCode.INVAL_ENTRY);
  writeU64(buf, p, parent);
  buf.writeUInt32LE(name.length, p + 8);
  buf.writeUInt32LE(flags >>> 0, p + 12);
  buf.set(name, p + Size.NOTIFY_INVAL_ENTRY_OUT);
  const nul = p + Size.NOTIFY_INVAL_ENTRY_OUT + name.length;
  buf[nul] = 0;
  return nul + 1;
}

/** FUSE_NOTIFY_DELETE: `name` in `parent`, which was `child`, is gone. Exact size as above. */
export function writeNotifyDelete(buf: Buffer, off: number, parent: number, child: number, name: Uint8Array): number {
  const p = writeNotifyHeader(buf, off, OUT_HEADER_SIZE + Size.NOTIFY_DELETE_OUT + name.length + 1, NotifyCode.DELETE);
  writeU64(buf, p, parent);
  writeU64(buf, p + 8, child);
  buf.writeUInt32LE(name.length, p + 16);
  buf.writeUInt32LE(0, p + 20);
  buf.set(name, p + Size.NOTIFY_DELETE_OUT);
  const nul = p + Size.NOTIFY_DELETE_OUT + name.length;
  buf[nul] = 0;
  return nul + 1;
}

/** FUSE_NOTIFY_STORE header and struct; the caller puts `size` data bytes at the returned
 *  offset (the header's len already counts them). */
export function writeNotifyStore(buf: Buffer, off: number, nodeid: number, fileOff: number, size: number): number {
  const p = writeNotifyHeader(buf, off, OUT_HEADER_SIZE + Size.NOTIFY_STORE_OUT + size, NotifyCode.STORE);
  writeU64(buf, p, nodeid);
  writeU64(buf, p + 8, fileOff);
  buf.writeUInt32LE(size >>> 0, p + 16);
  buf.writeUInt32LE(0, p + 20);
  return p + Size.NOTIFY_STORE_OUT;
}

/** FUSE_NOTIFY_RETRIEVE: ask for cached data; the kernel answers with a NOTIFY_REPLY request
 *  whose unique is notifyUnique. */
export function writeNotifyRetrieve(
  buf: Buffer, off: number, notifyUnique: number, nodeid: number, fileOff: number, size: number,
): number {
  const p = writeNotifyHeader(buf, off, OUT_HEADER_SIZE + Size.NOTIFY_RETRIEVE_OUT, NotifyCode.RETRIEVE);
  writeU64(buf, p, notifyUnique);
  writeU64(buf, p + 8, nodeid);
  writeU64(buf, p + 16, fileOff);
  buf.writeUInt32LE(size >>> 0, p + 24);
  buf.writeUInt32LE(0, p + 28);
  return p + Size.NOTIFY_RETRIEVE_OUT;
}

/** FUSE_NOTIFY_RESEND (7.40): ask the kernel to resend every pending request. */
export function writeNotifyResend(buf: Buffer, off: number): number {
  return writeNotifyHeader(buf, off, OUT_HEADER_SIZE, NotifyCode.RESEND);
}

/** FUSE_NOTIFY_INC_EPOCH (7.44): invalidate every dentry cached before now. */
export function writeNotifyIncEpoch(buf: Buffer, off: number): number {
  return writeNotifyHeader(buf, off, OUT_HEADER_SIZE, NotifyCode.INC_EPOCH);
}

/** FUSE_NOTIFY_PRUNE (7.45): ask the kernel to drop unused inodes: fuse_notify_prune_out
 *  {count, padding, spare} then count u64 node ids. */
export function writeNotifyPrune(buf: Buffer, off: number, nodeids: readonly number[]): number {
  const len = OUT_HEADER_SIZE + Size.NOTIFY_PRUNE_OUT + 8 * nodeids.length;
  let p = writeNotifyHeader(buf, off, len, NotifyCode.PRUNE);
  buf.writeUInt32LE(nodeids.length, p);
  zeroFill(buf, p + 4, p + Size.NOTIFY_PRUNE_OUT);
  p += Size.NOTIFY_PRUNE_OUT;
  for (const id of nodeids) p = writeU64(buf, p, id);
  return p;
}
