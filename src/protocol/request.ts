// Decoders for every FUSE 7.45 request: the 40-byte fuse_in_header, each opcode's body, and the
// request extensions (7.38+) that trail it.
//
// Conventions (the same for every decoder):
//  - decodeX(buf, off, end) reads the body that starts at `off` (just after the in header) and
//    ends at `end` (exclusive). Pass as `end` the `bodyEnd` from decodeExtensions() so trailing
//    extension records are never mistaken for body bytes. `end` is also clamped to buf.length.
//  - A body shorter than its struct, a name without its NUL inside [off, end), an empty name, an
//    entry name with '/' (or "."/".." where a new or removed entry is named) or a count that
//    runs past `end` throws ProtocolError (errno EINVAL). Nothing is read outside [off, end).
//    Bytes after the last field are ignored (newer kernels may append fields).
//  - Names and values are Buffer views into the request (no copy, no NUL, never JS strings).
//    They are valid only as long as the inbox bytes are (during onBatch).
//  - u64 ids, handles, offsets and sizes are JS numbers (see wire.ts for exactness: a hostile
//    id >= 2^53 matches nothing); signed fields (times, loff_t) are read as signed; lock owners,
//    ioctl args and poll handles are opaque 64-bit cookies we must echo or compare exactly, so
//    they are bigint (none of them is on the hot path).
//  - Every structure has been full size since 7.23 and we negotiate at least 7.27, so no decoder
//    needs the minor; only SETXATTR depends on the negotiated FUSE_SETXATTR_EXT flag.
//
// Opcodes without a body: READLINK, STATFS, DESTROY (and FORGET-like ops are below).
// Shared decoders: decodeOpen (OPEN, OPENDIR), decodeRead (READ, READDIR, READDIRPLUS),
// decodeRelease (RELEASE, RELEASEDIR), decodeFsync (FSYNC, FSYNCDIR), decodeLk (GETLK, SETLK,
// SETLKW), decodeCopyFileRange (COPY_FILE_RANGE, COPY_FILE_RANGE_64), decodeEntryName (UNLINK,
// RMDIR; aliases decodeUnlink, decodeRmdir).

import { Size, IN_HEADER_SIZE } from './layout';
import { u16, u32 } from './bytes';
import { ExtType, UNIQUE_RESEND_HI } from './flags';
import { ProtocolError, readU64, readI64, checkBody, readName, NameRule } from './wire';

export interface InHeader {
  len: number;
  opcode: number;
  /** fuse_in_header.unique as two u32: the native side answers by it, we only log/compare it. */
  uniqueLo: number;
  uniqueHi: number;
  nodeid: number;
  uid: number;
  gid: number;
  pid: number;
  /** Length of the trailing extension records in 8-byte units (7.38+; 0 before). */
  totalExtlen: number;
}

/** Reads the fuse_in_header at off. Throws ProtocolError if fewer than 40 bytes are there. The
 *  caller checks `len` against the length the transport delivered. */
export function readInHeader(buf: Buffer, off: number): InHeader {
  checkBody(buf, off, off + IN_HEADER_SIZE, IN_HEADER_SIZE, 'in header');
  return {
    len: u32(buf, off),
    opcode: u32(buf, off + 4),
    uniqueLo: u32(buf, off + 8),
    uniqueHi: u32(buf, off + 12),
    nodeid: readU64(buf, off + 16),
    uid: u32(buf, off + 24),
    gid: u32(buf, off + 28),
    pid: u32(buf, off + 32),
    totalExtlen: u16(buf, off + 36),
  };
}

/** True if the kernel marked this request as a resend (FUSE_UNIQUE_RESEND, bit 63 of unique). */
export function isResend(h: InHeader): boolean {
  return (h.uniqueHi & UNIQUE_RESEND_HI) !== 0;
}

// ---------------------------------------------------------------------------------------------
// Extensions

export interface SecCtx {
  /** LSM xattr name, e.g. "security.selinux" (bytes, without NUL). */
  name: Buffer;
  /** The context label exactly as sent (fuse_secctx.size bytes). */
  value: Buffer;
}

export interface Extensions {
  /** Where the body ends: the request end minus the extension records. */
  bodyEnd: number;
  /** FUSE_EXT_GROUPS: supplementary groups of the caller, or null if absent. */
  groups: number[] | null;
  /** Security contexts (FUSE_SECURITY_CTX), or null if no secctx record was sent. An empty
   *  array means the kernel sent the record with nr_secctx = 0. */
  secctx: SecCtx[] | null;
}

/** Splits off and parses the extension records: the last totalExtlen*8 bytes of [off, end),
 *  where off is the body start and end the request end. With totalExtlen = 0 it just returns
 *  { bodyEnd: end, groups: null, secctx: null }. Every record length is checked against what
 *  is left (a hostile size could otherwise walk us past the request); unknown types are
 *  skipped; a second GROUPS or secctx record is refused as ambiguous. */
