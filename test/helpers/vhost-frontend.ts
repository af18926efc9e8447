// A vhost-user front end in TypeScript that plays QEMU's part against our backend in tests:
// guest memory in memfds (one or more regions), split virtqueues driven from the guest side
// (direct and indirect chains, EVENT_IDX, NO_INTERRUPT), kick/call eventfds, and the message
// sequence QEMU 7.2 sends to a vhost-user-fs backend. It also lets tests break every rule, to
// check that a hostile guest or a broken front end cannot hurt the backend.
//
// The backend runs on this same thread (libuv polls), so every wait here is asynchronous.
import * as path from 'node:path';
import { waitFor } from './wait';
import { Op } from '../../src/protocol/opcodes';
import { initIn, req } from './fuse-requests';

interface TestSupport {
  memfdCreate(name: string, size: number): number;
  mmapShared(fd: number, size: number): ArrayBuffer | number;
  eventfdCreate(blocking?: boolean): number;
  eventfdRead(fd: number): number;
  eventfdWrite(fd: number, n: number): number;
  unixConnect(path: string): number;
  unixListen(path: string): number;
  sendMsg(fd: number, data: Uint8Array, fds: number[]): number;
  recvMsg(fd: number, buf: Uint8Array): { n: number; fds: number[] };
  poll(fd: number, events: number, timeoutMs: number): number;
  close(fd: number): number;
}
// The test-only addon (native/vhost_test_support.cc): dist/test/helpers -> <root>/build/Release.
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const native: TestSupport = require(path.resolve(__dirname, '..', '..', '..', 'build', 'Release', 'vfsd_test_support.node'));

export const VU = {
  GET_FEATURES: 1, SET_FEATURES: 2, SET_OWNER: 3, RESET_OWNER: 4, SET_MEM_TABLE: 5,
  SET_LOG_BASE: 6, SET_LOG_FD: 7, SET_VRING_NUM: 8, SET_VRING_ADDR: 9, SET_VRING_BASE: 10,
  GET_VRING_BASE: 11, SET_VRING_KICK: 12, SET_VRING_CALL: 13, SET_VRING_ERR: 14,
  GET_PROTOCOL_FEATURES: 15, SET_PROTOCOL_FEATURES: 16, GET_QUEUE_NUM: 17, SET_VRING_ENABLE: 18,
  GET_CONFIG: 24, GET_MAX_MEM_SLOTS: 36, ADD_MEM_REG: 37, REM_MEM_REG: 38,
} as const;
export const F = {
  INDIRECT_DESC: 1n << 28n, EVENT_IDX: 1n << 29n, PROTOCOL_FEATURES: 1n << 30n, VERSION_1: 1n << 32n,
};
export const PF = { MQ: 1n << 0n, REPLY_ACK: 1n << 3n, CONFIGURE_MEM_SLOTS: 1n << 15n };
export const FLAG_NEED_REPLY = 1 << 3;
export const DESC_NEXT = 1, DESC_WRITE = 2, DESC_INDIRECT = 4;

/** Lets the event loop run a few rounds (for "nothing happens" checks). */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setTimeout(r, 1));
}

export interface RegionLayout { gpa: bigint; size: number; userAddr: bigint; mmapOffset: number }
interface Region extends RegionLayout { fd: number; buf: Buffer; next: number }

