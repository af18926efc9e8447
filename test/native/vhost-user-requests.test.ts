// The vhost-user data plane: FUSE requests from guest rings to the engine and answers back into
// guest memory, with READ and WRITE data moving between real files and guest buffers natively.
import t from 'tap';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { F, FUSE, fuseRequest, guestInitIn, outHeader, settle, type Buf } from '../helpers/vhost-frontend';
import { readIn, writeIn } from '../helpers/fuse-requests';
import { waitFor } from '../helpers/wait';
import { Session } from '../helpers/vhost-session';

function tmpFile(t: { teardown(fn: () => void): void }, content: Buffer): { path: string; fd: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-vu-data-'));
  const p = path.join(dir, 'f');
  fs.writeFileSync(p, content);
  const fd = fs.openSync(p, 'r+');
  t.teardown(() => { fs.closeSync(fd); fs.rmSync(dir, { recursive: true, force: true }); });
  return { path: p, fd };
}

/** Puts `bytes` in guest memory split into pieces of the given sizes (in either region). */
/** req in one readable piece and one writable reply buffer of outLen bytes, on queue 1: the
 *  used length and the out header written. */
async function exchange(s: Session, req: Buffer, outLen: number): Promise<{ len: number; h: ReturnType<typeof outHeader> }> {
  const [rd] = scatter(s, req, [req.length]);
  const out = s.mem.alloc(outLen);
  s.rings[1].addChain([rd, { gpa: out, len: outLen, write: true }]);
  s.rings[1].kick();
  return { len: (await s.rings[1].nextUsed()).len, h: outHeader(s.mem.read(out, 16)) };
}

function scatter(s: Session, bytes: Buffer, sizes: number[], regions: number[] = []): Buf[] {
  const out: Buf[] = [];
  let off = 0;
  sizes.forEach((n, i) => {
    const gpa = s.mem.alloc(n, 8, regions[i] ?? 0);
    s.mem.write(gpa, bytes.subarray(off, off + n));
    out.push({ gpa, len: n });
    off += n;
  });
  return out;
}

t.test('INIT: the answer lands in guest memory with our unique, len and an interrupt', async (t) => {
  const s = await Session.open(t);
  const req = fuseRequest(FUSE.INIT, 0x1234n, 0n, guestInitIn());
  const [rd] = scatter(s, req, [req.length]);
  const out = s.mem.alloc(200);
  s.mem.view(out, 200).fill(0xee);
  s.rings[1].takeCalls();
  const head = s.rings[1].addChain([rd, { gpa: out, len: 200, write: true }]);
  s.rings[1].kick();
  const used = await s.rings[1].nextUsed();
  t.same(used, { id: head, len: 80 });
  const h = outHeader(s.mem.read(out, 16));
  t.same(h, { len: 80, error: 0, unique: 0x1234n });
  t.equal(s.mem.read(out, 80).readUInt32LE(16), 7, 'payload: major');
  t.equal(s.mem.read(out, 81)[80], 0xee, 'nothing written past the answer');
  t.ok(s.rings[1].takeCalls() > 0, 'call eventfd signalled');
  t.same(s.engine.seen[0].bytes, req, 'engine saw the request bytes');
  t.same(s.engine.batches, [1]);
});

t.test('a request scattered over descriptors and both regions, indirect too', async (t) => {
  const s = await Session.open(t);
  const req = fuseRequest(FUSE.INIT, 5n, 0n, guestInitIn());
  // header split mid-field, pieces in region 1 and 0; reply space split the same way
  const bufs = scatter(s, req, [7, 30, 67], [1, 0, 1]);
  const o1 = s.mem.alloc(10, 8, 1), o2 = s.mem.alloc(70, 8, 0);
  s.rings[1].addChain([...bufs, { gpa: o1, len: 10, write: true }, { gpa: o2, len: 70, write: true }], { indirect: true });
  s.rings[1].kick();
  t.equal((await s.rings[1].nextUsed()).len, 80);
  const whole = Buffer.concat([s.mem.read(o1, 10), s.mem.read(o2, 70)]);
  t.same(outHeader(whole), { len: 80, error: 0, unique: 5n });
  t.equal(whole.readUInt32LE(20), 36, 'minor lands across the piece boundary');
  t.same(s.engine.seen[0].bytes, req);
});