export function decodeExtensions(buf: Buffer, off: number, end: number, totalExtlen: number): Extensions {
  end = Math.min(end, buf.length);
  const extLen = totalExtlen * 8;
  if (extLen > end - off) throw new ProtocolError(`extensions: ${extLen} bytes in a body of ${Math.max(0, end - off)}`);
  const bodyEnd = end - extLen;
  const out: Extensions = { bodyEnd, groups: null, secctx: null };
  let p = bodyEnd;
  while (p < end) {
    if (end - p < Size.EXT_HEADER) throw new ProtocolError('extensions: truncated header');
    const size = buf.readUInt32LE(p);
    const type = buf.readUInt32LE(p + 4);
    if (size < Size.EXT_HEADER || size % 8 !== 0 || size > end - p) {
      throw new ProtocolError(`extensions: bad record size ${size} (${end - p} bytes left)`);
    }
    const recEnd = p + size;
    if (type === ExtType.GROUPS) {
      if (out.groups) throw new ProtocolError('extensions: two group records');
      if (size < Size.EXT_HEADER + Size.SUPP_GROUPS) throw new ProtocolError('extensions: group record too short');
      const nr = buf.readUInt32LE(p + 8);
      // Compare counts, not nr*4 against size: a hostile nr near 2^32 must not overflow anything.
      if (nr > (size - Size.EXT_HEADER - Size.SUPP_GROUPS) / 4) throw new ProtocolError(`extensions: ${nr} groups do not fit`);
      const groups = new Array<number>(nr);
      for (let i = 0; i < nr; i++) groups[i] = buf.readUInt32LE(p + 12 + 4 * i);
      out.groups = groups;
    } else if (type <= ExtType.MAX_NR_SECCTX) {
      if (out.secctx) throw new ProtocolError('extensions: two security context records');
      out.secctx = readSecctxList(buf, p, recEnd, type);
    }
    p = recEnd;
  }
  return out;
}

/** The largest xattr name and value the host kernel takes (XATTR_NAME_MAX, XATTR_SIZE_MAX): a
 *  kernel never sends a longer security context (it refuses to build one, EIO). */
const SECCTX_NAME_MAX = 255;
const SECCTX_VALUE_MAX = 65536;

/** The contexts of one fuse_secctx_header record [p, recEnd) whose nr_secctx is `nr`: each is
 *  fuse_secctx {size, padding}, the NUL-terminated xattr name, then `size` bytes, padded to 8.
 *  Every length is checked against the record, never against the request. */
function readSecctxList(buf: Buffer, p: number, recEnd: number, nr: number): SecCtx[] {
  const list: SecCtx[] = [];
  let q = p + Size.SECCTX_HEADER;
  for (let i = 0; i < nr; i++) {
    if (recEnd - q < Size.SECCTX) throw new ProtocolError('extensions: truncated security context');
    const len = buf.readUInt32LE(q);
    const { name, next } = readName(buf, q + Size.SECCTX, recEnd, NameRule.ANY, 'security context');
    if (len > recEnd - next) throw new ProtocolError('extensions: security context value runs past its record');
    list.push({ name, value: buf.subarray(next, next + len) });
    q = q + Math.ceil((next + len - q) / 8) * 8;
  }
  return list;
}

/** Where a creating request's body ends and, with FUSE_SECURITY_CTX on, its security context. */
export interface CreateSecctxArgs {
  /** The body start (after the in header) and the in header itself. */
  off: number;
  h: InHeader;
  /** Just past the NUL of the body's last name (CreateIn/MknodIn/MkdirIn/SymlinkIn.nameEnd). */
  nameEnd: number;
  /** The body end without the extension records (decodeExtensions().bodyEnd). */
  bodyEnd: number;
}

/**
 * The security context of a CREATE, MKNOD, MKDIR, SYMLINK or TMPFILE once FUSE_SECURITY_CTX is
 * on, or null if the kernel sent none (nr_secctx = 0: no LSM in the guest labels new files).
 * A kernel with request extensions (FUSE 7.38; Debian's 6.1 guest kernel is one) sends it as
 * an extension record counted by total_extlen; an older one (7.36, 7.37) sends the same
 * fuse_secctx_header record as one more argument right after the body's last name, with
 * total_extlen 0. Which form came is told by total_extlen, not by the minor (a 7.38 kernel
 * without the extensions would be misread otherwise). Either way the kernel always sends the
 * record, so a missing one is refused, and so is anything no kernel sends (virtiofsd refuses
 * the same): more than one context (the kernel sends at most one), an empty value, a name or
 * value longer than an xattr may be, or an argument record that does not exactly fill the rest
 * of the body. All EINVAL.
 */
