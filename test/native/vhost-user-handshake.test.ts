// The vhost-user control plane against a front end that behaves like QEMU 7.2: negotiation,
// memory tables, ring states, the socket itself, and what we answer to messages we do not know.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { VhostUserTransport } from '../../src/transport/vhost-user';
import { F, PF, VU, Frontend, native, regionPayload, settle, waitFor, FUSE, fuseRequest, initIn } from '../helpers/vhost-frontend';
import { Session } from '../helpers/vhost-session';

t.test('capabilities match the C virtiofsd', async (t) => {
  t.same(JSON.parse(VhostUserTransport.capabilitiesJson()), { type: 'fs' });
});

t.test('QEMU 7.2 negotiation with memory slots, then INIT is served', async (t) => {
  const s = await Session.open(t, { requestQueues: 2, handshake: false });
  const r = await s.fe.handshake(s.mem, s.rings, { memory: 'slots' });
  t.equal(r.features, F.VERSION_1 | F.INDIRECT_DESC | F.EVENT_IDX | F.PROTOCOL_FEATURES, 'features offered');
  t.equal(r.protocol, PF.MQ | PF.REPLY_ACK | PF.CONFIGURE_MEM_SLOTS, 'protocol features offered');
  t.equal(r.queueNum, 3n, 'hiprio + 2 request queues');
  t.ok(r.memSlots >= 8n, 'at least 8 memory slots');
  t.same(r.acks, r.acks.map(() => 0n), 'every message acked with success');
  await s.waitEvent('ready');
  t.equal(s.count('connected'), 1);
  await s.init(1);
  await s.init(2);
  t.same(s.engine.seen.map((q) => q.queue), [1, 2], 'requests tagged with their queue');
});

t.test('SET_MEM_TABLE instead of ADD_MEM_REG', async (t) => {
  const s = await Session.open(t, { memory: 'table' });
  await s.init(1);
  t.pass('served');
});

t.test('without PROTOCOL_FEATURES rings run as soon as they are kicked', async (t) => {
  const s = await Session.open(t, { features: F.VERSION_1 | F.INDIRECT_DESC | F.EVENT_IDX });
  await s.init(1);
  t.pass('served without SET_VRING_ENABLE');
});

t.test('with PROTOCOL_FEATURES a ring waits for SET_VRING_ENABLE', async (t) => {
  const s = await Session.open(t, { handshake: false });
  const { fe, mem, rings } = s;
  // Everything QEMU does except the final SET_VRING_ENABLE.
  const features = await fe.getU64(VU.GET_FEATURES);
  await fe.setU64(VU.SET_PROTOCOL_FEATURES, PF.REPLY_ACK);
  fe.replyAck = true;
  t.equal(await fe.setU64(VU.SET_FEATURES, features), 0n);
  t.equal(await fe.setMemTable(mem), 0n);
  for (let i = 0; i < rings.length; i++) {
    await fe.setState(VU.SET_VRING_NUM, i, rings[i].size);
    await fe.setVringAddr(i, rings[i]);
    await fe.setU64(VU.SET_VRING_KICK, BigInt(i), [rings[i].kickFd]);
    await fe.setU64(VU.SET_VRING_CALL, BigInt(i), [rings[i].callFd]);
  }
  const req = fuseRequest(FUSE.INIT, 7n, 0n, initIn());
  const inGpa = mem.alloc(req.length);
  mem.write(inGpa, req);
  rings[1].addChain([{ gpa: inGpa, len: req.length }, { gpa: mem.alloc(80), len: 80, write: true }]);
  rings[1].kick();
  await settle();
  t.equal(s.engine.seen.length, 0, 'disabled ring not processed');
  t.equal(s.count('ready'), 0, 'not ready yet');
  t.equal(await fe.setState(VU.SET_VRING_ENABLE, 1, 1), 0n);
  const used = await rings[1].nextUsed();
  t.equal(used.len, 80, 'request queued before the enable is served after it');
  t.equal(s.count('ready'), 1);
});

t.test('GET_VRING_BASE stops the ring and returns its avail index', async (t) => {
  const s = await Session.open(t);
  await s.init(1);
  await s.init(1);
  s.engine.hold = true;
  const req = fuseRequest(FUSE.GETATTR, 99n, 1n, Buffer.alloc(16));
  const g = s.mem.alloc(req.length);
  s.mem.write(g, req);
  s.rings[1].addChain([{ gpa: g, len: req.length }, { gpa: s.mem.alloc(128), len: 128, write: true }]);
  s.rings[1].kick();
  await waitFor(() => s.engine.held.length === 1, 'held request');
  t.equal(await s.fe.getVringBase(1), 3, 'three chains taken from the ring');
  t.equal(s.transport.replyError(s.engine.held[0].token, 2), -2, 'answer for a stopped ring is refused (ENOENT)');
  t.equal(s.rings[1].pendingUsed(), 0, 'nothing written to the stopped ring');
  // A kick after the stop is not processed.
  s.engine.hold = false;
  s.rings[1].addChain([{ gpa: g, len: req.length }, { gpa: s.mem.alloc(128), len: 128, write: true }]);
  s.rings[1].kick();
  await settle();
  t.equal(s.engine.seen.length, 3, 'stopped ring not drained');
  // QEMU restarts it: base, kick again.
  t.equal(await s.fe.setState(VU.SET_VRING_BASE, 1, 3), 0n);
  t.equal(await s.fe.setU64(VU.SET_VRING_KICK, 1n, [s.rings[1].kickFd]), 0n);
  t.equal(await s.fe.setU64(VU.SET_VRING_CALL, 1n, [s.rings[1].callFd]), 0n);
  await waitFor(() => s.engine.seen.length === 4, 'restarted ring drained');
  t.equal((await s.rings[1].nextUsed()).len, 16, 'ENOSYS answer after restart');
});

