// An in-memory RequestChannel (src/native/channel.ts) for feeding a FuseServer requests the kernel
// would never send, in-process. deliver() copies hand-built requests into the inbox exactly as a
// transport would (each one's delivered length is its buffer's length, whatever its header says),
// runs one batch and returns what the server answered. Every answer call is recorded, including
// ones the real native side would refuse (a second answer to a token, an unknown token), so a test
// can assert "exactly one answer per request".
//
// Request builders: req() makes a fuse_in_header + body; the body helpers build the structs the
// tests need (sizes from src/protocol/layout.ts).
import type { RequestChannel } from '../../src/native/channel';
import { sys } from '../../src/native/sys';
import { runFileJobInline, fileJobPayload } from './inline-file-job';
import * as P from '../../src/protocol';

export type AnswerKind = 'reply' | 'error' | 'readInto' | 'writeFrom' | 'done';

export interface Answer {
  token: number;
  kind: AnswerKind;
  /** 0 on success, else the positive errno (reply: from the out header) */
  errno: number;
  /** payload after the out header (reply), or the bytes read (readInto) */
  data: Buffer;
}

const EINVAL = 22;

export class StubChannel implements RequestChannel {
  readonly inbox = Buffer.alloc(4 << 20);
  readonly table = new Uint32Array(4 * 256);
  /** every answer call, in order */
  readonly answers: Answer[] = [];
  /** answer calls for tokens that were not pending (already answered or never issued) */
  readonly refused: Answer[] = [];
  private onBatch: ((count: number) => void) | null = null;
  private pending = new Set<number>();
  private nextToken = 1;
  closed = false;

  start(onBatch: (count: number) => void): void {
    this.onBatch = onBatch;
  }

  /** Delivers the requests as one batch; returns the answers given to them (during the batch). */
  deliver(...requests: Buffer[]): Answer[] {
    if (!this.onBatch) throw new Error('deliver before start');
    let off = 0;
    const tokens: number[] = [];
    requests.forEach((r, i) => {
      r.copy(this.inbox, off);
      const token = this.nextToken++;
      this.pending.add(token);
      tokens.push(token);
      this.table[4 * i] = off;
      this.table[4 * i + 1] = r.length;
      this.table[4 * i + 2] = token;
      this.table[4 * i + 3] = 0;
      off += Math.ceil(r.length / 8) * 8;
    });
    const first = this.answers.length;
    this.onBatch(requests.length);
    this.inbox.fill(0xa5, 0, off); // the inbox is only valid during the batch: poison it
    return this.answers.slice(first).filter((a) => tokens.includes(a.token));
  }

  /** Tokens delivered but never answered. */
  unanswered(): number[] {
    return [...this.pending];
  }

  private answer(token: number, kind: AnswerKind, errno: number, data: Buffer): number {
    const a: Answer = { token, kind, errno, data };
    if (!this.pending.delete(token)) {
      this.refused.push(a);
      return -EINVAL;
    }
    this.answers.push(a);
    return 0;
  }

  reply(token: number, buf: Uint8Array, len: number): number {
    if (len < P.OUT_HEADER_SIZE) return -EINVAL;
    const b = Buffer.from(buf.buffer, buf.byteOffset, len);
    const error = b.readInt32LE(4);
    return this.answer(token, 'reply', error < 0 ? -error : error, Buffer.from(b.subarray(P.OUT_HEADER_SIZE, len)));
  }

  replyError(token: number, errno: number): number {
    return this.answer(token, 'error', errno, Buffer.alloc(0));
  }

  readInto(token: number, fd: number, size: number, offset: number): number {
    const out = Buffer.alloc(size);
    const n = sys.pread(fd, out, size, offset);
    return this.answer(token, 'readInto', n < 0 ? -n : 0, n < 0 ? Buffer.alloc(0) : out.subarray(0, n));
  }

  writeFrom(token: number, _fd: number, _size: number, _offset: number, _killPriv: boolean): number {
    // Tests never need the data written: record the call only.
    return this.answer(token, 'writeFrom', 0, Buffer.alloc(0));
  }

  /** Runs the job inline and records it as a reply (its payload, or the error). */
  fileJob(token: number, op: number, fd: number, fd2: number, a: number, b: number, c: number): number {
    const r = runFileJobInline(op, fd, fd2, a, b, c);
    return this.answer(token, 'reply', r < 0 ? -r : 0, r < 0 ? Buffer.alloc(0) : fileJobPayload(op, r));
  }

  done(token: number): void {
    this.answer(token, 'done', 0, Buffer.alloc(0));
  }

  close(): void {
    this.closed = true;
  }
}

// ---------------------------------------------------------------------------------------------
// Request builders

let unique = 1n;

export interface HeaderOpts {
  uid?: number;
  gid?: number;
  pid?: number;
  /** the header's len field; default: the real length */
  len?: number;
}

/** A request: fuse_in_header then body. */
export function req(opcode: number, nodeid: number | bigint, body: Buffer = Buffer.alloc(0), o: HeaderOpts = {}): Buffer {
  const h = Buffer.alloc(P.IN_HEADER_SIZE);
  const total = P.IN_HEADER_SIZE + body.length;
  h.writeUInt32LE(o.len ?? total, 0);
  h.writeUInt32LE(opcode >>> 0, 4);
  h.writeBigUInt64LE(unique++, 8);
  h.writeBigUInt64LE(BigInt(nodeid), 16);
  h.writeUInt32LE(o.uid ?? 0, 24);
  h.writeUInt32LE(o.gid ?? 0, 28);
  h.writeUInt32LE(o.pid ?? process.pid, 32);
  return Buffer.concat([h, body]);
}

