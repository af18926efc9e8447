// Reading a host directory in pieces the client asks for. The offsets we hand out are ordinals
// (1 after the first entry, 2 after the second, ...) instead of the host's d_off cookies: those
// are 64-bit hashes on some filesystems (ext4) that a JS number cannot carry exactly, and an
// ordinal can be checked — a client asking for an offset we did not give just gets a rescan.
import { C, sys } from '../native/sys';
import type { InoValue } from '../protocol/wire';
import { exactU64 } from './host-stat';

export interface RawDirent {
  ino: InoValue;
  type: number;
  name: Buffer;
  /** the ordinal offset of the entry after this one */
  next: number;
}

const BUF_SIZE = 64 * 1024;

export class DirStream {
  private buf = Buffer.alloc(BUF_SIZE);
  private pos = 0;
  private filled = 0;
  /** ordinal of the next entry the buffer position points at */
  private ordinal = 0;
  private eof = false;

  constructor(readonly fd: number) {}

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
      const e = this.peek();
      if (typeof e === 'number') return e;
      if (!e) break;
      this.advance(e);
    }
    return 0;
  }

  /** The next entry without consuming it; null at the end; -errno on error. */
  peek(): RawDirent | null | number {
    if (this.pos >= this.filled) {
      if (this.eof) return null;
      const n = sys.getdents64(this.fd, this.buf);
      if (n < 0) return n;
      if (n === 0) {
        this.eof = true;
        return null;
      }
      this.pos = 0;
      this.filled = n;
    }
    const b = this.buf, p = this.pos;
    const reclen = b.readUInt16LE(p + 16);
    const nameStart = p + 19;
    let nameEnd = b.indexOf(0, nameStart);
    if (nameEnd < 0 || nameEnd > p + reclen) nameEnd = p + reclen;
    return {
      ino: exactU64(b, p),
      type: b.readUInt8(p + 18),
      name: b.subarray(nameStart, nameEnd),
      next: this.ordinal + 1,
    };
  }

  /** Consumes the entry peek() returned. */
  advance(e: RawDirent): void {
    this.pos += this.buf.readUInt16LE(this.pos + 16);
    this.ordinal = e.next;
  }
}
