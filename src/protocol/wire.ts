// Primitive readers and writers shared by the decoders and encoders: 64-bit integers as JS
// numbers, NUL-terminated names as Buffer views, the kernel's rdev encoding, and ProtocolError.
//
// Exports: ProtocolError, readU64, readI64, writeU64, writeI64, OFFSET_MAX, checkBody,
// NameRule, readName, isDotOrDotDot, decodeRdev, encodeRdev, zeroFill.
//
// 64-bit numbers. Node ids and file handles are ours and stay below 2^53, so a JS number holds
// them exactly. A hostile u64 of 2^53 or more is read inexactly, but rounding is monotone and
// 2^53 itself is representable, so such a value reads as >= 2^53 and can never equal one of our
// ids: it simply matches nothing. File offsets and sizes above 2^53 (no real file has them) are
// likewise inexact; callers that pass them to a syscall must refuse values > MAX_SAFE_INTEGER.
// Signed 64-bit fields (times, loff_t offsets, lock ranges) are read as two's complement.
// Writers split a number exactly into lo/hi u32 (exact for every integral value a double holds)
// and saturate instead of wrapping: writeU64 clamps to 0..2^64-1, writeI64 to -2^63..2^63-1, so
// OFFSET_MAX (2^63-1, read back as the double 2^63) is written back as exactly 2^63-1.
import { room, u32, i32, setU32 } from './bytes';

import { Errno } from './errno';

const TWO_32 = 0x100000000;
const TWO_63 = 2 ** 63;
const TWO_64 = 2 ** 64;

/** A request body that does not hold what its opcode promises: too short, a name without its
 *  NUL, a count that runs past the end. The dispatcher answers it with `errno` (EINVAL, or EIO
 *  for a reply we cannot decode) and carries on serving; it is never a reason to crash. */
export class ProtocolError extends Error {
  readonly errno: number;
  constructor(message: string, errno: number = Errno.EINVAL) {
    super(message);
    this.name = 'ProtocolError';
    this.errno = errno;
  }
}

/** The loff_t OFFSET_MAX (2^63-1, "to end of file" in lock ranges) as the nearest double, 2^63.
 *  readI64 of 0x7fffffffffffffff gives this value; writeI64 of it writes 0x7fffffffffffffff. */
export const OFFSET_MAX = TWO_63;

export function readU64(buf: Buffer, off: number): number {
  room(buf, off, 8);
  return u32(buf, off) + u32(buf, off + 4) * TWO_32;
}

export function readI64(buf: Buffer, off: number): number {
  room(buf, off, 8);
  return u32(buf, off) + i32(buf, off + 4) * TWO_32;
}

/** Writes v as u64, saturating: NaN and negatives as 0, >= 2^64 as 2^64-1. Returns off + 8. */
export function writeU64(buf: Buffer, off: number, v: number): number {
  room(buf, off, 8);
  if (!(v > 0)) v = 0;
  else if (v >= TWO_64) {
    setU32(buf, off, 0xffffffff);
    setU32(buf, off + 4, 0xffffffff);
    return off + 8;
  }
  const hi = Math.floor(v / TWO_32);
  setU32(buf, off, Math.floor(v - hi * TWO_32));
  setU32(buf, off + 4, hi);
  return off + 8;
}

/** An inode number as the client sees it: a number when it is below 2^53, a bigint when it must be
 *  exact above that (multidevs remap numbers use bit 63; some hosts' inode numbers are large). */
export type InoValue = number | bigint;

/** Writes an inode number exactly (u64). Returns off + 8. */
export function writeIno(buf: Buffer, off: number, v: InoValue): number {
  if (typeof v === 'bigint') {
    buf.writeBigUInt64LE(BigInt.asUintN(64, v), off);
    return off + 8;
  }
  return writeU64(buf, off, v);
}

