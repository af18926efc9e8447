// Reading a host directory in pieces the client asks for. The offsets we hand out are ordinals
// (1 after the first entry, 2 after the second, ...) instead of the host's d_off cookies: those
// are 64-bit hashes on some filesystems (ext4) that a JS number cannot carry exactly, and an
// ordinal can be checked — a client asking for an offset we did not give just gets a rescan.
//
// The current entry is decoded in place (fields of the stream, the name as a range of `buf`):
// a 100,000-entry listing then costs no object per entry. Plain READDIR skips even that: encodeRun
// hands the buffer and the position to the native encoder (native/dir_encode.cc), which turns
// runs of records into fuse_dirents in the reply; the JS decoding below serves READDIRPLUS (a
// lookup per entry), seeks, and the entries whose d_ino the multidevs policy must decide.
import { C, sys } from '../native/sys';
import { dirents, DirentState as S, DirentStop } from '../native/dirents';
import type { InoValue } from '../protocol/wire';
import { exactU64 } from './host-stat';

const BUF_SIZE = 64 * 1024;
/**
 * What one getdents64 on the JS thread may return. Its cost grows with what it returns (tmpfs
 * here: ~0.3 us an entry, 650 us for a 64 KiB fill of short names), and every other request
 * waits for it: a whole-buffer fill of a large directory took over a millisecond on a loaded
 * host, which off-loop.ts rightly judged slow, and the whole (fast) mount then went to the pool.
 * One page (~125 short names, ~40 us; one classic READDIR reply) keeps an inline fill short;
 * a refill on the pool (a slow mount) still fills the whole buffer: fewer round trips there.
 */
export const INLINE_FILL = 4096;
const DOT = 0x2e;

/** How host inode numbers become d_ino for a run of entries: `ino | prefixHi << 32` for every
 *  host ino below 2^inoBits; the others stop the run (the policy decides them one by one).
 *  dotdotIno (>= 0): the d_ino of ".." instead (the export root's: its host parent is outside). */
export interface DirentInoRule {
  prefixHi: number;
  inoBits: number;
  dotdotIno?: number;
}

/** The reply bytes a run may fill: out[pos, limit); pos moves on. */
export interface DirentRoom {
  out: Buffer;
  pos: number;
  limit: number;
}

/** One state array for every stream: JS is single-threaded and a run is one synchronous call. */
const state = new Float64Array(S.LENGTH);

export class DirStream {
  readonly buf = Buffer.alloc(BUF_SIZE);
  /** buf's first INLINE_FILL bytes: what an inline getdents64 fills */
  private readonly inlineBuf = this.buf.subarray(0, INLINE_FILL);
  private pos = 0;
  private filled = 0;
  /** ordinal of the entry at `pos` */
  private ordinal = 0;
  private eof = false;

  // The current entry, valid after next() returned true.
  ino: InoValue = 0;
  type = 0;
  nameStart = 0;
  nameEnd = 0;

  /**
   * false while a slow mount's READDIR runs from what the buffer holds: next() and the runs then
   * stop where the buffer ends (next() false, lastStop EMPTY) instead of calling getdents64 on the
   * JS thread, and the caller refills it on the worker pool (dir-ops readdirPooled).
   */
  refillInline = true;
  /** A refill on the worker pool in flight (it writes buf): no READDIR may use the stream until it
   *  settles. The kernel sends one READDIR per open directory at a time; a hostile client may not. */
  filling: Promise<number | null> | null = null;

  constructor(readonly fd: number) {}

  /** Whether the next entry needs a getdents64 first (the buffer is consumed, the end not seen). */
  get needsFill(): boolean {
    return this.pos >= this.filled && !this.eof;
  }

  /** The buffer now holds n bytes of records, read by getdents64 on the pool (0: the end). */
  refilled(n: number): void {
    this.pos = 0;
    this.filled = n;
    if (n === 0) this.eof = true;
  }

  /** The ordinal offset of the entry after the current one (the cookie for the next READDIR). */
  get nextOffset(): number {
    return this.ordinal + 1;
  }

  get nameLength(): number {
    return this.nameEnd - this.nameStart;
  }

  /** The current name as bytes (a view: valid until the stream moves on). */
  name(): Buffer {
    return this.buf.subarray(this.nameStart, this.nameEnd);
  }