/** Guest RAM: each region its own memfd, mapped here and shared with the backend. */
export class GuestMemory {
  readonly regions: Region[] = [];
  constructor(layout: RegionLayout[]) {
    for (const l of layout) {
      const fd = native.memfdCreate('guest-ram', l.mmapOffset + l.size);
      if (fd < 0) throw new Error(`memfd_create: ${fd}`);
      const ab = native.mmapShared(fd, l.mmapOffset + l.size);
      if (typeof ab === 'number') throw new Error(`mmap: ${ab}`);
      this.regions.push({ ...l, fd, buf: Buffer.from(ab, l.mmapOffset, l.size), next: 0 });
    }
  }
  /** Two regions by default: low RAM at 0 and a second one high up, at a non-zero mmap offset. */
  static standard(): GuestMemory {
    return new GuestMemory([
      { gpa: 0n, size: 4 << 20, userAddr: 0x7f0000000000n, mmapOffset: 0 },
      { gpa: 0x100000000n, size: 4 << 20, userAddr: 0x7f1000000000n, mmapOffset: 8192 },
    ]);
  }
  /** Bump allocation in one region. */
  alloc(len: number, align = 16, region = 0): bigint {
    const r = this.regions[region];
    r.next = Math.ceil(r.next / align) * align;
    if (r.next + len > r.size) throw new Error('guest memory exhausted');
    const gpa = r.gpa + BigInt(r.next);
    r.next += len;
    return gpa;
  }
  /** Where region's next allocation starts; rewind(mark) frees all allocated since (for a test
   *  that sends thousands of requests one after another, none posted across the two). */
  mark(region = 0): number {
    return this.regions[region].next;
  }
  rewind(mark: number, region = 0): void {
    this.regions[region].next = mark;
  }
  /** The last `len` bytes of region `region`, so a buffer can run into the next region. */
  endOf(region: number, len: number): bigint {
    const r = this.regions[region];
    return r.gpa + BigInt(r.size - len);
  }
  private locate(gpa: bigint): { r: Region; off: number } {
    for (const r of this.regions) if (gpa >= r.gpa && gpa < r.gpa + BigInt(r.size)) return { r, off: Number(gpa - r.gpa) };
    throw new Error(`gpa 0x${gpa.toString(16)} outside guest memory`);
  }
  view(gpa: bigint, len: number): Buffer {
    const { r, off } = this.locate(gpa);
    if (off + len > r.size) throw new Error('view crosses a region');
    return r.buf.subarray(off, off + len);
  }
  write(gpa: bigint, data: Uint8Array): void {
    this.view(gpa, data.length).set(data);
  }
  read(gpa: bigint, len: number): Buffer {
    return Buffer.from(this.view(gpa, len));
  }
  userAddr(gpa: bigint): bigint {
    const { r, off } = this.locate(gpa);
    return r.userAddr + BigInt(off);
  }
  close(): void {
    for (const r of this.regions) native.close(r.fd);
    this.regions.length = 0;
  }
}

export interface Buf { gpa: bigint; len: number; write?: boolean }

/** A split virtqueue, driver side. */
export class SplitRing {
  readonly desc: bigint;
  readonly avail: bigint;
  readonly used: bigint;
  readonly kickFd: number;
  readonly callFd: number;
  readonly errFd: number;
  private nextDesc = 0;
  private availIdx = 0;
  private lastUsed = 0;

  constructor(readonly mem: GuestMemory, readonly size: number) {
    this.desc = mem.alloc(16 * size, 16);
    this.avail = mem.alloc(6 + 2 * size, 2);
    this.used = mem.alloc(6 + 8 * size, 4);
    this.kickFd = native.eventfdCreate();
    this.callFd = native.eventfdCreate();
    this.errFd = native.eventfdCreate();
  }