/** Writes v as two's complement i64, saturating at -2^63 and 2^63-1. Returns off + 8. */
export function writeI64(buf: Buffer, off: number, v: number): number {
  room(buf, off, 8);
  if (v !== v) v = 0; // NaN
  if (v >= TWO_63) {
    setU32(buf, off, 0xffffffff);
    setU32(buf, off + 4, 0x7fffffff);
    return off + 8;
  }
  if (v < -TWO_63) v = -TWO_63;
  const hi = Math.floor(v / TWO_32); // -2^31 .. 2^31-1
  setU32(buf, off, Math.floor(v - hi * TWO_32));
  setU32(buf, off + 4, hi);
  return off + 8;
}

/** Throws unless [off, off+size) lies inside [off, end) and inside buf. Returns the end of
 *  the data the caller may look at (end clamped to buf.length). */
export function checkBody(buf: Buffer, off: number, end: number, size: number, what: string): number {
  const limit = Math.min(end, buf.length);
  if (!(off >= 0) || off + size > limit) {
    throw new ProtocolError(`${what}: body of ${Math.max(0, limit - off)} bytes, need ${size}`);
  }
  return limit;
}

/** How readName() treats a name's content (the NUL and emptiness are always checked). */
export const NameRule = {
  /** Anything but empty (xattr names, symlink targets, TMPFILE's "/"). */
  ANY: 0,
  /** One path component: no '/'. "." and ".." allowed (LOOKUP: the kernel asks for them when
   *  the export is NFS-exported; the passthrough must resolve ".." itself, never via openat). */
  COMPONENT: 1,
  /** A component that names a new or removed entry: no '/', not "." nor "..". The kernel's
   *  VFS never sends those; a hostile guest could, e.g. to RENAME the export's parent. */
  ENTRY: 2,
} as const;
export type NameRule = (typeof NameRule)[keyof typeof NameRule];

/** Result slot of readName(): the name's bytes (without NUL) and the offset after the NUL. */
export interface NameRead {
  name: Buffer;
  next: number;
}

/** Reads a NUL-terminated name at off, which must end before `limit`. Returns a view (no copy)
 *  of its bytes without the NUL. Throws ProtocolError when the NUL is missing, the name is
 *  empty, or it breaks `rule`. */
export function readName(buf: Buffer, off: number, limit: number, rule: NameRule, what: string): NameRead {
  // Search only [off, limit): a hostile name without NUL must not make us scan the whole inbox.
  const rel = off < limit ? buf.subarray(off, limit).indexOf(0) : -1;
  const nul = rel < 0 ? -1 : off + rel;
  if (nul < 0) throw new ProtocolError(`${what}: name not NUL-terminated within the request`);
  if (nul === off) throw new ProtocolError(`${what}: empty name`);
  const name = buf.subarray(off, nul);
  if (rule !== NameRule.ANY) {
    if (name.indexOf(0x2f) >= 0) throw new ProtocolError(`${what}: name contains '/'`);
    if (rule === NameRule.ENTRY && isDotOrDotDot(name)) throw new ProtocolError(`${what}: name is "." or ".."`);
  }
  return { name, next: nul + 1 };
}

export function isDotOrDotDot(name: Uint8Array): boolean {
  return (name.length === 1 && name[0] === 0x2e) || (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e);
}

/** FUSE carries rdev as u32 in the kernel's new_encode_dev() form: minor bits 0..7 in bits 0..7,
 *  major (12 bits) in bits 8..19, minor bits 8..19 in bits 20..31. */
export function decodeRdev(rdev: number): { major: number; minor: number } {
  return { major: (rdev >>> 8) & 0xfff, minor: (rdev & 0xff) | ((rdev >>> 12) & 0xfff00) };
}

/** Inverse of decodeRdev for major < 2^12 and minor < 2^20 (larger bits are dropped, as the
 *  kernel's new_encode_dev does for the 32-bit form). */
export function encodeRdev(major: number, minor: number): number {
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & 0xfff00) << 12)) >>> 0;
}

/** Zeroes [from, to): padding must never leak earlier contents of a reused reply buffer. */
export function zeroFill(buf: Buffer, from: number, to: number): void {
  // Padding is 0..7 bytes per record: a loop beats a call into Buffer.fill at that size.
  if (to - from <= 16) {
    for (let i = from; i < to; i++) buf[i] = 0;
  } else if (to > from) {
    buf.fill(0, from, to);
  }
}