export function decodeCreateSecctx(buf: Buffer, a: CreateSecctxArgs): SecCtx | null {
  let list: SecCtx[] | null;
  if (a.h.totalExtlen > 0) {
    // h.len is exactly what was delivered for every opcode but WRITE (the session checks it).
    const reqEnd = a.off - IN_HEADER_SIZE + a.h.len;
    list = decodeExtensions(buf, a.off, reqEnd, a.h.totalExtlen).secctx;
  } else {
    const p = a.nameEnd, end = Math.min(a.bodyEnd, buf.length);
    if (end - p < Size.SECCTX_HEADER) list = null;
    else {
      const size = buf.readUInt32LE(p), nr = buf.readUInt32LE(p + 4);
      if (size !== end - p || size % 8 !== 0) throw new ProtocolError(`security context: record of ${size} bytes in ${end - p}`);
      if (nr > ExtType.MAX_NR_SECCTX) throw new ProtocolError(`security context: nr_secctx ${nr}`);
      list = readSecctxList(buf, p, end, nr);
    }
  }
  if (list === null) throw new ProtocolError('security context: FUSE_SECURITY_CTX is on but the request has none');
  if (list.length > 1) throw new ProtocolError(`security context: ${list.length} contexts (a kernel sends one)`);
  if (list.length === 0) return null;
  const c = list[0]!;
  if (c.value.length === 0) throw new ProtocolError('security context: empty value');
  if (c.name.length > SECCTX_NAME_MAX || c.value.length > SECCTX_VALUE_MAX) throw new ProtocolError('security context: longer than an xattr may be');
  return c;
}

// ---------------------------------------------------------------------------------------------
// Name-only bodies

export interface NameIn {
  name: Buffer;
}

/** LOOKUP: name. "." and ".." are allowed (the kernel sends them for NFS export support); the
 *  passthrough must resolve them itself and never let ".." leave the export. */
export function decodeLookup(buf: Buffer, off: number, end: number): NameIn {
  return { name: readName(buf, off, end, NameRule.COMPONENT, 'LOOKUP').name };
}

/** UNLINK, RMDIR: name (not "." or ".."). */
export function decodeEntryName(buf: Buffer, off: number, end: number): NameIn {
  return { name: readName(buf, off, end, NameRule.ENTRY, 'UNLINK/RMDIR').name };
}
export const decodeUnlink = decodeEntryName;
export const decodeRmdir = decodeEntryName;

/** REMOVEXATTR: xattr name. */
export function decodeRemovexattr(buf: Buffer, off: number, end: number): NameIn {
  return { name: readName(buf, off, end, NameRule.ANY, 'REMOVEXATTR').name };
}

// ---------------------------------------------------------------------------------------------
// Forget

export interface ForgetIn {
  nlookup: number;
}

export function decodeForget(buf: Buffer, off: number, end: number): ForgetIn {
  checkBody(buf, off, end, Size.FORGET_IN, 'FORGET');
  return { nlookup: readU64(buf, off) };
}

export interface ForgetOne {
  nodeid: number;
  nlookup: number;
}

export interface BatchForgetIn {
  /** The count the request claims. */
  count: number;
  /** The entries actually present: at most `count`, and only whole entries inside the body. */
  items: ForgetOne[];
  /** True if `count` promised more entries than the body holds. */
  truncated: boolean;
}

/** BATCH_FORGET: a count, then count x {nodeid, nlookup}. A forget has no reply to carry an
 *  error, so a hostile count larger than the body is not refused: we forget what is really
 *  there (never reading past end) and report `truncated`. */
export function decodeBatchForget(buf: Buffer, off: number, end: number): BatchForgetIn {
  const limit = checkBody(buf, off, end, Size.BATCH_FORGET_IN, 'BATCH_FORGET');
  const count = buf.readUInt32LE(off);
  const fit = Math.floor((limit - off - Size.BATCH_FORGET_IN) / Size.FORGET_ONE);
  const n = Math.min(count, fit);
  const items = new Array<ForgetOne>(n);
  let p = off + Size.BATCH_FORGET_IN;
  for (let i = 0; i < n; i++, p += Size.FORGET_ONE) {
    items[i] = { nodeid: readU64(buf, p), nlookup: readU64(buf, p + 8) };
  }
  return { count, items, truncated: count > fit };
}

// ---------------------------------------------------------------------------------------------
// Attributes

export interface GetattrIn {
  getattrFlags: number;
  /** Valid only when getattrFlags has GetattrFlag.FH. */
  fh: number;
}

export function decodeGetattr(buf: Buffer, off: number, end: number): GetattrIn {
  checkBody(buf, off, end, Size.GETATTR_IN, 'GETATTR');
  return { getattrFlags: buf.readUInt32LE(off), fh: readU64(buf, off + 8) };
}

