// Reading a host directory in pieces the client asks for. The offsets we hand out are ordinals
// (1 after the first entry, 2 after the second, ...) instead of the host's d_off cookies: those
// are 64-bit hashes on some filesystems (ext4) that a JS number cannot carry exactly, and an
// ordinal can be checked — a client asking for an offset we did not give just gets a rescan.
//
// The current entry is decoded in place (fields of the stream, the name as a range of `buf`):
// a 100,000-entry listing then costs no object per entry.
import { C, sys } from '../native/sys';
import type { InoValue } from '../protocol/wire';
import { exactU64 } from './host-stat';

const BUF_SIZE = 64 * 1024;
const DOT = 0x2e;

export class DirStream {
  readonly buf = Buffer.alloc(BUF_SIZE);
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

  constructor(readonly fd: number) {}

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
      if (this.eof) return false;
      const n = sys.getdents64(this.fd, this.buf);
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

  /** Consumes the entry next() decoded. */
  advance(): void {
    this.pos += this.buf.readUInt16LE(this.pos + 16);
    this.ordinal++;
  }
}
