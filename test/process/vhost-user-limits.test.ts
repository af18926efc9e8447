// What a hostile guest can make the vfsd command do through the engine, driven by the QEMU-playing
// test front end (the native bounds are in test/native/vhost-user-hostile.test.ts): READ and WRITE
// are capped at what INIT negotiated, lock waiters at 64, lock owners' descriptions at
// MAX_LOCK_FDS, and vfsd's memory and fds stay bounded while the share goes on serving.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FUSE, guestInitIn as initIn, openRequestSession, outHeader } from '../helpers/vhost-frontend';
import { lkIn, openIn, readIn, releaseIn, writeIn } from '../helpers/fuse-requests';
import { MAX_LOCK_FDS } from '../../src/passthrough/lock-fds';
import { countFds, rssMiB } from '../fuzz/export';
import { spawnVfsd } from '../helpers/vfsd-process';

/** vfsd serving a share holding `f` ("hello\n") over vhost-user, with the test front end
 *  connected (answers of up to replySize bytes) and INIT done; the pid is the server itself. */
async function shareWithF(t: Test, replySize: number, queues: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-vu-limits-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const share = path.join(dir, 'share');
  fs.mkdirSync(share);
  fs.writeFileSync(path.join(share, 'f'), 'hello\n');
  const sock = path.join(dir, 'vu.sock');
  // --sandbox none: the pid we measure is then the server itself, not a launcher waiting for it.
  const run = spawnVfsd([`--socket-path=${sock}`, `--shared-dir=${share}`, '--sandbox', 'none']);
  t.teardown(() => run.child.kill('SIGKILL'));
  const c = await openRequestSession(sock, replySize, queues);
  t.teardown(() => c.fe.close());
  t.equal((await c.request(FUSE.INIT, 0n, initIn())).h.error, 0, 'INIT');
  return { c, share, pid: run.child.pid! };
}

t.test('vfsd: READ/WRITE beyond INIT\'s limits are EINVAL, more than 64 SETLKW waiters get ENOLCK; memory, fds and service hold', { timeout: 120000 }, async (t) => {
  // vfsd serves two request queues: rings 1 and 2, 64 entries each.
  const { c, share, pid } = await shareWithF(t, 4096, 2);
  const look = await c.request(FUSE.LOOKUP, 1n, Buffer.from('f\0'));
  t.equal(look.h.error, 0, 'LOOKUP');
  const node = look.payload.readBigUInt64LE(0);
  const open = await c.request(FUSE.OPEN, node, openIn(2 /* O_RDWR */));
  t.equal(open.h.error, 0, 'OPEN');
  const fh = open.payload.readBigUInt64LE(0);
  const rss0 = rssMiB(pid), fds0 = countFds(pid);

  // initIn() offers no FUSE_MAX_PAGES: reads of at most 32 pages (of up to 64 KiB: 2 MiB), writes
  // of at most max_write (1 MiB). Answered ERANGE (our 4 KiB buffer) without the cap.
  for (const size of [0xfffffff8, 2 * 1024 * 1024 + 1]) {
    t.equal((await c.request(FUSE.READ, node, readIn(fh, 0n, size))).h.error, -22, `READ of ${size} bytes: EINVAL`);
  }
  const read = await c.request(FUSE.READ, node, readIn(fh, 0n, 100));
  t.equal(read.payload.toString(), 'hello\n', 'a READ within the limit is served');
  const data = Buffer.alloc(1024 * 1024 + 4096, 0x61);
  t.equal((await c.request(FUSE.WRITE, node, writeIn(fh, 0n, data.length), 1, data)).h.error, -22, 'WRITE over max_write: EINVAL');
  t.equal(fs.readFileSync(path.join(share, 'f'), 'utf8'), 'hello\n', 'nothing written');
  t.equal((await c.request(FUSE.WRITE, node, writeIn(fh, 6n, 3), 1, Buffer.from('hi\n'))).h.error, 0, 'a WRITE within the limit is served');

  // Owner 1 holds a write lock; 64 others wait for a read lock (one ring full), then one more.
  t.equal((await c.request(FUSE.SETLK, node, lkIn(fh, 1n, 1), 2)).h.error, 0, 'write lock taken');
  const waiters = Array.from({ length: 64 }, (_, i) => c.post(FUSE.SETLKW, node, lkIn(fh, 100n + BigInt(i), 0), 1));
  c.rings[1].kick();
  // Answered on queue 2 only after a drain that also took every waiter published before it.
  t.equal((await c.request(FUSE.GETATTR, node, Buffer.alloc(16), 2)).h.error, 0, 'GETATTR beside 64 waiters');
  t.equal(c.rings[1].pendingUsed(), 0, 'the 64 are waiting');
  t.equal((await c.request(FUSE.SETLKW, node, lkIn(fh, 99n, 0), 2)).h.error, -37, 'the 65th waiter: ENOLCK');
  t.equal((await c.request(FUSE.LOOKUP, 1n, Buffer.from('f\0'), 2)).h.error, 0, 'LOOKUP still served');
  t.equal((await c.request(FUSE.SETLK, node, lkIn(fh, 1n, 2), 2)).h.error, 0, 'unlocked');
  const errors = new Set<number>();
  for (let i = 0; i < 64; i++) {
    await c.rings[1].nextUsed(`waiter ${i}`);
  }
  for (const w of waiters) errors.add(outHeader(c.mem.read(w.out, 16)).error);
  t.same([...errors], [0], 'all 64 waiters got their lock');
  const grown = rssMiB(pid) - rss0;
  t.ok(rss0 > 20, `measured the server (RSS ${rss0.toFixed(0)} MiB)`);
  t.ok(grown < 64, `vfsd RSS grew ${grown.toFixed(1)} MiB`);
  t.ok(countFds(pid) <= fds0 + 70, `vfsd fds ${countFds(pid)} (one per lock owner at most)`);
});