t.test('unknown and refused messages fail without dropping the front end', async (t) => {
  const s = await Session.open(t);
  t.not(await s.fe.set(VU.GET_CONFIG, Buffer.alloc(12)), 0n, 'unknown request: failure ack');
  t.not(await s.fe.setU64(VU.SET_FEATURES, 1n << 26n), 0n, 'feature not offered (LOG_ALL): failure ack');
  t.not(await s.fe.setU64(VU.SET_PROTOCOL_FEATURES, 1n << 1n), 0n, 'protocol feature not offered: failure ack');
  t.not(await s.fe.setState(VU.SET_VRING_NUM, 9, 64), 0n, 'no such vring');
  t.ok(s.count('warning') >= 4, 'each logged');
  // SET_FEATURES failed, so put the features back as QEMU had them before continuing.
  await s.init(1);
  t.equal(s.count('disconnected'), 0);
});

t.test('REM_MEM_REG and ADD_MEM_REG while running', async (t) => {
  const s = await Session.open(t);
  await s.init(1);
  // Remove the high region (rings and buffers live in the low one) and add it back.
  const hi = s.mem.regions[1];
  t.equal(await s.fe.set(VU.REM_MEM_REG, regionPayload(hi, true)), 0n);
  t.not(await s.fe.set(VU.REM_MEM_REG, regionPayload(hi, true)), 0n, 'removing it twice fails');
  await s.init(1);
  t.equal(await s.fe.set(VU.ADD_MEM_REG, regionPayload(hi, true), [hi.fd]), 0n);
  t.not(await s.fe.set(VU.ADD_MEM_REG, regionPayload(hi, true), [hi.fd]), 0n, 'overlapping region refused');
  await s.init(1);
});

t.test('socket file handling', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-vu-sock-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const opts = { requestQueues: 1, maxRequestSize: 65536 };

  t.test('a stale socket file is replaced', async (t) => {
    const p = path.join(dir, 'stale.sock');
    const fd = native.unixListen(p);
    native.close(fd); // file stays, nobody listens
    t.ok(fs.statSync(p).isSocket());
    const tr = new VhostUserTransport({ ...opts, socketPath: p });
    t.teardown(() => tr.close());
    tr.listen();
    const c = native.unixConnect(p);
    t.ok(c >= 0, 'connectable');
    native.close(c);
  });

  t.test('a live listener is not stolen', async (t) => {
    const p = path.join(dir, 'live.sock');
    const fd = native.unixListen(p);
    t.teardown(() => native.close(fd));
    const tr = new VhostUserTransport({ ...opts, socketPath: p });
    t.teardown(() => tr.close());
    t.throws(() => tr.listen(), { code: 'EADDRINUSE', message: /another process is listening/ });
  });

  t.test('a regular file is not deleted', async (t) => {
    const p = path.join(dir, 'file');
    fs.writeFileSync(p, 'keep');
    const tr = new VhostUserTransport({ ...opts, socketPath: p });
    t.teardown(() => tr.close());
    t.throws(() => tr.listen(), { code: 'EEXIST' });
    t.equal(fs.readFileSync(p, 'utf8'), 'keep');
  });

  t.test('close removes our socket file', async (t) => {
    const p = path.join(dir, 'mine.sock');
    const tr = new VhostUserTransport({ ...opts, socketPath: p });
    tr.listen();
    t.ok(fs.existsSync(p));
    tr.close();
    tr.close();
    t.notOk(fs.existsSync(p));
  });

  t.test('socketGroup chowns the socket', async (t) => {
    const groups = fs.readFileSync('/etc/group', 'utf8').split('\n').map((l) => l.split(':')).filter((f) => f.length > 2 && f[2] !== '0');
    const [name, , gid] = groups[0];
    const p = path.join(dir, 'grp.sock');
    const tr = new VhostUserTransport({ ...opts, socketPath: p, socketGroup: name });
    t.teardown(() => tr.close());
    tr.listen();
    t.equal(fs.statSync(p).gid, Number(gid), `group ${name}`);
    const bad = new VhostUserTransport({ ...opts, socketPath: path.join(dir, 'nogrp.sock'), socketGroup: 'no-such-group-vfsd' });
    t.teardown(() => bad.close());
    t.throws(() => bad.listen(), { code: 'ENOENT', message: /no such group/ });
  });

  t.test('listenFd: accept on a socket the VM manager made', async (t) => {
    const p = path.join(dir, 'fd.sock');
    const fd = native.unixListen(p);
    const tr = new VhostUserTransport({ ...opts, listenFd: fd });
    t.teardown(() => tr.close());
    let connected = 0;
    tr.on('connected', () => connected++);
    tr.listen();
    const fe = await Frontend.connect(p);
    t.teardown(() => fe.close());
    t.equal(await fe.getU64(VU.GET_QUEUE_NUM), 2n);
    t.equal(connected, 1);
  });

  t.test('listenFd that is not listening', async (t) => {
    const fd = fs.openSync(path.join(dir, 'plain'), 'w');
    t.teardown(() => fs.closeSync(fd));
    const tr = new VhostUserTransport({ ...opts, listenFd: fd });
    t.teardown(() => tr.close());
    t.throws(() => tr.listen());
  });
});

t.test('a second front end is refused while one is connected', async (t) => {
  const s = await Session.open(t);
  const other = await Frontend.connect(s.sockPath);
  t.teardown(() => other.close());
  await waitFor(() => other.isClosed(), 'second connection closed');
  t.match(s.events.find((e) => e.type === 'warning')?.message, /second front end/);
  await s.init(1);
});
