// A hostile guest and a broken front end: every bad input fails only its own request (or, for
// a malformed control message, the connection), never touches memory outside the guest's own
// buffers, and the backend goes on serving. Each case ends by serving a good request.
import t from 'tap';
import * as fs from 'node:fs';
import { native, DESC_INDIRECT, DESC_NEXT, DESC_WRITE, FUSE, Frontend, VU, fuseRequest, guestInitIn, outHeader, regionPayload, settle } from '../helpers/vhost-frontend';
import { waitFor } from '../helpers/wait';
import { Session } from '../helpers/vhost-session';

/** An INIT request in guest memory; returns its gpa and length. */
function initReq(s: Session): { gpa: bigint; len: number } {
  const req = fuseRequest(FUSE.INIT, s.unique(), 0n, guestInitIn());
  const gpa = s.mem.alloc(req.length);
  s.mem.write(gpa, req);
  return { gpa, len: req.length };
}

/** Publishes a hand-built chain on queue 1 and expects it refused with used.len 0. */
async function expectRefused(t: any, s: Session, head: number, what: string): Promise<void> {
  s.rings[1].publish(head);
  s.rings[1].kick();
  const used = await s.rings[1].nextUsed(what);
  t.same(used, { id: head, len: 0 }, `${what}: used.len 0`);
  t.equal(s.engine.seen.length, 0, `${what}: the engine never saw it`);
  await s.init(1);
  t.equal(s.engine.seen.length, 1, `${what}: a good request is served afterwards`);
}

t.test('bad descriptor chains fail alone', async (t) => {
  const cases: [string, (s: Session) => number][] = [
    ['address outside guest memory', (s) => {
      const [a, b] = s.rings[1].reserve(2);
      const r = initReq(s);
      s.rings[1].writeDesc(a, 0x50000000n, r.len, DESC_NEXT, b); // between the two regions
      s.rings[1].writeDesc(b, s.mem.alloc(80), 80, DESC_WRITE, 0);
      return a;
    }],
    ['reply buffer outside guest memory', (s) => {
      const [a, b] = s.rings[1].reserve(2);
      const r = initReq(s);
      s.rings[1].writeDesc(a, r.gpa, r.len, DESC_NEXT, b);
      s.rings[1].writeDesc(b, 0x200000000n, 80, DESC_WRITE, 0); // past region 1
      return a;
    }],
    ['length running past the end of a region', (s) => {
      const [a, b] = s.rings[1].reserve(2);
      const r = initReq(s);
      s.rings[1].writeDesc(a, r.gpa, r.len, DESC_NEXT, b);
      s.rings[1].writeDesc(b, s.mem.endOf(0, 40), 80, DESC_WRITE, 0);
      return a;
    }],
    ['address + length overflowing 64 bits', (s) => {
      const [a, b] = s.rings[1].reserve(2);
      const r = initReq(s);
      s.rings[1].writeDesc(a, r.gpa, r.len, DESC_NEXT, b);
      s.rings[1].writeDesc(b, 0xfffffffffffffff0n, 0x100, DESC_WRITE, 0);
      return a;
    }],
    ['a looped chain', (s) => {
      // The loop is among writable descriptors, so only the length bound can catch it.
      const [a, b, c] = s.rings[1].reserve(3);
      const r = initReq(s);
      const out = s.mem.alloc(80);
      s.rings[1].writeDesc(a, r.gpa, r.len, DESC_NEXT, b);
      s.rings[1].writeDesc(b, out, 40, DESC_WRITE | DESC_NEXT, c);
      s.rings[1].writeDesc(c, out + 40n, 40, DESC_WRITE | DESC_NEXT, b);
      return a;
    }],
    ['a looped indirect table', (s) => {
      const r = initReq(s);
      const table = s.mem.alloc(32);
      s.rings[1].writeDesc(0, r.gpa, r.len, DESC_NEXT, 1, table);
      s.rings[1].writeDesc(1, s.mem.alloc(80), 80, DESC_WRITE | DESC_NEXT, 1, table);
      const [a] = s.rings[1].reserve(1);
      s.rings[1].writeDesc(a, table, 32, DESC_INDIRECT, 0);
      return a;
    }],
    ['a next index beyond the queue', (s) => {
      const [a] = s.rings[1].reserve(1);
      const r = initReq(s);
      s.rings[1].writeDesc(a, r.gpa, r.len, DESC_NEXT, 500);
      return a;
    }],
    ['readable after writable', (s) => {
      const [a, b, c] = s.rings[1].reserve(3);
      const r = initReq(s);
      s.rings[1].writeDesc(a, r.gpa, 40, DESC_NEXT, b);
      s.rings[1].writeDesc(b, s.mem.alloc(80), 80, DESC_WRITE | DESC_NEXT, c);
      s.rings[1].writeDesc(c, r.gpa + 40n, r.len - 40, 0, 0);
      return a;
    }],
    ['an indirect table longer than the queue', (s) => {
      const r = initReq(s);
      const n = s.rings[1].size + 1;
      const table = s.mem.alloc(16 * n);
      for (let i = 0; i < n; i++) s.rings[1].writeDesc(i, r.gpa, 1, i + 1 < n ? DESC_NEXT : 0, i + 1, table);
      const [a] = s.rings[1].reserve(1);
      s.rings[1].writeDesc(a, table, 16 * n, DESC_INDIRECT, 0);
      return a;
    }],
    ['an indirect table whose length is not whole descriptors', (s) => {
      const r = initReq(s);
      const table = s.mem.alloc(32);
      s.rings[1].writeDesc(0, r.gpa, r.len, DESC_NEXT, 1, table);
      s.rings[1].writeDesc(1, s.mem.alloc(80), 80, DESC_WRITE, 0, table);
      const [a] = s.rings[1].reserve(1);
      s.rings[1].writeDesc(a, table, 20, DESC_INDIRECT, 0);
      return a;
    }],
    ['an empty indirect table', (s) => {
      const [a] = s.rings[1].reserve(1);
      s.rings[1].writeDesc(a, s.mem.alloc(16), 0, DESC_INDIRECT, 0);
      return a;
    }],
    ['an indirect table outside guest memory', (s) => {
      const [a] = s.rings[1].reserve(1);
      s.rings[1].writeDesc(a, 0x50000000n, 32, DESC_INDIRECT, 0);
      return a;
    }],
    ['a nested indirect descriptor', (s) => {
      const r = initReq(s);
      const inner = s.mem.alloc(16);
      s.rings[1].writeDesc(0, r.gpa, r.len, 0, 0, inner);
      const table = s.mem.alloc(16);
      s.rings[1].writeDesc(0, inner, 16, DESC_INDIRECT, 0, table);
      const [a] = s.rings[1].reserve(1);
      s.rings[1].writeDesc(a, table, 16, DESC_INDIRECT, 0);
      return a;
    }],
    ['INDIRECT together with NEXT', (s) => {
      const r = initReq(s);
      const table = s.mem.alloc(16);
      s.rings[1].writeDesc(0, r.gpa, r.len, 0, 0, table);
      const [a, b] = s.rings[1].reserve(2);
      s.rings[1].writeDesc(a, table, 16, DESC_INDIRECT | DESC_NEXT, b);
      s.rings[1].writeDesc(b, s.mem.alloc(80), 80, DESC_WRITE, 0);
      return a;
    }],
    ['an indirect descriptor inside a direct chain', (s) => {
      const r = initReq(s);
      const table = s.mem.alloc(16);
      s.rings[1].writeDesc(0, s.mem.alloc(80), 80, DESC_WRITE, 0, table);
      const [a, b] = s.rings[1].reserve(2);
      s.rings[1].writeDesc(a, r.gpa, r.len, DESC_NEXT, b);
      s.rings[1].writeDesc(b, table, 16, DESC_INDIRECT, 0);
      return a;
    }],
    ['less than a fuse_in_header', (s) => {
      const [a, b] = s.rings[1].reserve(2);
      const r = initReq(s);
      s.rings[1].writeDesc(a, r.gpa, 39, DESC_NEXT, b);
      s.rings[1].writeDesc(b, s.mem.alloc(80), 80, DESC_WRITE, 0);
      return a;
    }],
  ];
  for (const [what, build] of cases) {
    t.test(what, async (t) => {
      const s = await Session.open(t);
      await expectRefused(t, s, build(s), what);
      t.equal(s.count('disconnected'), 0);
    });
  }
});