export interface SetattrIn {
  /** Fattr bits saying which fields below are meaningful. */
  valid: number;
  fh: number;
  size: number;
  lockOwner: bigint;
  atime: number;
  mtime: number;
  ctime: number;
  atimensec: number;
  mtimensec: number;
  ctimensec: number;
  mode: number;
  uid: number;
  gid: number;
}

export function decodeSetattr(buf: Buffer, off: number, end: number): SetattrIn {
  checkBody(buf, off, end, Size.SETATTR_IN, 'SETATTR');
  return {
    valid: buf.readUInt32LE(off),
    fh: readU64(buf, off + 8),
    size: readU64(buf, off + 16),
    lockOwner: buf.readBigUInt64LE(off + 24),
    atime: readI64(buf, off + 32),
    mtime: readI64(buf, off + 40),
    ctime: readI64(buf, off + 48),
    atimensec: buf.readUInt32LE(off + 56),
    mtimensec: buf.readUInt32LE(off + 60),
    ctimensec: buf.readUInt32LE(off + 64),
    mode: buf.readUInt32LE(off + 68),
    uid: buf.readUInt32LE(off + 76),
    gid: buf.readUInt32LE(off + 80),
  };
}

export interface StatxIn {
  getattrFlags: number;
  fh: number;
  /** AT_STATX_* sync flags of statx(2). */
  sxFlags: number;
  /** STATX_* mask the caller asked for. */
  sxMask: number;
}

export function decodeStatx(buf: Buffer, off: number, end: number): StatxIn {
  checkBody(buf, off, end, Size.STATX_IN, 'STATX');
  return {
    getattrFlags: buf.readUInt32LE(off),
    fh: readU64(buf, off + 8),
    sxFlags: buf.readUInt32LE(off + 16),
    sxMask: buf.readUInt32LE(off + 20),
  };
}

export interface AccessIn {
  mask: number;
}

export function decodeAccess(buf: Buffer, off: number, end: number): AccessIn {
  checkBody(buf, off, end, Size.ACCESS_IN, 'ACCESS');
  return { mask: buf.readUInt32LE(off) };
}

// ---------------------------------------------------------------------------------------------
// Creating and naming entries

export interface SymlinkIn {
  /** The new entry's name in the parent (nodeid). */
  name: Buffer;
  /** What the link points to (any bytes but NUL, not empty). */
  target: Buffer;
  /** Just past the target's NUL: a 7.36/7.37 kernel's security context follows. */
  nameEnd: number;
}

/** SYMLINK: name NUL, then target NUL (the kernel sends the entry name first). */
export function decodeSymlink(buf: Buffer, off: number, end: number): SymlinkIn {
  const a = readName(buf, off, end, NameRule.ENTRY, 'SYMLINK name');
  const b = readName(buf, a.next, end, NameRule.ANY, 'SYMLINK target');
  return { name: a.name, target: b.name, nameEnd: b.next };
}

export interface MknodIn {
  mode: number;
  /** new_encode_dev form; see decodeRdev(). */
  rdev: number;
  umask: number;
  name: Buffer;
  /** Just past the name's NUL: a 7.36/7.37 kernel's security context follows. */
  nameEnd: number;
}

export function decodeMknod(buf: Buffer, off: number, end: number): MknodIn {
  checkBody(buf, off, end, Size.MKNOD_IN, 'MKNOD');
  const n = readName(buf, off + Size.MKNOD_IN, end, NameRule.ENTRY, 'MKNOD');
  return {
    mode: buf.readUInt32LE(off),
    rdev: buf.readUInt32LE(off + 4),
    umask: buf.readUInt32LE(off + 8),
    name: n.name,
    nameEnd: n.next,
  };
}

export interface MkdirIn {
  mode: number;
  umask: number;
  name: Buffer;
  /** Just past the name's NUL: a 7.36/7.37 kernel's security context follows. */
  nameEnd: number;
}

export function decodeMkdir(buf: Buffer, off: number, end: number): MkdirIn {
  checkBody(buf, off, end, Size.MKDIR_IN, 'MKDIR');
  const n = readName(buf, off + Size.MKDIR_IN, end, NameRule.ENTRY, 'MKDIR');
  return { mode: buf.readUInt32LE(off), umask: buf.readUInt32LE(off + 4), name: n.name, nameEnd: n.next };
}

export interface RenameIn {
  newdir: number;
  /** RenameFlag bits (0 for plain RENAME). */
  flags: number;
  oldName: Buffer;
  newName: Buffer;
}

function decodeRenameNames(buf: Buffer, p: number, end: number, newdir: number, flags: number, what: string): RenameIn {
  const a = readName(buf, p, end, NameRule.ENTRY, `${what} old name`);
  const b = readName(buf, a.next, end, NameRule.ENTRY, `${what} new name`);
  return { newdir, flags, oldName: a.name, newName: b.name };
}

