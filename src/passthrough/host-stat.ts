// Decoding the raw `struct statx` the native statx() fills (linux/stat.h layout, x86_64).
// Inode numbers are kept three ways: `ino` as a JS number for the wire (exact below 2^53) and
// inoHi/inoLo as exact u32 halves for keys, so two inodes can never share a key by rounding.
import { C, sys } from '../native/sys';
import type { InoValue } from '../protocol/wire';
import { u16, u32, i32 } from '../protocol/bytes';

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
const u64 = (b: Buffer, off: number) => u32(b, off + 4) * TWO32 + u32(b, off);
const i64 = (b: Buffer, off: number) => i32(b, off + 4) * TWO32 + u32(b, off);

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
  return {
    mask: u32(b, 0),
    blksize: u32(b, 4),
    attributes: u64(b, 8),
    nlink: u32(b, 16),
    uid: u32(b, 20),
    gid: u32(b, 24),
    mode: u16(b, 28),
    inoLo: u32(b, 32),
    inoHi: u32(b, 36),
    ino: exactU64(b, 32),
    size: u64(b, 40),
    blocks: u64(b, 48),
    atime: i64(b, 64), atimeNsec: u32(b, 72),
    btime: i64(b, 80), btimeNsec: u32(b, 88),
    ctime: i64(b, 96), ctimeNsec: u32(b, 104),
    mtime: i64(b, 112), mtimeNsec: u32(b, 120),
    rdevMajor: u32(b, 128), rdevMinor: u32(b, 132),
    devMajor: u32(b, 136), devMinor: u32(b, 140),
    mntId: u64(b, 144),
  };
}

const STATX_WANT = C.STATX_BASIC_STATS | C.STATX_BTIME | C.STATX_MNT_ID;
const scratch = Buffer.alloc(256);

/** statx of what fd refers to (an O_PATH fd works), never following a symlink. */
export function statFd(fd: number): HostStat | number {
  const r = sys.statx(fd, '', C.AT_EMPTY_PATH | C.AT_SYMLINK_NOFOLLOW, STATX_WANT, scratch);
  return r < 0 ? r : decodeStatx(scratch);
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