t.test('a buffer that runs from one region into an adjacent one', async (t) => {
  const s = await Session.open(t, { handshake: false });
  // Make region 1 start right where region 0 ends (guest-physically contiguous).
  s.mem.regions[1].gpa = s.mem.regions[0].gpa + BigInt(s.mem.regions[0].size);
  await s.fe.handshake(s.mem, s.rings);
  const req = fuseRequest(FUSE.INIT, 6n, 0n, guestInitIn());
  const inGpa = s.mem.endOf(0, 50); // 50 bytes at the end of region 0, the rest in region 1
  s.mem.write(inGpa, req.subarray(0, 50));
  s.mem.write(s.mem.regions[1].gpa, req.subarray(50));
  s.mem.alloc(req.length - 50, 8, 1);
  const out = s.mem.alloc(80);
  s.rings[1].addChain([{ gpa: inGpa, len: req.length }, { gpa: out, len: 80, write: true }]);
  s.rings[1].kick();
  t.equal((await s.rings[1].nextUsed()).len, 80);
  t.same(s.engine.seen[0].bytes, req);
});

t.test('READ: readInto moves file bytes straight into the guest buffers', async (t) => {
  const s = await Session.open(t);
  const content = crypto.randomBytes(100000);
  const f = tmpFile(t, content);
  let rc = 1;
  s.engine.handler = (r, ch) => {
    if (r.opcode !== FUSE.READ) return false;
    const offset = Number(r.bytes.readBigUInt64LE(48)), size = r.bytes.readUInt32LE(56);
    rc = ch.readInto(r.token, f.fd, size, offset);
    return true;
  };
  const read = async (offset: number, size: number, pieces: number[]) => {
    const req = fuseRequest(FUSE.READ, s.unique(), 2n, readIn(1n, BigInt(offset), size));
    const [rd] = scatter(s, req, [req.length]);
    const outs = pieces.map((n, i) => ({ gpa: s.mem.alloc(n, 8, i % 2), len: n, write: true }));
    s.rings[1].addChain([rd, ...outs]);
    s.rings[1].kick();
    const used = await s.rings[1].nextUsed();
    const got = Buffer.concat(outs.map((o) => s.mem.read(o.gpa, o.len))).subarray(0, used.len);
    return { used, h: outHeader(got), data: got.subarray(16) };
  };
  let r = await read(1000, 65536, [16, 4096, 4096, 60000, 1000]);
  t.equal(r.used.len, 16 + 65536);
  t.same(r.h.len, 16 + 65536);
  t.ok(r.data.equals(content.subarray(1000, 1000 + 65536)), 'bytes match the file');
  t.equal(rc, 0);
  r = await read(90000, 65536, [65536 + 16]);
  t.equal(r.h.len, 16 + 10000, 'short read at EOF answered short');
  t.ok(r.data.equals(content.subarray(90000)), 'tail matches');
  r = await read(0, 4096, [100]);
  t.same([r.used.len, r.h.error], [16, -34], 'size larger than the reply buffer: ERANGE, nothing else written');
  t.equal(rc, -34, 'readInto says so too');
});

t.test('READ from a bad fd answers the errno', async (t) => {
  const s = await Session.open(t);
  let rc = 0;
  s.engine.handler = (r, ch) => { rc = ch.readInto(r.token, 1 << 20, 10, 0); return true; };
  const req = fuseRequest(FUSE.READ, 3n, 2n, readIn(1n, 0n, 10));
  const x = await exchange(s, req, 64);
  t.equal(x.len, 16);
  t.same(x.h, { len: 16, error: -9, unique: 3n });
  t.equal(rc, -9);
});

t.test('WRITE: only the headers reach the engine; writeFrom moves the data from guest memory', async (t) => {
  const s = await Session.open(t);
  const f = tmpFile(t, Buffer.alloc(0));
  const data = crypto.randomBytes(200000);
  let inboxLen = -1;
  s.engine.handler = (r, ch) => {
    if (r.opcode !== FUSE.WRITE) return false;
    inboxLen = r.bytes.length;
    const offset = Number(r.bytes.readBigUInt64LE(48)), size = r.bytes.readUInt32LE(56);
    t.equal(ch.writeFrom(r.token, f.fd, size, offset, false), 0);
    return true;
  };
  const req = fuseRequest(FUSE.WRITE, 77n, 2n, writeIn(1n, 4096n, data.length), data);
  // header + write_in in one piece, data in many, across both regions
  const bufs = scatter(s, req, [80, 1000, 50000, 100000, 49000], [0, 1, 0, 1, 0]);
  const out = s.mem.alloc(24);
  s.rings[1].addChain([...bufs, { gpa: out, len: 24, write: true }], { indirect: true });
  s.rings[1].kick();
  t.equal((await s.rings[1].nextUsed()).len, 24);
  const o = s.mem.read(out, 24);
  t.same(outHeader(o), { len: 24, error: 0, unique: 77n });
  t.equal(o.readUInt32LE(16), data.length, 'fuse_write_out.size');
  t.equal(inboxLen, 80, 'inbox held fuse_in_header + fuse_write_in only');
  const file = fs.readFileSync(f.path);
  t.equal(file.length, 4096 + data.length);
  t.ok(file.subarray(4096).equals(data), 'file holds the guest data');
});