/** RENAME: fuse_rename_in {newdir}, old name NUL, new name NUL. */
export function decodeRename(buf: Buffer, off: number, end: number): RenameIn {
  checkBody(buf, off, end, Size.RENAME_IN, 'RENAME');
  return decodeRenameNames(buf, off + Size.RENAME_IN, end, readU64(buf, off), 0, 'RENAME');
}

/** RENAME2: fuse_rename2_in {newdir, flags, padding}, old name NUL, new name NUL. */
export function decodeRename2(buf: Buffer, off: number, end: number): RenameIn {
  checkBody(buf, off, end, Size.RENAME2_IN, 'RENAME2');
  return decodeRenameNames(buf, off + Size.RENAME2_IN, end, readU64(buf, off), buf.readUInt32LE(off + 8), 'RENAME2');
}

export interface LinkIn {
  /** The existing inode to link. */
  oldNodeid: number;
  /** The new name in the parent (header nodeid). */
  name: Buffer;
}

export function decodeLink(buf: Buffer, off: number, end: number): LinkIn {
  checkBody(buf, off, end, Size.LINK_IN, 'LINK');
  return { oldNodeid: readU64(buf, off), name: readName(buf, off + Size.LINK_IN, end, NameRule.ENTRY, 'LINK').name };
}

export interface CreateIn {
  /** open(2) flags. */
  flags: number;
  mode: number;
  umask: number;
  /** OpenInFlag bits (FUSE_OPEN_KILL_SUIDGID). */
  openFlags: number;
  name: Buffer;
  /** Just past the name's NUL: a 7.36/7.37 kernel's security context follows. */
  nameEnd: number;
}

/** CREATE: fuse_create_in, then the new entry's name. */
export function decodeCreate(buf: Buffer, off: number, end: number): CreateIn {
  return decodeCreateLike(buf, off, end, NameRule.ENTRY, 'CREATE');
}

/** TMPFILE (7.37): same body as CREATE. The kernel's name is the placeholder "/" of an unnamed
 *  dentry, so the name is only checked to be present, never used as a path. */
export function decodeTmpfile(buf: Buffer, off: number, end: number): CreateIn {
  return decodeCreateLike(buf, off, end, NameRule.ANY, 'TMPFILE');
}

function decodeCreateLike(buf: Buffer, off: number, end: number, rule: NameRule, what: string): CreateIn {
  checkBody(buf, off, end, Size.CREATE_IN, what);
  const n = readName(buf, off + Size.CREATE_IN, end, rule, what);
  return {
    flags: buf.readUInt32LE(off),
    mode: buf.readUInt32LE(off + 4),
    umask: buf.readUInt32LE(off + 8),
    openFlags: buf.readUInt32LE(off + 12),
    name: n.name,
    nameEnd: n.next,
  };
}

// ---------------------------------------------------------------------------------------------
// Open files

export interface OpenIn {
  flags: number;
  /** OpenInFlag bits (FUSE_OPEN_KILL_SUIDGID). */
  openFlags: number;
}

/** OPEN, OPENDIR. */
export function decodeOpen(buf: Buffer, off: number, end: number): OpenIn {
  checkBody(buf, off, end, Size.OPEN_IN, 'OPEN');
  return { flags: buf.readUInt32LE(off), openFlags: buf.readUInt32LE(off + 4) };
}

export interface ReadIn {
  fh: number;
  offset: number;
  size: number;
  readFlags: number;
  /** Valid only with ReadFlag.LOCKOWNER. */
  lockOwner: bigint;
  /** open(2) flags of the file. */
  flags: number;
}

/** READ, READDIR, READDIRPLUS. */
export function decodeRead(buf: Buffer, off: number, end: number): ReadIn {
  checkBody(buf, off, end, Size.READ_IN, 'READ');
  return {
    fh: readU64(buf, off),
    offset: readI64(buf, off + 8),
    size: buf.readUInt32LE(off + 16),
    readFlags: buf.readUInt32LE(off + 20),
    lockOwner: buf.readBigUInt64LE(off + 24),
    flags: buf.readUInt32LE(off + 32),
  };
}

export interface WriteIn {
  fh: number;
  offset: number;
  size: number;
  /** WriteFlag bits (CACHE, LOCKOWNER, KILL_SUIDGID). */
  writeFlags: number;
  lockOwner: bigint;
  flags: number;
  /** Where the data starts (off + 40). The data may be absent from the inbox (vhost-user
   *  leaves it in guest memory): move it with the channel's writeFrom, do not read it here. */
  dataOffset: number;
}