  writeDesc(i: number, addr: bigint, len: number, flags: number, next: number, table = this.desc): void {
    const b = this.mem.view(table + BigInt(16 * i), 16);
    b.writeBigUInt64LE(addr, 0);
    b.writeUInt32LE(len, 8);
    b.writeUInt16LE(flags, 12);
    b.writeUInt16LE(next, 14);
  }
  /** Places head in the avail ring and publishes it. */
  publish(head: number): void {
    const a = this.mem.view(this.avail, 6 + 2 * this.size);
    a.writeUInt16LE(head, 4 + 2 * (this.availIdx % this.size));
    this.availIdx = (this.availIdx + 1) & 0xffff;
    a.writeUInt16LE(this.availIdx, 2);
  }
  /** Sets avail idx to anything (hostile tests). */
  setAvailIdx(v: number): void {
    this.availIdx = v & 0xffff;
    this.mem.view(this.avail, 4).writeUInt16LE(this.availIdx, 2);
  }
  private takeDescs(n: number): number[] {
    const ids: number[] = [];
    for (let k = 0; k < n; k++) {
      ids.push(this.nextDesc);
      this.nextDesc = (this.nextDesc + 1) % this.size;
    }
    return ids;
  }
  /** Adds a chain of buffers (readable first, then writable); returns its head. */
  addChain(bufs: Buf[], opts: { indirect?: boolean } = {}): number {
    if (opts.indirect) {
      const table = this.mem.alloc(16 * bufs.length, 16);
      bufs.forEach((b, i) =>
        this.writeDesc(i, b.gpa, b.len, (b.write ? DESC_WRITE : 0) | (i + 1 < bufs.length ? DESC_NEXT : 0), i + 1, table));
      const [head] = this.takeDescs(1);
      this.writeDesc(head, table, 16 * bufs.length, DESC_INDIRECT, 0);
      this.publish(head);
      return head;
    }
    const ids = this.takeDescs(bufs.length);
    bufs.forEach((b, i) =>
      this.writeDesc(ids[i], b.gpa, b.len, (b.write ? DESC_WRITE : 0) | (i + 1 < bufs.length ? DESC_NEXT : 0), ids[(i + 1) % ids.length]));
    this.publish(ids[0]);
    return ids[0];
  }
  /** Takes `n` raw descriptor slots for hand-built (hostile) chains. */
  reserve(n: number): number[] {
    return this.takeDescs(n);
  }
  kick(): void {
    native.eventfdWrite(this.kickFd, 1);
  }
  usedIdx(): number {
    return this.mem.view(this.used, 4).readUInt16LE(2);
  }
  usedEntry(i: number): { id: number; len: number } {
    const e = this.mem.view(this.used + BigInt(4 + 8 * (i % this.size)), 8);
    return { id: e.readUInt32LE(0), len: e.readUInt32LE(4) };
  }
  /** The device's used->flags (VRING_USED_F_NO_NOTIFY = 1: do not kick). */
  usedFlags(): number {
    return this.mem.view(this.used, 2).readUInt16LE(0);
  }
  /** The device's avail_event (EVENT_IDX), right after the used ring. */
  availEvent(): number {
    return this.mem.view(this.used + BigInt(4 + 8 * this.size), 2).readUInt16LE(0);
  }
  setUsedEvent(v: number): void {
    this.mem.view(this.avail + BigInt(4 + 2 * this.size), 2).writeUInt16LE(v & 0xffff, 0);
  }
  setNoInterrupt(on: boolean): void {
    this.mem.view(this.avail, 2).writeUInt16LE(on ? 1 : 0, 0);
  }
  /** Reads (and clears) the call eventfd: how many interrupts came since last time. */
  takeCalls(): number {
    const n = native.eventfdRead(this.callFd);
    return n < 0 ? 0 : n;
  }
  /** Waits for the next used entry and returns it. */
  async nextUsed(what = 'a used entry'): Promise<{ id: number; len: number }> {
    await waitFor(() => this.usedIdx() !== this.lastUsed, what);
    return this.takeUsed()!;
  }
  /** The next used entry if there is one (consumed), else null: for tests with many in flight. */
  takeUsed(): { id: number; len: number } | null {
    if (this.usedIdx() === this.lastUsed) return null;
    const e = this.usedEntry(this.lastUsed);
    this.lastUsed = (this.lastUsed + 1) & 0xffff;
    return e;
  }
  pendingUsed(): number {
    return (this.usedIdx() - this.lastUsed) & 0xffff;
  }
  close(): void {
    native.close(this.kickFd);
    native.close(this.callFd);
    native.close(this.errFd);
  }
}

export interface Reply { request: number; flags: number; payload: Buffer }

function u64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
}
function state(index: number, num: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(index, 0);
  b.writeUInt32LE(num >>> 0, 4);
  return b;
}
export function regionPayload(r: RegionLayout, withPadding: boolean): Buffer {
  const b = Buffer.alloc(withPadding ? 40 : 32);
  const o = withPadding ? 8 : 0;
  b.writeBigUInt64LE(r.gpa, o);
  b.writeBigUInt64LE(BigInt(r.size), o + 8);
  b.writeBigUInt64LE(r.userAddr, o + 16);
  b.writeBigUInt64LE(BigInt(r.mmapOffset), o + 24);
  return b;
}

