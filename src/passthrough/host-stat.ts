// Decoding the raw `struct statx` the native statx() fills (linux/stat.h layout, x86_64).
// Inode numbers are kept three ways: `ino` as a JS number for the wire (exact below 2^53) and
// inoHi/inoLo as exact u32 halves for keys, so two inodes can never share a key by rounding.
import { C, sys } from '../native/sys';
import type { InoValue } from '../protocol/wire';
import { u32 } from '../protocol/bytes';

export interface HostStat {
  mask: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  /** exact: a bigint only when the number is 2^53 or more */
  ino: InoValue;
  inoHi: number;
  inoLo: number;
  size: number;
  blocks: number;
  blksize: number;
  attributes: number;
  atime: number; atimeNsec: number;
  btime: number; btimeNsec: number;
  ctime: number; ctimeNsec: number;
  mtime: number; mtimeNsec: number;
  rdevMajor: number; rdevMinor: number;
  devMajor: number; devMinor: number;
  mntId: number;
}

const TWO32 = 0x1_0000_0000;

const EXACT_HI_LIMIT = 0x20_0000; // hi word from which hi * 2^32 + lo is 2^53 or more

/** A u64 as a number when that is exact, else as a bigint. */
export function exactU64(b: Buffer, off: number): InoValue {
  const hi = u32(b, off + 4);
  return hi < EXACT_HI_LIMIT ? hi * TWO32 + u32(b, off) : b.readBigUInt64LE(off);
}

/** The same from two u32 halves. */
export function exactFromHalves(hi: number, lo: number): InoValue {
  return hi < EXACT_HI_LIMIT ? hi * TWO32 + lo : (BigInt(hi) << 32n) | BigInt(lo);
}

export function decodeStatx(b: Buffer): HostStat {
  // Read through 32-bit words: every field of struct statx is 4-byte aligned, and a Uint32Array
  // element load is one instruction where even the byte helpers take several.
  const w = b === scratch ? scratchWords : new Uint32Array(b.buffer, b.byteOffset, 64);
  const hi = w[9];
  return {
    mask: w[0],
    blksize: w[1],
    attributes: w[3] * TWO32 + w[2],
    nlink: w[4],
    uid: w[5],
    gid: w[6],
    mode: w[7] & 0xffff,
    inoLo: w[8],
    inoHi: hi,
    ino: hi < EXACT_HI_LIMIT ? hi * TWO32 + w[8] : b.readBigUInt64LE(32),
    size: w[11] * TWO32 + w[10],
    blocks: w[13] * TWO32 + w[12],
    atime: (w[17] | 0) * TWO32 + w[16], atimeNsec: w[18],
    btime: (w[21] | 0) * TWO32 + w[20], btimeNsec: w[22],
    ctime: (w[25] | 0) * TWO32 + w[24], ctimeNsec: w[26],
    mtime: (w[29] | 0) * TWO32 + w[28], mtimeNsec: w[30],
    rdevMajor: w[32], rdevMinor: w[33],
    devMajor: w[34], devMinor: w[35],
    mntId: w[37] * TWO32 + w[36],
  };
}

const STATX_WANT = C.STATX_BASIC_STATS | C.STATX_BTIME | C.STATX_MNT_ID;
// Buffer.alloc (never the shared pool) starts at offset 0 of its own ArrayBuffer: aligned.
const scratch = Buffer.alloc(256);
const scratchWords = new Uint32Array(scratch.buffer, scratch.byteOffset, 64);

/** statx of what fd refers to (an O_PATH fd works), never following a symlink. */
export function statFd(fd: number): HostStat | number {
  const r = sys.statx(fd, '', C.AT_EMPTY_PATH | C.AT_SYMLINK_NOFOLLOW, STATX_WANT, scratch);
  return r < 0 ? r : decodeStatx(scratch);
}

/** STATX_TYPE | STATX_MODE: all modeOfFd asks for. */
const STATX_TYPE_MODE = 0x3;

/** The mode (type and permission bits) of what fd refers to now, or -errno. */
export function modeOfFd(fd: number): number {
  const r = sys.statx(fd, '', C.AT_EMPTY_PATH | C.AT_SYMLINK_NOFOLLOW, STATX_TYPE_MODE, scratch);
  return r < 0 ? r : scratchWords[7] & 0xffff;
}

/**
 * The bytes an unlinked file holds, from fd's cached attributes (AT_STATX_DONT_SYNC: never a
 * round trip to an NFS or FUSE server), or 0 when it still has a name or the statx fails.
 */
export function unlinkedBytesOfFd(fd: number): number {
  const r = sys.statx(fd, '', C.AT_EMPTY_PATH | C.AT_STATX_DONT_SYNC, C.STATX_NLINK | C.STATX_BLOCKS, scratch);
  if (r < 0 || scratchWords[4] !== 0) return 0; // stx_nlink
  return (scratchWords[13] * TWO32 + scratchWords[12]) * 512; // stx_blocks, 512-byte units
}

/** statx of name inside dirfd, never following a symlink. */
export function statAt(dirfd: number, name: Uint8Array | string): HostStat | number {
  const r = sys.statx(dirfd, name, C.AT_SYMLINK_NOFOLLOW, STATX_WANT, scratch);
  return r < 0 ? r : decodeStatx(scratch);
}

export const fileType = (mode: number) => mode & C.S_IFMT;
export const isDir = (mode: number) => (mode & C.S_IFMT) === C.S_IFDIR;
export const isReg = (mode: number) => (mode & C.S_IFMT) === C.S_IFREG;
export const isSymlink = (mode: number) => (mode & C.S_IFMT) === C.S_IFLNK;