/** A NUL-terminated name (pass raw bytes for names that are not UTF-8 or lack the NUL). */
export const name = (s: string | Buffer, nul = true): Buffer =>
  Buffer.concat([typeof s === 'string' ? Buffer.from(s) : s, nul ? Buffer.alloc(1) : Buffer.alloc(0)]);

export function initIn(minor = 45, flags = 0xffffffff, flags2 = 0): Buffer {
  const b = Buffer.alloc(P.Size.INIT_IN);
  b.writeUInt32LE(7, 0);
  b.writeUInt32LE(minor, 4);
  b.writeUInt32LE(128 * 1024, 8);
  b.writeUInt32LE(flags >>> 0, 12);
  b.writeUInt32LE(flags2 >>> 0, 16);
  return b;
}

export function openIn(flags: number): Buffer {
  const b = Buffer.alloc(P.Size.OPEN_IN);
  b.writeUInt32LE(flags >>> 0, 0);
  return b;
}

export function readIn(fh: number | bigint, offset: number, size: number): Buffer {
  const b = Buffer.alloc(P.Size.READ_IN);
  b.writeBigUInt64LE(BigInt(fh), 0);
  b.writeBigUInt64LE(BigInt(offset), 8);
  b.writeUInt32LE(size, 16);
  return b;
}

export function writeIn(fh: number | bigint, offset: number, data: Buffer): Buffer {
  const b = Buffer.alloc(P.Size.WRITE_IN);
  b.writeBigUInt64LE(BigInt(fh), 0);
  b.writeBigUInt64LE(BigInt(offset), 8);
  b.writeUInt32LE(data.length, 16);
  return Buffer.concat([b, data]);
}

export function releaseIn(fh: number | bigint): Buffer {
  const b = Buffer.alloc(P.Size.RELEASE_IN);
  b.writeBigUInt64LE(BigInt(fh), 0);
  return b;
}

export function forgetIn(nlookup: number | bigint): Buffer {
  const b = Buffer.alloc(P.Size.FORGET_IN);
  b.writeBigUInt64LE(BigInt(nlookup), 0);
  return b;
}

/** BATCH_FORGET claiming `count` entries but carrying `items`. */
export function batchForgetIn(count: number, items: [number | bigint, number | bigint][]): Buffer {
  const b = Buffer.alloc(P.Size.BATCH_FORGET_IN + items.length * P.Size.FORGET_ONE);
  b.writeUInt32LE(count >>> 0, 0);
  items.forEach(([id, n], i) => {
    b.writeBigUInt64LE(BigInt(id), 8 + 16 * i);
    b.writeBigUInt64LE(BigInt(n), 16 + 16 * i);
  });
  return b;
}

export function getattrIn(): Buffer {
  return Buffer.alloc(P.Size.GETATTR_IN);
}

export function mkdirIn(mode: number, n: string | Buffer): Buffer {
  const b = Buffer.alloc(P.Size.MKDIR_IN);
  b.writeUInt32LE(mode, 0);
  return Buffer.concat([b, name(n)]);
}

export function createIn(flags: number, mode: number, n: string | Buffer): Buffer {
  const b = Buffer.alloc(P.Size.CREATE_IN);
  b.writeUInt32LE(flags >>> 0, 0);
  b.writeUInt32LE(mode, 4);
  return Buffer.concat([b, name(n)]);
}

export function renameIn(newdir: number, oldName: string, newName: string): Buffer {
  const b = Buffer.alloc(P.Size.RENAME_IN);
  b.writeBigUInt64LE(BigInt(newdir), 0);
  return Buffer.concat([b, name(oldName), name(newName)]);
}

export function linkIn(oldNodeid: number | bigint, n: string): Buffer {
  const b = Buffer.alloc(P.Size.LINK_IN);
  b.writeBigUInt64LE(BigInt(oldNodeid), 0);
  return Buffer.concat([b, name(n)]);
}

// ---------------------------------------------------------------------------------------------
// Reply readers

/** fuse_entry_out: the node id and the attributes we check. */
export function entryOf(data: Buffer): { nodeid: number; ino: number; mode: number; size: number; nlink: number } {
  const attr = 40; // nodeid, generation, entry_valid, attr_valid (u64 each), two u32 nsecs
  return {
    nodeid: Number(data.readBigUInt64LE(0)),
    ino: Number(data.readBigUInt64LE(attr)),
    size: Number(data.readBigUInt64LE(attr + 8)),
    mode: data.readUInt32LE(attr + 60),
    nlink: data.readUInt32LE(attr + 64),
  };
}

/** fuse_attr_out: the attributes we check. */
export function attrOf(data: Buffer): { ino: number; mode: number; size: number } {
  const attr = 16; // attr_valid u64, attr_valid_nsec u32, dummy u32
  return { ino: Number(data.readBigUInt64LE(attr)), size: Number(data.readBigUInt64LE(attr + 8)), mode: data.readUInt32LE(attr + 60) };
}

/** fuse_open_out's fh. */
export const fhOf = (data: Buffer): bigint => data.readBigUInt64LE(0);
