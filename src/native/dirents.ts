// READDIR's native encoder (native/dir_encode.cc): host getdents64 records become fuse_dirent
// records in the reply without a JS step per entry. Same contract as sys.ts: numbers, -errno,
// TypeError only for a wrong argument type.
import { addon } from './addon';

/** Indexes of the state array the stream and the encoder share. */
/** FILL_MAX (read by the encoder, never written): at most this many bytes per getdents64 it makes
 *  (0: the whole buffer). */
export const DirentState = { POS: 0, FILLED: 1, EOF: 2, ORDINAL: 3, OUT_POS: 4, REASON: 5, FILL_MAX: 6, LENGTH: 7 } as const;

/** Why a run stopped (state[REASON]). */
export const DirentStop = {
  /** the directory has no more entries */
  END: 0,
  /** the next entry does not fit before outLimit (it stays for the next call) */
  FULL: 1,
  /** the next entry's host inode number is outside the rule: TypeScript encodes it */
  NEEDS_POLICY: 2,
  /** getdents64 failed after some entries (the count is returned; the next call gets the errno) */
  FAILED: 3,
  /** direntplusEncode only: the info array is full (call again) */
  BATCH: 4,
  /** fd -1 and the buffer is consumed: the caller refills it (on the worker pool) */
  EMPTY: 5,
} as const;

/** direntplusEncode's info rows: one per entry written, INFO_STRIDE numbers each. */
export const PlusInfo = {
  /** offset of the fuse_direntplus in out */
  REC: 0,
  /** 0: statx succeeded, the caller completes the lookup; 1: "." or ".." (no lookup);
   *  -errno: statx failed (the entry is listed without attributes, nodeid 0) */
  STATUS: 1,
  MASK: 2, MNT_ID: 3, DEV_MAJOR: 4, DEV_MINOR: 5, INO_HI: 6, INO_LO: 7, MODE: 8, UID: 9, GID: 10,
  STRIDE: 11,
} as const;

export interface NativeDirents {
  /**
   * Encodes entries from the stream into out[state[OUT_POS], outLimit) as struct fuse_dirent.
   * buf holds getdents64 records [state[POS], state[FILLED]) and is refilled from fd as needed
   * (state[EOF] 1 once getdents64 returned 0); fd -1: never refilled, the run stops with EMPTY. Each entry gets d_ino = hostIno | prefixHi << 32
   * (only for hostIno < 2^inoBits, else the run stops with NEEDS_POLICY) and off = its ordinal
   * + 1; ".." gets dotdotIno instead when given (>= 0). Updates state; returns the number of
   * entries encoded, or -errno.
   */
  direntsEncode(fd: number, buf: Uint8Array, state: Float64Array, out: Uint8Array, outLimit: number, prefixHi: number, inoBits: number, dotdotIno?: number): number;
  /**
   * READDIRPLUS: like direntsEncode with struct fuse_direntplus records, each name statx'ed in
   * dirfd (never following) before it is written (room is checked first). The fuse_entry_out
   * gets the statx attributes, entry/attr timeouts of `timeout` seconds, and nodeid, attr.ino and
   * attr.flags 0 (the caller fills them in); d_ino follows the rule like direntsEncode. A name
   * whose statx says ENOENT is skipped (it vanished). One PlusInfo row per entry written; stops
   * with BATCH when info has no row left.
   */
  direntplusEncode(fd: number, buf: Uint8Array, state: Float64Array, out: Uint8Array, outLimit: number, prefixHi: number, inoBits: number, dirfd: number, timeout: number, info: Float64Array, dotdotIno?: number): number;
}

export const dirents: NativeDirents = addon as NativeDirents;