t.test('WRITE whose size claims more data than the guest supplied', async (t) => {
  const s = await Session.open(t);
  const f = tmpFile(t, Buffer.from('untouched'));
  s.engine.handler = (r, ch) => { t.equal(ch.writeFrom(r.token, f.fd, 5000, 0, false), -22); return true; };
  const req = fuseRequest(FUSE.WRITE, 8n, 2n, writeIn(1n, 0n, 5000), Buffer.alloc(100, 1));
  const x = await exchange(s, req, 24);
  t.equal(x.len, 16);
  t.equal(x.h.error, -22);
  t.equal(fs.readFileSync(f.path, 'utf8'), 'untouched');
});

t.test('hiprio FORGET is done() with used.len 0; error replies', async (t) => {
  const s = await Session.open(t);
  const forget = fuseRequest(FUSE.FORGET, 9n, 5n, Buffer.alloc(8));
  const [rd] = scatter(s, forget, [forget.length]);
  const head = s.rings[0].addChain([rd]);
  s.rings[0].kick();
  t.same(await s.rings[0].nextUsed(), { id: head, len: 0 });
  t.equal(s.engine.seen[0].queue, 0, 'tagged hiprio');
  const req = fuseRequest(FUSE.LOOKUP, 10n, 1n, Buffer.from('name\0'));
  const x = await exchange(s, req, 144);
  t.equal(x.len, 16);
  t.same(x.h, { len: 16, error: -38, unique: 10n });
});

t.test('one batch carries requests from every queue; answers may come later', async (t) => {
  const s = await Session.open(t, { requestQueues: 2 });
  s.engine.hold = true;
  const outs: bigint[] = [];
  for (const q of [1, 2, 1, 2]) {
    const req = fuseRequest(FUSE.INIT, s.unique(), 0n, guestInitIn());
    const [rd] = scatter(s, req, [req.length]);
    const out = s.mem.alloc(80);
    outs.push(out);
    s.rings[q].addChain([rd, { gpa: out, len: 80, write: true }]);
  }
  s.rings[2].kick();
  await waitFor(() => s.engine.held.length === 4, 'four requests');
  t.same(s.engine.batches, [4], 'one batch');
  t.same(s.engine.held.map((r) => r.queue).sort(), [1, 1, 2, 2]);
  await settle(5);
  t.equal(s.rings[1].pendingUsed() + s.rings[2].pendingUsed(), 0, 'nothing answered yet');
  // Answer in reverse order, after onBatch returned.
  for (const r of [...s.engine.held].reverse()) s.engine.answer(r);
  for (const q of [1, 2]) for (let i = 0; i < 2; i++) t.equal((await s.rings[q].nextUsed()).len, 80);
  t.equal(s.transport.replyError(s.engine.held[0].token, 1), -2, 'a token answers once only');
});

t.test('a batch larger than the table is delivered in several batches', async (t) => {
  const s = await Session.open(t, { ringSize: 2048 });
  s.engine.hold = true;
  const req = fuseRequest(FUSE.GETATTR, 1n, 1n, Buffer.alloc(16));
  const [rd] = scatter(s, req, [req.length]);
  // Indirect: one descriptor per chain, so 1500 chains fit a 2048 ring without reusing a head
  // that is still held (that would be a broken ring).
  for (let i = 0; i < 1500; i++) s.rings[1].addChain([rd, { gpa: s.mem.alloc(16), len: 16, write: true }], { indirect: true });
  s.rings[1].kick();
  await waitFor(() => s.engine.held.length === 1500, 'all requests');
  t.ok(s.engine.batches.length >= 2, `batches ${s.engine.batches}`);
  t.ok(Math.max(...s.engine.batches) <= 1024);
  for (const r of s.engine.held) s.transport.replyError(r.token, 2);
  await waitFor(() => s.rings[1].pendingUsed() === 1500, 'all answered');
});

