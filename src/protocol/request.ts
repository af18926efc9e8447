// The frame of every FUSE 7.45 request: the 40-byte fuse_in_header and the request extensions
// (7.38+) that trail the body, security contexts included. Each opcode's body has its decoder in
// request-entries.ts (names, attributes, making and moving entries), request-files.ts (open
// files, locks, the DAX window), request-xattrs.ts and request-session.ts (INIT, INTERRUPT, ...).
//
// Conventions (the same for every decoder, in all five files):
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
import { ProtocolError, readU64, checkBody, readName, NameRule } from './wire';

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