t.test('a reply buffer too small for the answer', async (t) => {
  const s = await Session.open(t);
  for (const [space, usedLen, error] of [[8, 0, 0], [20, 16, -34]] as const) {
    const r = initReq(s);
    const out = s.mem.alloc(space + 8);
    s.mem.view(out, space + 8).fill(0xaa);
    s.rings[1].addChain([{ gpa: r.gpa, len: r.len }, { gpa: out, len: space, write: true }]);
    s.rings[1].kick();
    t.equal((await s.rings[1].nextUsed()).len, usedLen, `${space}-byte buffer: used.len ${usedLen}`);
    const after = s.mem.read(out, space + 8);
    if (usedLen) t.equal(outHeader(after).error, error, 'ERANGE');
    t.ok(after.subarray(usedLen).every((b) => b === 0xaa), 'nothing written beyond what used.len says');
  }
  await s.init(1);
});

t.test('a request bigger than maxRequestSize is answered E2BIG', async (t) => {
  const s = await Session.open(t);
  const req = fuseRequest(FUSE.LOOKUP, 42n, 1n, Buffer.alloc(70000, 0x61));
  const gpa = s.mem.alloc(req.length);
  s.mem.write(gpa, req);
  const out = s.mem.alloc(16);
  s.rings[1].addChain([{ gpa, len: req.length }, { gpa: out, len: 16, write: true }]);
  s.rings[1].kick();
  t.equal((await s.rings[1].nextUsed()).len, 16);
  t.same(outHeader(s.mem.read(out, 16)), { len: 16, error: -7, unique: 42n });
  t.equal(s.engine.seen.length, 0);
  await s.init(1);
});

