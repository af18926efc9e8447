// vhost-user requests on the worker pool (native/vhost_jobs.h): the invariants that keep a job
// from touching what is gone. A worker is made to wait for real: the host file it works on is on
// a FUSE stub in a child process that holds FSYNC or READ until told (test/helpers/held-source),
// so the backend's loop (this process's) may block without deadlocking with it.
//  - RELEASE while a READ is queued: the engine closes its fd (closeFile) and opens another
//    file at once; the close waits for the READ (which leases the fd, native/fd_leases.h), so
//    the number is not reused under it and the READ reads the file it was posted for; the fd is
//    closed when the READ is done. (A plain close would free the number for the next open.)
//  - REM_MEM_REG while a READ is inside guest memory: the table change waits for it, and the
//    data lands (without the wait the mapping would be gone under the worker: EFAULT).
//  - a ring stopped while a READ is queued: the job finds its ring generation moved on and
//    touches nothing (a disconnect or reset stops every ring the same way).
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Session } from '../helpers/vhost-session';
import { FUSE, VU, fuseRequest, outHeader, regionPayload, settle } from '../helpers/vhost-frontend';
import { readIn } from '../helpers/fuse-requests';
import { waitFor } from '../helpers/wait';
import { FSYNC, slowByte, spawnHeldSource } from '../helpers/held-source';
import { workerPool } from '../../src/native/worker-pool';
import { DataPath, FileOp, PathResult } from '../../src/native/channel';
import { AT_FDCWD, C, sys } from '../../src/native/sys';

const root = process.geteuid?.() === 0;
const F_GETFD = 1;
const EBADF = 9;
// One worker: a held FSYNC occupies it, so what is posted next waits in the queue.
const started = workerPool.startWorkerPool(1);

function tmpFile(t: { teardown(fn: () => void): void }, name: string, content: Buffer): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-pool-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const p = path.join(dir, name);
  fs.writeFileSync(p, content);
  return p;
}

/** Puts a request with `replyLen` bytes of (0xee-filled) reply space, in guest memory region
 *  `region`, on ring 1; returns where. */
function send(s: Session, opcode: number, body: Buffer, replyLen: number, region = 0): { out: bigint; unique: bigint } {
  const unique = s.unique();
  const req = fuseRequest(opcode, unique, 2n, body);
  const inGpa = s.mem.alloc(req.length);
  s.mem.write(inGpa, req);
  const out = s.mem.alloc(replyLen, 16, region);
  s.mem.write(out, Buffer.alloc(replyLen, 0xee));
  s.rings[1].addChain([{ gpa: inGpa, len: req.length }, { gpa: out, len: replyLen, write: true }]);
  s.rings[1].kick();
  return { out, unique };
}

const fsyncIn = () => Buffer.alloc(16); // fh, fsync_flags, padding: the stub engine ignores them

t.test('the pool started', async (t) => { t.equal(started, 0); });

t.test('RELEASE while a READ is queued: the close waits for the READ, which reads its own file', { skip: !root && 'needs root', timeout: 60000 }, async (t) => {
  const src = await spawnHeldSource(t, [FSYNC]);
  const s = await Session.open(t);
  await s.init();
  const a = Buffer.alloc(8192, 0x41), b = Buffer.alloc(8192, 0x42);
  const pathA = tmpFile(t, 'a', a), pathB = tmpFile(t, 'b', b);
  const slowFd = sys.openat(AT_FDCWD, src.slow, C.O_RDWR, 0);
  t.ok(slowFd >= 0, 'opened the slow file');
  t.teardown(() => { if (slowFd >= 0) sys.close(slowFd); });
  let fdA = sys.openat(AT_FDCWD, pathA, C.O_RDONLY, 0);
  let fdB = -1;
  const rcs: number[] = [];
  s.engine.handler = (r, ch) => {
    if (r.opcode === FSYNC) rcs.push(ch.fileJob(r.token, FileOp.Fsync, slowFd, -1, 0, 0, 0, DataPath.Pool, false));
    else if (r.opcode === FUSE.READ) {
      rcs.push(ch.readInto(r.token, fdA, 4096, 0, DataPath.Pool));
      // RELEASE: the engine is done with the handle's fd, and opens another file at once.
      sys.closeFile(fdA, false);
      fdB = sys.openat(AT_FDCWD, pathB, C.O_RDONLY, 0);
    } else return false;
    return true;
  };
  const fsync = send(s, FSYNC, fsyncIn(), 16);
  await waitFor(() => rcs.length === 1, 'the FSYNC posted');
  for (let i = 0; i < 500 && (await src.held(FSYNC)) === 0; i++) await settle(5);
  t.equal(await src.held(FSYNC), 1, 'the one worker is inside fsync');
  const read = send(s, FUSE.READ, readIn(1n, 0n, 4096), 16 + 4096);
  await waitFor(() => rcs.length === 2, 'the READ posted');
  t.same(rcs, [PathResult.Queued, PathResult.Queued], 'both queued');
  t.not(fdB, fdA, `the READ's fd number (${fdA}) is still its file's: the next open got another`);
  t.equal(sys.leasedFds(), 2, 'the FSYNC and the READ each lease their fd');
  src.release(FSYNC);
  const used = [await s.rings[1].nextUsed('an answer'), await s.rings[1].nextUsed('the other answer')];
  t.equal(used.length, 2, 'both answered');
  t.same(outHeader(s.mem.read(fsync.out, 16)), { len: 16, error: 0, unique: fsync.unique }, 'FSYNC: success');
  const h = outHeader(s.mem.read(read.out, 16));
  t.same(h, { len: 16 + 4096, error: 0, unique: read.unique }, 'READ: 4096 bytes');
  t.ok(s.mem.read(read.out + 16n, 4096).equals(a.subarray(0, 4096)), 'the bytes of the file it was posted for');
  t.equal(sys.leasedFds(), 0, 'no lease left');
  t.equal(sys.fcntlInt(fdA, F_GETFD, 0), -EBADF, 'and the close RELEASE asked for happened when the READ was done');
  sys.close(fdB);
  fdA = -1;
});