export interface HandshakeOptions {
  /** 'table': one SET_MEM_TABLE; 'slots': ADD_MEM_REG per region (CONFIGURE_MEM_SLOTS) */
  memory?: 'table' | 'slots';
  features?: bigint;
  protocolFeatures?: bigint;
}

/** The QEMU side of one connection. */
export class Frontend {
  private rx = Buffer.alloc(0);
  replyAck = false;
  constructor(readonly sock: number) {}

  static async connect(path: string): Promise<Frontend> {
    const fd = native.unixConnect(path);
    if (fd < 0) throw new Error(`connect ${path}: ${fd}`);
    return new Frontend(fd);
  }

  /** connect() to a server that is starting: its socket file appears at bind(), a moment before
   *  listen(), so ENOENT and ECONNREFUSED are retried until timeoutMs. */
  static async connectWhenListening(path: string, timeoutMs = 10000): Promise<Frontend> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const fd = native.unixConnect(path);
      if (fd >= 0) return new Frontend(fd);
      if ((fd !== -2 && fd !== -111) || Date.now() > until) throw new Error(`connect ${path}: ${fd}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Sends one message exactly as given (flags default: version 1, plus need_reply if acking). */
  sendRaw(request: number, payload: Buffer, fds: number[] = [], flags = 1, size = payload.length): number {
    const hdr = Buffer.alloc(12);
    hdr.writeUInt32LE(request, 0);
    hdr.writeUInt32LE(flags, 4);
    hdr.writeUInt32LE(size >>> 0, 8);
    return native.sendMsg(this.sock, Buffer.concat([hdr, payload]), fds);
  }

  async recv(what = 'a reply'): Promise<Reply> {
    const chunk = Buffer.alloc(4096);
    for (;;) {
      if (this.rx.length >= 12) {
        const size = this.rx.readUInt32LE(8);
        if (this.rx.length >= 12 + size) {
          const r = { request: this.rx.readUInt32LE(0), flags: this.rx.readUInt32LE(4), payload: Buffer.from(this.rx.subarray(12, 12 + size)) };
          this.rx = this.rx.subarray(12 + size);
          return r;
        }
      }
      let got = 0;
      await waitFor(() => {
        const r = native.recvMsg(this.sock, chunk);
        for (const fd of r.fds) native.close(fd);
        if (r.n === -11) return false; // EAGAIN
        if (r.n <= 0) throw new Error(`connection closed while waiting for ${what} (${r.n})`);
        got = r.n;
        return true;
      }, what);
      this.rx = Buffer.concat([this.rx, chunk.subarray(0, got)]);
    }
  }

  /** True once the backend has closed the connection. */
  isClosed(): boolean {
    const POLLIN = 1, POLLHUP = 0x10;
    const ev = native.poll(this.sock, POLLIN, 0);
    if (!(ev & (POLLIN | POLLHUP))) return false;
    const r = native.recvMsg(this.sock, Buffer.alloc(4096));
    for (const fd of r.fds) native.close(fd);
    return r.n === 0 || (r.n < 0 && r.n !== -11);
  }

  /** A message that expects a reply of its own (GET_*). */
  async get(request: number, payload: Buffer = Buffer.alloc(0)): Promise<Buffer> {
    this.sendRaw(request, payload);
    const r = await this.recv(`reply to ${request}`);
    if (r.request !== request || (r.flags & 4) === 0) throw new Error(`unexpected reply ${r.request}/${r.flags}`);
    return r.payload;
  }
  async getU64(request: number): Promise<bigint> {
    return (await this.get(request)).readBigUInt64LE(0);
  }

  /** A message without a reply of its own; with REPLY_ACK we ask for the ack and return it. */
  async set(request: number, payload: Buffer, fds: number[] = []): Promise<bigint> {
    this.sendRaw(request, payload, fds, this.replyAck ? 1 | FLAG_NEED_REPLY : 1);
    if (!this.replyAck) return 0n;
    const r = await this.recv(`ack of ${request}`);
    if (r.request !== request) throw new Error(`ack for ${r.request}, expected ${request}`);
    return r.payload.readBigUInt64LE(0);
  }
  setU64(request: number, v: bigint, fds: number[] = []): Promise<bigint> {
    return this.set(request, u64(v), fds);
  }
  setState(request: number, index: number, num: number): Promise<bigint> {
    return this.set(request, state(index, num));
  }
  async getVringBase(index: number): Promise<number> {
    return (await this.get(VU.GET_VRING_BASE, state(index, 0))).readUInt32LE(4);
  }

  async setMemTable(mem: GuestMemory): Promise<bigint> {
    const head = Buffer.alloc(8);
    head.writeUInt32LE(mem.regions.length, 0);
    return this.set(VU.SET_MEM_TABLE, Buffer.concat([head, ...mem.regions.map((r) => regionPayload(r, false))]), mem.regions.map((r) => r.fd));
  }

  async setVringAddr(index: number, ring: SplitRing): Promise<bigint> {
    const b = Buffer.alloc(40);
    b.writeUInt32LE(index, 0);
    b.writeBigUInt64LE(ring.mem.userAddr(ring.desc), 8);
    b.writeBigUInt64LE(ring.mem.userAddr(ring.used), 16);
    b.writeBigUInt64LE(ring.mem.userAddr(ring.avail), 24);
    return this.set(VU.SET_VRING_ADDR, b);
  }

  /** What QEMU sends to (re)start ring `index`: NUM, BASE 0, ADDR, KICK, CALL; returns the acks. */
  async startRing(index: number, r: SplitRing): Promise<bigint[]> {
    return [
      await this.setState(VU.SET_VRING_NUM, index, r.size),
      await this.setState(VU.SET_VRING_BASE, index, 0),
      await this.setVringAddr(index, r),
      await this.setU64(VU.SET_VRING_KICK, BigInt(index), [r.kickFd]),
      await this.setU64(VU.SET_VRING_CALL, BigInt(index), [r.callFd]),
    ];
  }

  /**
   * What QEMU 7.2 sends to vhost-user-fs: at device realize GET_FEATURES, GET_PROTOCOL_FEATURES,
   * SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, GET_MAX_MEM_SLOTS, SET_OWNER, GET_FEATURES, then
   * SET_VRING_CALL and SET_VRING_ERR per queue (checked against a real QEMU 7.2); when the driver starts the device SET_FEATURES, the memory table,
   * for each queue NUM, BASE, ADDR, KICK, CALL, and finally SET_VRING_ENABLE for each queue.
   * Returns the numbers the backend reported.
   */
  async handshake(mem: GuestMemory, rings: SplitRing[], opts: HandshakeOptions = {}) {
    const features = await this.getU64(VU.GET_FEATURES);
    let protocol = 0n;
    if (features & F.PROTOCOL_FEATURES) {
      protocol = (await this.getU64(VU.GET_PROTOCOL_FEATURES)) & (opts.protocolFeatures ?? ~0n);
      await this.setU64(VU.SET_PROTOCOL_FEATURES, protocol);
      this.replyAck = (protocol & PF.REPLY_ACK) !== 0n;
    }
    const queueNum = protocol & PF.MQ ? await this.getU64(VU.GET_QUEUE_NUM) : 1n;
    const memSlots = protocol & PF.CONFIGURE_MEM_SLOTS ? await this.getU64(VU.GET_MAX_MEM_SLOTS) : 8n;
    await this.set(VU.SET_OWNER, Buffer.alloc(0));
    await this.getU64(VU.GET_FEATURES);
    for (let i = 0; i < rings.length; i++) {
      await this.setU64(VU.SET_VRING_CALL, BigInt(i), [rings[i].callFd]);
      await this.setU64(VU.SET_VRING_ERR, BigInt(i), [rings[i].errFd]);
    }

    const acked = features & (opts.features ?? (F.VERSION_1 | F.INDIRECT_DESC | F.EVENT_IDX | F.PROTOCOL_FEATURES));
    const ack: bigint[] = [];
    ack.push(await this.setU64(VU.SET_FEATURES, acked));
    if ((opts.memory ?? 'slots') === 'slots' && protocol & PF.CONFIGURE_MEM_SLOTS) {
      for (const r of mem.regions) ack.push(await this.set(VU.ADD_MEM_REG, regionPayload(r, true), [r.fd]));
    } else {
      ack.push(await this.setMemTable(mem));
    }
    for (let i = 0; i < rings.length; i++) ack.push(...(await this.startRing(i, rings[i])));
    if (acked & F.PROTOCOL_FEATURES)
      for (let i = 0; i < rings.length; i++) ack.push(await this.setState(VU.SET_VRING_ENABLE, i, 1));
    return { features, protocol, queueNum, memSlots, acks: ack };
  }

  close(): void {
    native.close(this.sock);
  }
}

// ---- FUSE requests as a guest driver builds them ----
export const FUSE = Op; // src/protocol's numbers, checked against fuse.h by protocol-wire.test.ts

/** The guest process a request comes from (its uid and gid in the guest). */
export interface Caller { uid: number; gid: number }

/** A request from the guest's driver (pid 0; uid and gid 0 unless `caller` says); `extra` follows
 *  the body (WRITE data). */
export function fuseRequest(opcode: number, unique: bigint, nodeid: bigint, body: Buffer, extra?: Buffer, caller?: Caller): Buffer {
  return req(opcode, nodeid, extra ? Buffer.concat([body, extra]) : body, { unique, pid: 0, uid: caller?.uid ?? 0, gid: caller?.gid ?? 0 });
}
/** INIT as the tests' guest sends it: protocol 7.36, no flags offered. */
export const guestInitIn = (): Buffer => initIn(36, 0);

/** fuse_out_header as written into guest memory. */
export function outHeader(b: Buffer): { len: number; error: number; unique: bigint } {
  return { len: b.readUInt32LE(0), error: b.readInt32LE(4), unique: b.readBigUInt64LE(8) };
}

/** The length of the stub engine's INIT answer after the out header (fuse_init_out). */
export const INIT_OUT_LEN = 64;

/** A connected front end that sends one FUSE request at a time on a request queue (ring 1 unless
 *  told) and waits for its answer: what the CLI-level tests need. `replySize` bounds each answer.
 *  `post` only publishes one (indirect: one descriptor per request) and returns where its answer
 *  will be, for tests that keep many requests in flight. */
export interface RequestSession {
  fe: Frontend;
  mem: GuestMemory;
  rings: SplitRing[];
  request(opcode: number, nodeid: bigint, body: Buffer, ring?: number, extra?: Buffer, caller?: Caller): Promise<{ h: ReturnType<typeof outHeader>; payload: Buffer }>;
  /** unique: the request's (an INTERRUPT names it) */
  post(opcode: number, nodeid: bigint, body: Buffer, ring?: number, extra?: Buffer, caller?: Caller): { head: number; out: bigint; unique: bigint };
}

export async function openRequestSession(sock: string, replySize = 8192, requestQueues = 1): Promise<RequestSession> {
  const mem = GuestMemory.standard();
  const rings = Array.from({ length: 1 + requestQueues }, () => new SplitRing(mem, 64));
  const fe = await Frontend.connectWhenListening(sock);
  await fe.handshake(mem, rings);
  let unique = 1n;
  const post = (opcode: number, nodeid: bigint, body: Buffer, ring = 1, extra?: Buffer, caller?: Caller) => {
    const u = unique++;
    const req = fuseRequest(opcode, u, nodeid, body, extra, caller);
    const inGpa = mem.alloc(req.length);
    mem.write(inGpa, req);
    const out = mem.alloc(replySize);
    const head = rings[ring].addChain([{ gpa: inGpa, len: req.length }, { gpa: out, len: replySize, write: true }], { indirect: true });
    return { head, out, unique: u };
  };
  const request = async (opcode: number, nodeid: bigint, body: Buffer, ring = 1, extra?: Buffer, caller?: Caller) => {
    const { out } = post(opcode, nodeid, body, ring, extra, caller);
    rings[ring].kick();
    const used = await rings[ring].nextUsed();
    return { h: outHeader(mem.read(out, 16)), payload: mem.read(out + 16n, used.len - 16) };
  };
  return { fe, mem, rings, request, post };
}