t.test('EVENT_IDX: avail_event published, interrupts only when used_event asks', async (t) => {
  const s = await Session.open(t);
  const ring = s.rings[1];
  await s.init(1);
  t.equal(ring.availEvent(), 1, 'device asks for a kick at the next avail index');
  ring.takeCalls();
  ring.setUsedEvent(100); // driver: interrupt me only once used idx passes 100
  await s.init(1);
  t.equal(ring.takeCalls(), 0, 'suppressed');
  ring.setUsedEvent(2); // the entry we are about to get is index 2
  await s.init(1);
  t.ok(ring.takeCalls() > 0, 'interrupt requested by used_event');
});

/** Puts an INIT request on ring q without kicking; returns its out buffer. */
function addInit(s: Session, q: number): bigint {
  const req = fuseRequest(FUSE.INIT, s.unique(), 0n, guestInitIn());
  const [rd] = scatter(s, req, [req.length]);
  const out = s.mem.alloc(80);
  s.rings[q].addChain([rd, { gpa: out, len: 80, write: true }]);
  return out;
}

/** Sends one request and, from inside its batch, publishes a second without a kick; `state`
 *  (the device's kick state in the ring) is read at each of their answers and after both. */
async function kickStateAroundBatch(s: Session, state: () => number): Promise<{ during: number[]; after: number }> {
  const ring = s.rings[1];
  const during: number[] = [];
  s.engine.handler = () => {
    during.push(state());
    // Published while the device serves, without a kick: the device looks again after the
    // batch, so it is served all the same.
    if (during.length === 1) addInit(s, 1);
    return false;
  };
  addInit(s, 1);
  ring.kick();
  await ring.nextUsed('first answer');
  await ring.nextUsed('the request published during the batch, never kicked');
  s.engine.handler = undefined;
  return { during, after: state() };
}

t.test('EVENT_IDX: no kick asked for while a batch is served, one asked for before sleeping', async (t) => {
  const s = await Session.open(t);
  const ring = s.rings[1];
  await s.init(1);
  t.equal(ring.availEvent(), 1, 'idle: a kick asked for at the next avail index');
  const { during, after } = await kickStateAroundBatch(s, () => ring.availEvent());
  t.same(during, [1, 1], 'avail_event left behind while serving: the guest does not kick');
  t.equal(after, 3, 'before sleeping: a kick asked for at the next avail index');
  await s.stillServes(t);
});

t.test('the interrupt comes when the last request of a batch is answered, not after the batch', async (t) => {
  const s = await Session.open(t);
  const ring = s.rings[1];
  await s.init(1);
  ring.takeCalls();
  // As a Linux driver does: an interrupt for the next used entry.
  const kick = () => {
    ring.setUsedEvent(ring.usedIdx());
    ring.kick();
  };
  const callsAfterAnswer: number[] = [];
  s.engine.handler = (r, ch) => {
    ch.replyError(r.token, 38);
    callsAfterAnswer.push(ring.takeCalls());
    return true;
  };
  addInit(s, 1);
  kick();
  await ring.nextUsed();
  t.same(callsAfterAnswer, [1], 'a batch of one: interrupted at its answer');
  t.equal(ring.takeCalls(), 0, 'and once only');
  callsAfterAnswer.length = 0;
  addInit(s, 1);
  addInit(s, 1);
  kick();
  await ring.nextUsed();
  await ring.nextUsed();
  t.same(callsAfterAnswer, [0, 1], 'a batch of two: one interrupt, at the second answer');
  t.equal(ring.takeCalls(), 0, 'and once only');
  // One of two held (answered later): the answered one is signalled when the batch ends.
  const held: { token: number }[] = [];
  s.engine.handler = (r, ch) => {
    if (held.length === 0) {
      held.push(r);
      return true;
    }
    ch.replyError(r.token, 38);
    callsAfterAnswer.push(ring.takeCalls());
    return true;
  };
  callsAfterAnswer.length = 0;
  addInit(s, 1);
  addInit(s, 1);
  kick();
  await ring.nextUsed();
  t.same(callsAfterAnswer, [0], 'not at the answer while another of the batch is open');
  t.equal(ring.takeCalls(), 1, 'at the end of the batch');
  ring.setUsedEvent(ring.usedIdx());
  s.transport.replyError(held[0].token, 2);
  await ring.nextUsed();
  t.equal(ring.takeCalls(), 1, 'the late answer signals itself');
  s.engine.handler = undefined;
  await s.stillServes(t);
});