t.test('a corrupted available ring stops that queue only', async (t) => {
  for (const [what, corrupt] of [
    ['head index beyond the queue', (s: Session) => s.rings[1].publish(1000)],
    ['avail idx jumping past the queue size', (s: Session) => s.rings[1].setAvailIdx(s.rings[1].size + 5)],
  ] as const) {
    t.test(what, async (t) => {
      const s = await Session.open(t, { requestQueues: 2 });
      corrupt(s);
      s.rings[1].kick();
      await waitFor(() => s.count('warning') > 0, 'warning');
      t.match(s.events.find((e) => e.type === 'warning')?.message, /queue 1/);
      await s.stillServes(t, 2);
    });
  }
});

t.test('memory holding the rings removed while running, then given back', async (t) => {
  const s = await Session.open(t);
  await s.init(1);
  const low = s.mem.regions[0];
  t.equal(await s.fe.set(VU.REM_MEM_REG, regionPayload(low, true)), 0n);
  const r = initReq(s);
  s.rings[1].addChain([{ gpa: r.gpa, len: r.len }, { gpa: s.mem.alloc(80), len: 80, write: true }]);
  s.rings[1].kick();
  await settle();
  t.equal(s.engine.seen.length, 1, 'unmapped ring not touched');
  t.equal(await s.fe.set(VU.ADD_MEM_REG, regionPayload(low, true), [low.fd]), 0n);
  s.rings[1].kick();
  t.equal((await s.rings[1].nextUsed()).len, 80, 'served once the memory is back');
});

t.test('malformed messages drop the connection; a new one works', async (t) => {
  const s = await Session.open(t);
  const efd = native.eventfdCreate();
  t.teardown(() => native.close(efd));
  const cases: [string, (fe: Frontend) => void][] = [
    ['payload size wrong for the request', (fe) => fe.sendRaw(VU.SET_VRING_NUM, Buffer.alloc(4))],
    ['two fds where one is expected', (fe) => fe.sendRaw(VU.SET_VRING_KICK, Buffer.alloc(8), [efd, efd])],
    ['an fd with a message that takes none', (fe) => fe.sendRaw(VU.SET_OWNER, Buffer.alloc(0), [efd])],
    ['fd count disagreeing with SET_MEM_TABLE', (fe) => {
      const b = Buffer.alloc(8 + 64);
      b.writeUInt32LE(2, 0);
      fe.sendRaw(VU.SET_MEM_TABLE, b, [efd]);
    }],
    ['a bad version', (fe) => fe.sendRaw(VU.GET_FEATURES, Buffer.alloc(0), [], 2)],
    ['an absurd payload size', (fe) => fe.sendRaw(VU.SET_FEATURES, Buffer.alloc(8), [], 1, 1 << 30)],
    ['more fds than any message carries', (fe) => fe.sendRaw(VU.SET_OWNER, Buffer.alloc(0), new Array(12).fill(efd))],
  ];
  s.closeFrontend(); // one front end at a time: make room for the broken ones
  await s.waitEvent('disconnected');
  let n = 1;
  for (const [what, send] of cases) {
    n++;
    const fe = await Frontend.connect(s.sockPath);
    await waitFor(() => s.count('connected') === n, 'connected');
    send(fe);
    await waitFor(() => s.count('disconnected') === n, `disconnect after ${what}`);
    await waitFor(() => fe.isClosed(), `${what}: connection dropped`);
    t.pass(`${what}: connection dropped`);
    fe.close();
  }
  t.ok(s.events.some((e) => e.type === 'warning' && /malformed/.test(e.message ?? '')), 'logged as malformed');
  await s.connect();
  await s.init(1);
  t.pass('a new front end is served');
});

t.test('disconnect mid-request: disconnected, the answer is dropped, a new front end works', async (t) => {
  const s = await Session.open(t);
  const fdCount = () => fs.readdirSync('/proc/self/fd').length;
  // Baseline: the backend listening with no front end.
  s.closeFrontend();
  await s.waitEvent('disconnected');
  const baseline = fdCount();
  await s.connect();
  s.engine.hold = true;
  const r = initReq(s);
  s.rings[1].addChain([{ gpa: r.gpa, len: r.len }, { gpa: s.mem.alloc(80), len: 80, write: true }]);
  s.rings[1].kick();
  await waitFor(() => s.engine.held.length === 1, 'request delivered');
  t.ok(fdCount() > baseline + 9, 'the backend holds the fds it was given');
  s.closeFrontend();
  await s.waitEvent('disconnected', 2);
  t.equal(s.transport.replyError(s.engine.held[0].token, 5), -2, 'answer after disconnect: ENOENT, nothing written');
  t.equal(fdCount(), baseline, 'every fd the front end gave the backend is closed again');
  s.engine.hold = false;
  await s.connect();
  await s.init(1);
  t.equal(s.count('connected'), 3);
});