  isDotDot(): boolean {
    const b = this.buf, s = this.nameStart;
    return this.nameLength === 2 && b[s] === DOT && b[s + 1] === DOT;
  }

  /** "." or "..": entries READDIRPLUS gives no lookup. */
  isDotOrDotDot(): boolean {
    const n = this.nameLength, b = this.buf, s = this.nameStart;
    return (n === 1 && b[s] === DOT) || (n === 2 && b[s] === DOT && b[s + 1] === DOT);
  }

  /** Positions the stream so that the next entry is the one after ordinal `offset`. */
  seek(offset: number): number {
    if (offset === this.ordinal) return 0;
    if (offset < this.ordinal || offset === 0) {
      const r = sys.lseek(this.fd, 0, C.SEEK_SET);
      if (r < 0) return r;
      this.pos = this.filled = this.ordinal = 0;
      this.eof = false;
    }
    while (this.ordinal < offset) {
      const r = this.next();
      if (r !== true) return r === false ? 0 : r;
      this.advance();
    }
    return 0;
  }

  /** Decodes the entry at the current position: true, false at the end, or -errno. */
  next(): boolean | number {
    if (this.pos >= this.filled) {
      if (this.eof || !this.refillInline) return false;
      const n = sys.getdents64(this.fd, this.inlineBuf);
      if (n < 0) return n;
      if (n === 0) {
        this.eof = true;
        return false;
      }
      this.pos = 0;
      this.filled = n;
    }
    const b = this.buf, p = this.pos;
    const reclen = b.readUInt16LE(p + 16);
    const nameStart = p + 19;
    const recEnd = p + reclen;
    // The name ends at its NUL, within the record (a JS scan: names are short, and a native
    // indexOf call per entry costs more than the scan).
    let nameEnd = nameStart;
    while (nameEnd < recEnd && b[nameEnd] !== 0) nameEnd++;
    this.ino = exactU64(b, p);
    this.type = b[p + 18];
    this.nameStart = nameStart;
    this.nameEnd = nameEnd;
    return true;
  }

  /**
   * Encodes entries natively into room (plain READDIR), from the current position until the
   * directory ends, the room is full, or an entry's ino is outside `rule`. Returns the number of
   * entries encoded or -errno; `lastStop` says why it stopped (DirentStop).
   */
  encodeRun(room: DirentRoom, rule: DirentInoRule): number {
    return this.run(room, rule, -1, 0, null);
  }

  /**
   * encodeRun for READDIRPLUS: each name is statx'ed in dirfd and written with its attributes;
   * `info` receives one PlusInfo row per entry (the caller completes each lookup).
   */
  encodePlusRun(room: DirentRoom, rule: DirentInoRule, dirfd: number, timeout: number, info: Float64Array): number {
    return this.run(room, rule, dirfd, timeout, info);
  }

  private run(room: DirentRoom, rule: DirentInoRule, dirfd: number, timeout: number, info: Float64Array | null): number {
    state[S.POS] = this.pos;
    state[S.FILLED] = this.filled;
    state[S.EOF] = this.eof ? 1 : 0;
    state[S.ORDINAL] = this.ordinal;
    state[S.OUT_POS] = room.pos;
    state[S.REASON] = DirentStop.FAILED; // what an argument check that returns early leaves
    state[S.FILL_MAX] = INLINE_FILL;
    const fd = this.refillInline ? this.fd : -1;
    const n = info
      ? dirents.direntplusEncode(fd, this.buf, state, room.out, room.limit, rule.prefixHi, rule.inoBits, dirfd, timeout, info, rule.dotdotIno ?? -1)
      : dirents.direntsEncode(fd, this.buf, state, room.out, room.limit, rule.prefixHi, rule.inoBits, rule.dotdotIno ?? -1);
    // The encoder writes the state back on every path (unchanged when it refused its arguments).
    this.pos = state[S.POS];
    this.filled = state[S.FILLED];
    this.eof = state[S.EOF] !== 0;
    this.ordinal = state[S.ORDINAL];
    room.pos = state[S.OUT_POS];
    this.lastStop = state[S.REASON];
    return n;
  }

  /** Why the last encodeRun stopped (DirentStop). */
  lastStop: number = DirentStop.END;

  /** Consumes the entry next() decoded. */
  advance(): void {
    this.pos += this.buf.readUInt16LE(this.pos + 16);
    this.ordinal++;
  }
}