t.test('reply takes the bytes of the view it is given: its offset, its length checked', async (t) => {
  const s = await Session.open(t);
  const ring = s.rings[1];
  await s.init(1);
  const backing = new ArrayBuffer(64);
  const bytes = new Uint8Array(backing);
  for (let i = 0; i < 64; i++) bytes[i] = i;
  const results: number[] = [];
  s.engine.handler = (r, ch) => {
    const view = new Uint8Array(backing, 8, 24); // bytes 8..31
    results.push(ch.reply(r.token, view, 25)); // one byte more than the view: refused
    results.push(ch.reply(r.token, view, 24));
    return true;
  };
  const out = addInit(s, 1);
  ring.kick();
  const used = await ring.nextUsed();
  t.same(results, [-22, 0], 'beyond the view EINVAL, within it answered');
  t.equal(used.len, 24);
  const got = s.mem.read(out, 24);
  t.same(outHeader(got).error, Buffer.from(bytes.subarray(8, 32)).readInt32LE(4), 'header from the view');
  t.ok(got.subarray(16).equals(Buffer.from(bytes.subarray(24, 32))), 'the body is the view\'s bytes after its offset');
  s.engine.handler = undefined;
  await s.stillServes(t);
});

t.test('without EVENT_IDX: NO_NOTIFY while a batch is served, cleared before sleeping', async (t) => {
  const s = await Session.open(t, { features: F.VERSION_1 | F.INDIRECT_DESC | F.PROTOCOL_FEATURES });
  const ring = s.rings[1];
  await s.init(1);
  t.equal(ring.usedFlags(), 0, 'idle: kicks wanted');
  const { during, after } = await kickStateAroundBatch(s, () => ring.usedFlags());
  t.same(during, [1, 1], 'VRING_USED_F_NO_NOTIFY while serving');
  t.equal(after, 0, 'before sleeping: kicks wanted again');
  await s.stillServes(t);
});

t.test('without EVENT_IDX: NO_INTERRUPT suppresses the call', async (t) => {
  const s = await Session.open(t, { features: F.VERSION_1 | F.INDIRECT_DESC | F.PROTOCOL_FEATURES });
  const ring = s.rings[1];
  await s.init(1);
  t.ok(ring.takeCalls() > 0, 'interrupt');
  ring.setNoInterrupt(true);
  await s.init(1);
  t.equal(ring.takeCalls(), 0, 'suppressed');
  ring.setNoInterrupt(false);
  await s.init(1);
  t.ok(ring.takeCalls() > 0);
});

t.test('indirect descriptors refused when not negotiated', async (t) => {
  const s = await Session.open(t, { features: F.VERSION_1 | F.PROTOCOL_FEATURES });
  const req = fuseRequest(FUSE.INIT, 1n, 0n, guestInitIn());
  const [rd] = scatter(s, req, [req.length]);
  s.rings[1].addChain([rd, { gpa: s.mem.alloc(80), len: 80, write: true }], { indirect: true });
  s.rings[1].kick();
  t.equal((await s.rings[1].nextUsed()).len, 0);
  t.equal(s.engine.seen.length, 0);
  await s.init(1);
});

t.test('WRITE with killPriv clears suid like an unprivileged writer', { skip: process.getuid?.() !== 0 && 'needs root (CAP_FSETID)' }, async (t) => {
  const s = await Session.open(t);
  const f = tmpFile(t, Buffer.alloc(10));
  let kill = false;
  s.engine.handler = (r, ch) => { t.equal(ch.writeFrom(r.token, f.fd, 4, 0, kill), 0); return true; };
  const write = async () => {
    const req = fuseRequest(FUSE.WRITE, s.unique(), 2n, writeIn(1n, 0n, 4), Buffer.from('abcd'));
    const [rd] = scatter(s, req, [req.length]);
    s.rings[1].addChain([rd, { gpa: s.mem.alloc(24), len: 24, write: true }]);
    s.rings[1].kick();
    t.equal((await s.rings[1].nextUsed()).len, 24);
  };
  fs.chmodSync(f.path, 0o4755);
  await write();
  t.equal(fs.statSync(f.path).mode & 0o4000, 0o4000, 'root keeps suid without killPriv');
  kill = true;
  await write();
  t.equal(fs.statSync(f.path).mode & 0o4000, 0, 'killPriv: suid cleared');
  kill = false;
  fs.chmodSync(f.path, 0o4755);
  await write();
  t.equal(fs.statSync(f.path).mode & 0o4000, 0o4000, 'CAP_FSETID restored afterwards');
});