export function decodeWrite(buf: Buffer, off: number, end: number): WriteIn {
  checkBody(buf, off, end, Size.WRITE_IN, 'WRITE');
  return {
    fh: readU64(buf, off),
    offset: readI64(buf, off + 8),
    size: buf.readUInt32LE(off + 16),
    writeFlags: buf.readUInt32LE(off + 20),
    lockOwner: buf.readBigUInt64LE(off + 24),
    flags: buf.readUInt32LE(off + 32),
    dataOffset: off + Size.WRITE_IN,
  };
}

export interface ReleaseIn {
  fh: number;
  flags: number;
  /** ReleaseFlag bits (FLUSH, FLOCK_UNLOCK). */
  releaseFlags: number;
  lockOwner: bigint;
}

/** RELEASE, RELEASEDIR. */
export function decodeRelease(buf: Buffer, off: number, end: number): ReleaseIn {
  checkBody(buf, off, end, Size.RELEASE_IN, 'RELEASE');
  return {
    fh: readU64(buf, off),
    flags: buf.readUInt32LE(off + 8),
    releaseFlags: buf.readUInt32LE(off + 12),
    lockOwner: buf.readBigUInt64LE(off + 16),
  };
}

export interface FlushIn {
  fh: number;
  lockOwner: bigint;
}

export function decodeFlush(buf: Buffer, off: number, end: number): FlushIn {
  checkBody(buf, off, end, Size.FLUSH_IN, 'FLUSH');
  return { fh: readU64(buf, off), lockOwner: buf.readBigUInt64LE(off + 16) };
}

export interface FsyncIn {
  fh: number;
  /** FsyncFlag bits (FDATASYNC). */
  fsyncFlags: number;
}

/** FSYNC, FSYNCDIR. */
export function decodeFsync(buf: Buffer, off: number, end: number): FsyncIn {
  checkBody(buf, off, end, Size.FSYNC_IN, 'FSYNC');
  return { fh: readU64(buf, off), fsyncFlags: buf.readUInt32LE(off + 8) };
}

export interface LkIn {
  fh: number;
  owner: bigint;
  /** Lock range as loff_t; end === OFFSET_MAX (2^63 as a double) means "to end of file". */
  start: number;
  end: number;
  /** LockType (F_RDLCK, F_WRLCK, F_UNLCK). */
  type: number;
  pid: number;
  /** LkFlag bits (FLOCK: a flock(2) lock, not a POSIX one). */
  lkFlags: number;
}

/** GETLK, SETLK, SETLKW: fuse_lk_in {fh, owner, fuse_file_lock, lk_flags}. */
export function decodeLk(buf: Buffer, off: number, end: number): LkIn {
  checkBody(buf, off, end, Size.LK_IN, 'LK');
  return {
    fh: readU64(buf, off),
    owner: buf.readBigUInt64LE(off + 8),
    start: readI64(buf, off + 16),
    end: readI64(buf, off + 24),
    type: buf.readUInt32LE(off + 32),
    pid: buf.readUInt32LE(off + 36),
    lkFlags: buf.readUInt32LE(off + 40),
  };
}

export interface FallocateIn {
  fh: number;
  offset: number;
  length: number;
  /** FallocateMode bits. */
  mode: number;
}

export function decodeFallocate(buf: Buffer, off: number, end: number): FallocateIn {
  checkBody(buf, off, end, Size.FALLOCATE_IN, 'FALLOCATE');
  return {
    fh: readU64(buf, off),
    offset: readI64(buf, off + 8),
    length: readI64(buf, off + 16),
    mode: buf.readUInt32LE(off + 24),
  };
}

export interface LseekIn {
  fh: number;
  offset: number;
  /** Whence (SET, CUR, END, DATA, HOLE). */
  whence: number;
}

export function decodeLseek(buf: Buffer, off: number, end: number): LseekIn {
  checkBody(buf, off, end, Size.LSEEK_IN, 'LSEEK');
  return { fh: readU64(buf, off), offset: readI64(buf, off + 8), whence: buf.readUInt32LE(off + 16) };
}

export interface CopyFileRangeIn {
  fhIn: number;
  offIn: number;
  nodeidOut: number;
  fhOut: number;
  offOut: number;
  /** Bytes to copy; may be huge (a size_t from the caller): clamp before use. */
  len: number;
  flags: number;
}

/** COPY_FILE_RANGE and COPY_FILE_RANGE_64 (same body; they differ in the reply). */
export function decodeCopyFileRange(buf: Buffer, off: number, end: number): CopyFileRangeIn {
  checkBody(buf, off, end, Size.COPY_FILE_RANGE_IN, 'COPY_FILE_RANGE');
  return {
    fhIn: readU64(buf, off),
    offIn: readI64(buf, off + 8),
    nodeidOut: readU64(buf, off + 16),
    fhOut: readU64(buf, off + 24),
    offOut: readI64(buf, off + 32),
    len: readU64(buf, off + 40),
    flags: readU64(buf, off + 48),
  };
}

