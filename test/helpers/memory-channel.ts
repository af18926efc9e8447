// An in-memory RequestChannel (src/native/channel.ts): feeds FuseServer batches of request bytes
// directly (no kernel, no virtqueue) and records every answer, so the fuzz harness, the escape
// suite and the hostile-request tests can send what a real kernel never would and check that each
// request gets exactly one answer of the right kind. Requests are copied into the inbox as a
// transport would (each one's delivered length is its buffer's length, whatever its header says)
// and the inbox is poisoned around and after the batch (it is only valid during onBatch). READ and
// WRITE move their bytes with pread/pwrite here, as the native channels do. Two ways to deliver:
// deliver() gives the per-request records (answers fill in as the server replies, also later);
// send() gives the answers of one batch in one flat shape (Outcome).
import type { RequestChannel } from '../../src/native/channel';
import { sys } from '../../src/native/sys';
import { runFileJobInline, fileJobPayload } from '../helpers/inline-file-job';

export type Answer =
  | { kind: 'reply'; error: number; payload: Buffer }
  | { kind: 'error'; errno: number }
  | { kind: 'read'; bytes: number; errno: number; data: Buffer }
  | { kind: 'write'; written: number; errno: number }
  | { kind: 'done' };

export interface Pending {
  token: number;
  bytes: Buffer;
  answers: Answer[];
  /** a protocol violation the channel itself saw (answer after done, ...) */
  faults: string[];
}

/** One answer in one shape: errno 0 or the positive errno; data = a reply's payload after the
 *  out header, or the bytes a READ answered with. */
export interface Outcome {
  token: number;
  kind: Answer['kind'];
  errno: number;
  data: Buffer;
}

export function outcomeOf(token: number, a: Answer): Outcome {
  switch (a.kind) {
    case 'reply': return { token, kind: a.kind, errno: a.error < 0 ? -a.error : a.error, data: a.payload };
    case 'read': return { token, kind: a.kind, errno: a.errno, data: a.data };
    case 'done': return { token, kind: a.kind, errno: 0, data: Buffer.alloc(0) };
    default: return { token, kind: a.kind, errno: a.errno, data: Buffer.alloc(0) };
  }
}

const INBOX = 4 << 20;
const MAX_BATCH = 256;
/** READ sizes beyond this are served short, as a transport with this max_read would. */
const MAX_IO = 1 << 20;

export class MemoryChannel implements RequestChannel {
  readonly inbox = Buffer.alloc(INBOX);
  readonly table = new Uint32Array(4 * MAX_BATCH);
  private onBatch: ((count: number) => void) | null = null;
  private nextToken = 1;
  /** every request by token until the test forgets it */
  readonly requests = new Map<number, Pending>();
  /** answers for tokens we never handed out (a server bug) */
  readonly strays: string[] = [];
  closed = false;
  private readBuf = Buffer.alloc(MAX_IO);
  private lastReadLen = 0;

  /** The bytes the last READ answered with. */
  lastRead(): Buffer {
    return Buffer.from(this.readBuf.subarray(0, this.lastReadLen));
  }

  start(onBatch: (count: number) => void): void {
    this.onBatch = onBatch;
  }

  /** Delivers one batch; returns the Pending records (answers fill in as the server replies). */
  deliver(reqs: Buffer[]): Pending[] {
    if (!this.onBatch) throw new Error('channel not started');
    const out: Pending[] = [];
    let off = 0;
    for (let i = 0; i < reqs.length; i++) {
      const b = reqs[i];
      if (off + b.length > INBOX || i >= MAX_BATCH) throw new Error('batch too large for the inbox');
      b.copy(this.inbox, off);
      const token = this.nextToken++;
      this.table[4 * i] = off;
      this.table[4 * i + 1] = b.length;
      this.table[4 * i + 2] = token;
      this.table[4 * i + 3] = 1;
      const p: Pending = { token, bytes: b, answers: [], faults: [] };
      this.requests.set(token, p);
      out.push(p);
      off += (b.length + 7) & ~7;
    }
    // Poison the rest: a server reading past a request's end sees garbage, not zeros.
    this.inbox.fill(0xee, off, Math.min(INBOX, off + 4096));
    this.onBatch(reqs.length);
    this.inbox.fill(0xa5, 0, off); // answering later must not read the inbox: poison it
    return out;
  }

  /** Delivers the requests as one batch; returns the answers they got during it, flattened. */
  send(...reqs: Buffer[]): Outcome[] {
    return this.deliver(reqs).flatMap((p) => p.answers.map((a) => outcomeOf(p.token, a)));
  }

  /** Tokens delivered (and not forgotten) that have no answer yet. */
  unanswered(): number[] {
    return [...this.requests.values()].filter((p) => p.answers.length === 0).map((p) => p.token);
  }

  /** What the channel itself saw go wrong: answers for unknown tokens, second answers, bad lengths. */
  problems(): string[] {
    return [...this.strays, ...[...this.requests.values()].flatMap((p) => p.faults.map((f) => `token ${p.token}: ${f}`))];
  }

  private record(token: number, a: Answer): Pending | undefined {
    const p = this.requests.get(token);
    if (!p) {
      this.strays.push(`${a.kind} for unknown token ${token}`);
      return undefined;
    }
    p.answers.push(a);
    if (p.answers.length > 1) p.faults.push(`answered ${p.answers.length} times (${p.answers.map((x) => x.kind).join(', ')})`);
    return p;
  }

  reply(token: number, buf: Uint8Array, len: number): number {
    const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    if (len < 16 || len > b.length) {
      this.record(token, { kind: 'reply', error: 0, payload: Buffer.alloc(0) })?.faults.push(`reply length ${len} outside [16, ${b.length}]`);
      return -22;
    }
    this.record(token, { kind: 'reply', error: b.readInt32LE(4), payload: Buffer.from(b.subarray(16, len)) });
    return 0;
  }

  replyError(token: number, errno: number): number {
    this.record(token, { kind: 'error', errno });
    return 0;
  }

  readInto(token: number, fd: number, size: number, offset: number): number {
    const n = sys.pread(fd, this.readBuf, Math.min(size, MAX_IO), offset);
    this.lastReadLen = Math.max(0, n);
    const data = Buffer.from(this.readBuf.subarray(0, this.lastReadLen));
    this.record(token, n < 0 ? { kind: 'read', bytes: 0, errno: -n, data } : { kind: 'read', bytes: n, errno: 0, data });
    return 0;
  }

  writeFrom(token: number, fd: number, size: number, offset: number, _killPriv: boolean): number {
    const p = this.requests.get(token);
    const data = p ? p.bytes.subarray(80) : Buffer.alloc(0);
    if (size > data.length) {
      // The data the header promised is not there: the native channels answer EINVAL.
      this.record(token, { kind: 'write', written: 0, errno: 22 });
      return 0;
    }
    const n = sys.pwrite(fd, data, size, offset);
    this.record(token, n < 0 ? { kind: 'write', written: 0, errno: -n } : { kind: 'write', written: n, errno: 0 });
    return 0;
  }

  /** Runs the job inline; answered as the native side would (a reply, or an error). */
  fileJob(token: number, op: number, fd: number, fd2: number, a: number, b: number, c: number): number {
    const r = runFileJobInline(op, fd, fd2, a, b, c);
    if (r < 0) this.record(token, { kind: 'error', errno: -r });
    else this.record(token, { kind: 'reply', error: 0, payload: fileJobPayload(op, r) });
    return 0;
  }

  done(token: number): void {
    this.record(token, { kind: 'done' });
  }

  close(): void {
    this.closed = true;
  }
}
