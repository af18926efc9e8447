// One backend + one QEMU-playing front end + an engine stub, torn down with the test.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Test } from 'tap';
import { VhostUserTransport } from '../../src/transport/vhost-user';
import { Frontend, GuestMemory, SplitRing, type HandshakeOptions, fuseRequest, guestInitIn, FUSE, INIT_OUT_LEN, outHeader } from './vhost-frontend';
import { waitFor } from './wait';
import { StubEngine } from '../fixtures/stub-engine';

export interface SessionOptions extends HandshakeOptions {
  requestQueues?: number;
  ringSize?: number;
  /** rings to set up: hiprio + this many request queues (default: all) */
  rings?: number;
  handshake?: boolean;
}

export class Session {
  readonly events: { type: string; message?: string }[] = [];
  transport!: VhostUserTransport;
  engine!: StubEngine;
  fe!: Frontend;
  mem!: GuestMemory;
  rings: SplitRing[] = [];
  dir = '';
  sockPath = '';
  private nextUnique = 1n;
  private feClosed = true;

  static async open(t: { teardown(fn: () => void | Promise<void>): void }, opts: SessionOptions = {}): Promise<Session> {
    const s = new Session();
    t.teardown(() => s.close());
    s.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-vu-'));
    s.sockPath = path.join(s.dir, 'vhost.sock');
    const requestQueues = opts.requestQueues ?? 1;
    s.transport = new VhostUserTransport({ socketPath: s.sockPath, requestQueues, maxRequestSize: 64 << 10 });
    for (const type of ['connected', 'ready', 'disconnected']) s.transport.on(type, () => s.events.push({ type }));
    s.transport.on('warning', (message: string) => s.events.push({ type: 'warning', message }));
    s.transport.listen();
    s.engine = new StubEngine(s.transport, {}, { minor: 36, maxWrite: 1 << 20 });
    s.transport.start(s.engine.onBatch);
    await s.connect(opts);
    return s;
  }

  async connect(opts: SessionOptions = {}): Promise<void> {
    this.mem = GuestMemory.standard();
    const n = opts.rings ?? 1 + (opts.requestQueues ?? 1);
    this.rings = [];
    for (let i = 0; i < n; i++) this.rings.push(new SplitRing(this.mem, opts.ringSize ?? 64));
    this.fe = await Frontend.connect(this.sockPath);
    this.feClosed = false;
    if (opts.handshake !== false) await this.fe.handshake(this.mem, this.rings, opts);
  }

  count(type: string): number {
    return this.events.filter((e) => e.type === type).length;
  }

  unique(): bigint {
    return this.nextUnique++;
  }

  /** Sends INIT on queue q and checks the whole answer; the proof that the backend serves. */
  async init(q = 1, opts: { indirect?: boolean } = {}): Promise<void> {
    const ring = this.rings[q];
    const u = this.unique();
    const req = fuseRequest(FUSE.INIT, u, 0n, guestInitIn());
    const inGpa = this.mem.alloc(req.length);
    this.mem.write(inGpa, req);
    const outGpa = this.mem.alloc(16 + INIT_OUT_LEN);
    const head = ring.addChain([{ gpa: inGpa, len: req.length }, { gpa: outGpa, len: 16 + INIT_OUT_LEN, write: true }], opts);
    ring.kick();
    const used = await ring.nextUsed('INIT answer');
    const h = outHeader(this.mem.read(outGpa, 16));
    if (used.id !== head || used.len !== 16 + INIT_OUT_LEN || h.len !== used.len || h.error !== 0 || h.unique !== u)
      throw new Error(`bad INIT answer: used ${JSON.stringify(used)} head ${head} header ${JSON.stringify({ ...h, unique: String(h.unique) })}`);
  }

  /** After something the backend had to refuse: it still serves queue q, on the same connection. */
  async stillServes(t: Test, q = 1): Promise<void> {
    await this.init(q);
    t.equal(this.count('disconnected'), 0, 'the connection stays');
  }

  async waitEvent(type: string, n = 1): Promise<void> {
    await waitFor(() => this.count(type) >= n, `'${type}' event`);
  }

  /** Closes the front end's socket, eventfds and memory (each once). */
  closeFrontend(): void {
    if (this.fe && !this.feClosed) this.fe.close();
    this.feClosed = true;
    for (const r of this.rings) r.close();
    this.rings = [];
    this.mem?.close();
  }

  close(): void {
    this.closeFrontend();
    this.transport?.close();
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