export interface BmapIn {
  block: number;
  blocksize: number;
}

export function decodeBmap(buf: Buffer, off: number, end: number): BmapIn {
  checkBody(buf, off, end, Size.BMAP_IN, 'BMAP');
  return { block: readU64(buf, off), blocksize: buf.readUInt32LE(off + 8) };
}

export interface IoctlIn {
  fh: number;
  /** IoctlFlag bits. */
  flags: number;
  cmd: number;
  /** The caller's argument (often a user pointer): an opaque cookie. */
  arg: bigint;
  inSize: number;
  outSize: number;
  /** The in_size bytes of input data are at [dataOffset, dataOffset + inSize). */
  dataOffset: number;
}

/** IOCTL: fuse_ioctl_in, then in_size bytes of input, which must be inside the request. */
export function decodeIoctl(buf: Buffer, off: number, end: number): IoctlIn {
  const limit = checkBody(buf, off, end, Size.IOCTL_IN, 'IOCTL');
  const inSize = buf.readUInt32LE(off + 24);
  const dataOffset = off + Size.IOCTL_IN;
  if (inSize > limit - dataOffset) throw new ProtocolError(`IOCTL: in_size ${inSize} runs past the request`);
  return {
    fh: readU64(buf, off),
    flags: buf.readUInt32LE(off + 8),
    cmd: buf.readUInt32LE(off + 12),
    arg: buf.readBigUInt64LE(off + 16),
    inSize,
    outSize: buf.readUInt32LE(off + 28),
    dataOffset,
  };
}

export interface PollIn {
  fh: number;
  /** Kernel poll handle, echoed in FUSE_NOTIFY_POLL. */
  kh: bigint;
  /** PollFlag bits (SCHEDULE_NOTIFY). */
  flags: number;
  /** poll(2) events asked for. */
  events: number;
}

export function decodePoll(buf: Buffer, off: number, end: number): PollIn {
  checkBody(buf, off, end, Size.POLL_IN, 'POLL');
  return {
    fh: readU64(buf, off),
    kh: buf.readBigUInt64LE(off + 8),
    flags: buf.readUInt32LE(off + 16),
    events: buf.readUInt32LE(off + 20),
  };
}

// ---------------------------------------------------------------------------------------------
// Extended attributes

export interface SetxattrIn {
  /** Value length. */
  size: number;
  /** XATTR_CREATE / XATTR_REPLACE. */
  flags: number;
  /** SetxattrFlag bits; always 0 without FUSE_SETXATTR_EXT. */
  setxattrFlags: number;
  name: Buffer;
  value: Buffer;
}

/** SETXATTR: fuse_setxattr_in (16 bytes when FUSE_SETXATTR_EXT was negotiated, the 8-byte
 *  compat form otherwise: pass `ext` from the INIT result), the name NUL, then `size` bytes of
 *  value, which must lie inside the request. */
export function decodeSetxattr(buf: Buffer, off: number, end: number, ext: boolean): SetxattrIn {
  const head = ext ? Size.SETXATTR_IN : Size.COMPAT_SETXATTR_IN;
  const limit = checkBody(buf, off, end, head, 'SETXATTR');
  const size = buf.readUInt32LE(off);
  const { name, next } = readName(buf, off + head, limit, NameRule.ANY, 'SETXATTR');
  if (size > limit - next) throw new ProtocolError(`SETXATTR: value of ${size} bytes runs past the request`);
  return {
    size,
    flags: buf.readUInt32LE(off + 4),
    setxattrFlags: ext ? buf.readUInt32LE(off + 8) : 0,
    name,
    value: buf.subarray(next, next + size),
  };
}

export interface GetxattrIn {
  /** Buffer size of the caller; 0 asks for the value's length only. */
  size: number;
  name: Buffer;
}

export function decodeGetxattr(buf: Buffer, off: number, end: number): GetxattrIn {
  checkBody(buf, off, end, Size.GETXATTR_IN, 'GETXATTR');
  return {
    size: buf.readUInt32LE(off),
    name: readName(buf, off + Size.GETXATTR_IN, end, NameRule.ANY, 'GETXATTR').name,
  };
}

export interface ListxattrIn {
  size: number;
}

export function decodeListxattr(buf: Buffer, off: number, end: number): ListxattrIn {
  checkBody(buf, off, end, Size.GETXATTR_IN, 'LISTXATTR');
  return { size: buf.readUInt32LE(off) };
}

// ---------------------------------------------------------------------------------------------
// Session

export interface InitIn {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: number;
  /** Bits 32..63 of the INIT flags; 0 unless the body is long enough to hold it (7.36+).
   *  Only meaningful when `flags` has FUSE_INIT_EXT: negotiateInit() checks that. */
  flags2: number;
}