t.test('REM_MEM_REG while a READ is inside guest memory waits for it; the data lands first', { skip: !root && 'needs root', timeout: 60000 }, async (t) => {
  const src = await spawnHeldSource(t, [FUSE.READ]);
  const s = await Session.open(t);
  await s.init();
  const slowFd = sys.openat(AT_FDCWD, src.slow, C.O_RDONLY, 0);
  t.ok(slowFd >= 0, 'opened the slow file');
  t.teardown(() => { if (slowFd >= 0) sys.close(slowFd); });
  let rc = -1;
  s.engine.handler = (r, ch) => {
    if (r.opcode !== FUSE.READ) return false;
    rc = ch.readInto(r.token, slowFd, 4096, 0, DataPath.Pool);
    return true;
  };
  // The reply buffer in region 1, which goes away below (the rings stay, in region 0).
  const read = send(s, FUSE.READ, readIn(1n, 0n, 4096), 16 + 4096, 1);
  await waitFor(() => rc !== -1, 'the READ posted');
  t.equal(rc, PathResult.Queued, 'on the pool');
  // A fresh mount has nothing cached: the READ reaches the stub and is held there.
  for (let i = 0; i < 500 && (await src.held(FUSE.READ)) === 0; i++) await settle(5);
  t.ok((await src.held(FUSE.READ)) > 0, 'the worker is inside pread, into guest memory');
  // The child lets the READ go a moment after we remove the region: our loop is blocked by then
  // (the removal waits for the worker). Without that wait the region would be unmapped under the
  // worker: its copy would fail (EFAULT) and the bytes never land.
  src.release(FUSE.READ, 500);
  await s.fe.set(VU.REM_MEM_REG, regionPayload(s.mem.regions[1], true));
  const used = await s.rings[1].nextUsed('the READ answer');
  t.equal(used.len, 0, 'its reply buffer is no longer guest memory: returned with nothing written');
  const want = Buffer.alloc(4096);
  for (let i = 0; i < 4096; i++) want[i] = slowByte(i);
  t.ok(s.mem.read(read.out + 16n, 4096).equals(want), 'the file bytes reached guest memory before the region went');
});

t.test('a ring stopped while a READ is queued: the job touches nothing and answers nothing', { skip: !root && 'needs root', timeout: 60000 }, async (t) => {
  const src = await spawnHeldSource(t, [FSYNC]);
  const s = await Session.open(t);
  await s.init();
  const a = tmpFile(t, 'a', Buffer.alloc(4096, 0x41));
  const slowFd = sys.openat(AT_FDCWD, src.slow, C.O_RDWR, 0);
  const fdA = sys.openat(AT_FDCWD, a, C.O_RDONLY, 0);
  t.teardown(() => { sys.close(slowFd); sys.close(fdA); });
  const rcs: number[] = [];
  s.engine.handler = (r, ch) => {
    if (r.opcode === FSYNC) rcs.push(ch.fileJob(r.token, FileOp.Fsync, slowFd, -1, 0, 0, 0, DataPath.Pool, false));
    else if (r.opcode === FUSE.READ) rcs.push(ch.readInto(r.token, fdA, 4096, 0, DataPath.Pool));
    else return false;
    return true;
  };
  send(s, FSYNC, fsyncIn(), 16);
  await waitFor(() => rcs.length === 1, 'the FSYNC posted');
  for (let i = 0; i < 500 && (await src.held(FSYNC)) === 0; i++) await settle(5);
  const read = send(s, FUSE.READ, readIn(1n, 0n, 4096), 16 + 4096);
  await waitFor(() => rcs.length === 2, 'the READ posted');
  const usedBefore = s.rings[1].usedIdx();
  // The guest driver resets the queue (GET_VRING_BASE stops it): its buffers are the guest's
  // again, with the memory still mapped.
  await s.fe.getVringBase(1);
  src.release(FSYNC);
  // Let the worker finish the FSYNC and reach the queued READ, and the loop complete both.
  for (let i = 0; i < 50; i++) await settle(5);
  t.ok(s.mem.read(read.out, 16 + 4096).equals(Buffer.alloc(16 + 4096, 0xee)), 'the READ buffer is untouched');
  t.equal(s.rings[1].usedIdx(), usedBefore, 'no used entry on the stopped ring');
  t.equal(s.count('disconnected'), 0, 'the front end is still connected');
});