// The lock owner is a number in the request: a guest can name a new one each time, and each
// owner that locks gets an fd (its own open file description, lock-ops.ts). Without a cap a flood
// of owners took every fd vfsd may open.
t.test('vfsd: a flood of lock owners gets ENOLCK past the cap; queries and unlocks cost no fd', { timeout: 120000 }, async (t) => {
  // Small answers only (the front end's guest memory is a bump allocator): 256 bytes each.
  const { c, pid } = await shareWithF(t, 256, 1);
  const node = (await c.request(FUSE.LOOKUP, 1n, Buffer.from('f\0'))).payload.readBigUInt64LE(0);
  const open = async () => (await c.request(FUSE.OPEN, node, openIn(2 /* O_RDWR */))).payload.readBigUInt64LE(0);
  const fh = await open();
  const fds0 = countFds(pid);
  const [RD, WR, UN] = [0, 1, 2];

  // Queries and unlocks by owners that never locked: answered, and no fd opened for them.
  for (let i = 0; i < 200; i++) {
    const q = await c.request(FUSE.GETLK, node, lkIn(fh, 1_000_000n + BigInt(i), WR));
    if (q.h.error !== 0 || q.payload.readUInt32LE(16) !== UN) t.fail(`GETLK of owner ${i}: error ${q.h.error}, type ${q.payload.readUInt32LE(16)}`);
    const u = await c.request(FUSE.SETLK, node, lkIn(fh, 2_000_000n + BigInt(i), UN));
    if (u.h.error !== 0) t.fail(`F_UNLCK of owner ${i}: error ${u.h.error}`);
  }
  t.ok(countFds(pid) <= fds0 + 2, `200 queries and 200 unlocks by new owners: vfsd fds ${countFds(pid)} (was ${fds0})`);

  // MAX_LOCK_FDS owners each take a read lock (shared: no conflicts); the next one is refused.
  const errors = new Map<number, number>();
  for (let i = 0; i < MAX_LOCK_FDS; i++) {
    const e = (await c.request(FUSE.SETLK, node, lkIn(fh, BigInt(i + 1), RD))).h.error;
    errors.set(e, (errors.get(e) ?? 0) + 1);
  }
  t.same([...errors], [[0, MAX_LOCK_FDS]], `${MAX_LOCK_FDS} owners took their read lock`);
  t.equal((await c.request(FUSE.SETLK, node, lkIn(fh, 99_999n, RD))).h.error, -37, 'one owner more: ENOLCK');
  const held = countFds(pid);
  t.ok(held >= fds0 + MAX_LOCK_FDS && held <= fds0 + MAX_LOCK_FDS + 4, `vfsd fds ${held}: one per owner, no more`);
  // A lock really is held: another owner's write lock query sees it.
  const seen = await c.request(FUSE.GETLK, node, lkIn(fh, 99_998n, WR));
  t.equal(seen.payload.readUInt32LE(16), RD, 'GETLK of a write lock sees the owners\' read locks');
  t.equal((await c.request(FUSE.LOOKUP, 1n, Buffer.from('f\0'))).h.error, 0, 'LOOKUP still served at the cap');

  // RELEASE gives the descriptions back; a new owner's lock then works again.
  t.equal((await c.request(FUSE.RELEASE, node, releaseIn(fh))).h.error, 0, 'RELEASE');
  t.ok(countFds(pid) <= fds0, `after RELEASE vfsd fds ${countFds(pid)} (was ${fds0} with the handle open)`);
  const fh2 = await open();
  t.equal((await c.request(FUSE.SETLK, node, lkIn(fh2, 5n, WR))).h.error, 0, 'a new owner locks after the release');
});