/** INIT: fuse_init_in. Only major and minor are required: a kernel of another major may send a
 *  different layout, and we need just its major to answer it. Missing later fields read as 0
 *  (16 bytes before 7.36, 64 since). */
export function decodeInit(buf: Buffer, off: number, end: number): InitIn {
  const limit = checkBody(buf, off, end, 8, 'INIT');
  const have = limit - off;
  return {
    major: buf.readUInt32LE(off),
    minor: buf.readUInt32LE(off + 4),
    maxReadahead: have >= 12 ? buf.readUInt32LE(off + 8) : 0,
    flags: have >= 16 ? buf.readUInt32LE(off + 12) : 0,
    flags2: have >= 20 ? buf.readUInt32LE(off + 16) : 0,
  };
}

export interface CuseInitIn {
  major: number;
  minor: number;
  flags: number;
}

export function decodeCuseInit(buf: Buffer, off: number, end: number): CuseInitIn {
  checkBody(buf, off, end, Size.CUSE_INIT_IN, 'CUSE_INIT');
  return { major: buf.readUInt32LE(off), minor: buf.readUInt32LE(off + 4), flags: buf.readUInt32LE(off + 12) };
}

export interface InterruptIn {
  /** The unique of the request to interrupt, as two u32 like InHeader's. */
  uniqueLo: number;
  uniqueHi: number;
}

export function decodeInterrupt(buf: Buffer, off: number, end: number): InterruptIn {
  checkBody(buf, off, end, Size.INTERRUPT_IN, 'INTERRUPT');
  return { uniqueLo: buf.readUInt32LE(off), uniqueHi: buf.readUInt32LE(off + 4) };
}

/** SYNCFS (7.34): fuse_syncfs_in is only padding; the body is checked for presence. */
export function decodeSyncfs(buf: Buffer, off: number, end: number): Record<string, never> {
  checkBody(buf, off, end, Size.SYNCFS_IN, 'SYNCFS');
  return {};
}

export interface NotifyReplyIn {
  /** File offset of the retrieved data (fuse_notify_retrieve_in.offset). */
  offset: number;
  size: number;
  /** The retrieved bytes are [dataOffset, dataOffset + size). The header's unique is the
   *  notify_unique of our FUSE_NOTIFY_RETRIEVE. */
  dataOffset: number;
}

/** NOTIFY_REPLY: fuse_notify_retrieve_in (laid out like fuse_write_in), then `size` bytes. */
export function decodeNotifyReply(buf: Buffer, off: number, end: number): NotifyReplyIn {
  const limit = checkBody(buf, off, end, Size.NOTIFY_RETRIEVE_IN, 'NOTIFY_REPLY');
  const size = buf.readUInt32LE(off + 16);
  const dataOffset = off + Size.NOTIFY_RETRIEVE_IN;
  if (size > limit - dataOffset) throw new ProtocolError(`NOTIFY_REPLY: ${size} bytes run past the request`);
  return { offset: readU64(buf, off + 8), size, dataOffset };
}

// ---------------------------------------------------------------------------------------------
// virtio-fs DAX window

export interface SetupmappingIn {
  fh: number;
  foffset: number;
  len: number;
  /** SetupmappingFlag bits (WRITE, READ). */
  flags: number;
  moffset: number;
}

export function decodeSetupmapping(buf: Buffer, off: number, end: number): SetupmappingIn {
  checkBody(buf, off, end, Size.SETUPMAPPING_IN, 'SETUPMAPPING');
  return {
    fh: readU64(buf, off),
    foffset: readU64(buf, off + 8),
    len: readU64(buf, off + 16),
    flags: readU64(buf, off + 24),
    moffset: readU64(buf, off + 32),
  };
}

export interface RemovemappingOne {
  moffset: number;
  len: number;
}

/** REMOVEMAPPING: a u32 count, then count x {moffset, len} starting at byte 4 (the in struct is
 *  4 bytes). Unlike BATCH_FORGET this gets a reply, so a count past the body is refused. */
export function decodeRemovemapping(buf: Buffer, off: number, end: number): { items: RemovemappingOne[] } {
  const limit = checkBody(buf, off, end, Size.REMOVEMAPPING_IN, 'REMOVEMAPPING');
  const count = buf.readUInt32LE(off);
  if (count > (limit - off - Size.REMOVEMAPPING_IN) / Size.REMOVEMAPPING_ONE) {
    throw new ProtocolError(`REMOVEMAPPING: ${count} entries do not fit`);
  }
  const items = new Array<RemovemappingOne>(count);
  let p = off + Size.REMOVEMAPPING_IN;
  for (let i = 0; i < count; i++, p += Size.REMOVEMAPPING_ONE) {
    items[i] = { moffset: readU64(buf, p), len: readU64(buf, p + 8) };
  }
  return { items };
}
