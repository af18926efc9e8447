// Lock requests on the worker pool, through the vhost-user front end (issue 12): what must stay
// true while a lock call is in flight on a worker. The real server runs in this process on a
// VhostUserTransport (test/helpers/vhost-served), its export the held source in a child process,
// which takes the locks itself (as a network filesystem's server does) and holds the lock calls
// (and the OPEN of a lock owner's description) of its `held*` files when asked. The export is
// made slow first, so GETLK, SETLK and SETLKW's attempts go to the pool (passthrough/lock-ops.ts).
//  - RELEASE while a SETLK is held: answered at once; the handle's fd closes, the owner's
//    description stays while the lock call leases it (native/fd_leases.h: a close that freed
//    the number could hand it to another open under the call) and closes when it returns;
//  - two SETLKs of one owner while its description opens: one open, one description;
//  - new owners whose descriptions open on the pool count against MAX_LOCK_FDS while they open:
//    at the cap less 2, of 4 new owners at once 2 open and 2 get ENOLCK at once;
//  - INTERRUPT while a SETLKW's attempt is held: answered when the attempt settles (EINTR: the
//    lock was taken), not before;
//  - DESTROY while a SETLKW's attempt is held: the SETLKW is answered when its attempt settles,
//    and nothing of the old session is left open.
// The fd counts are this process's (/proc/self/fd): the server's fds are ours. Mutations tried
// (each made a check here fail): closing a lock description with close() instead of closeFile()
// (lock-fds.ts) frees it under the lock call; without the wait for an owner's open in progress
// (lock-ops.ts `opening`) the owner gets two descriptions; without counting the opens in flight
// (lock-fds.ts lockFdOpening) all 4 new owners open a description, past the cap.
import t, { type Test } from 'tap';
import { workerPool } from '../../src/native/worker-pool';
import { FUSE, guestInitIn } from '../helpers/vhost-frontend';
import { lkIn, openIn, releaseIn } from '../helpers/fuse-requests';
import { waitFor } from '../helpers/wait';
import { MAX_LOCK_FDS } from '../../src/passthrough/lock-fds';
import { fdCount, slowSession, untilHeld, type Served } from '../helpers/vhost-served';

const root = process.geteuid?.() === 0;
const EINTR = 4;
const O_RDWR = 2;
const F_RDLCK = 0;
const F_WRLCK = 1;
// Three workers: a held lock call occupies one; a close on the pool still finds another.
const started = workerPool.startWorkerPool(3);

/** `n` looked up and opened read-write: its node id and handle. */
async function opened(s: Served, n: string): Promise<{ nodeid: number; fh: bigint }> {
  const x = await s.entry(1, n);
  const o = await s.call(FUSE.OPEN, x.nodeid, openIn(O_RDWR));
  if (o.error !== 0) throw new Error(`OPEN ${n}: ${o.error}`);
  return { nodeid: x.nodeid, fh: o.payload.readBigUInt64LE(0) };
}

const settle = (want: number, what: string) => waitFor(() => fdCount() === want, what, 10000).catch(() => {});
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A slow session with `n` (a `heldbusy*` file: its locks are taken) open and a SETLKW of it
 *  whose first attempt the source holds. */
async function heldSetlkw(t: Test, n: string) {
  const { src, s } = await slowSession(t);
  const f = await opened(s, n);
  await src.hold(FUSE.SETLK);
  const w = s.post(FUSE.SETLKW, f.nodeid, lkIn(f.fh, 5n, F_WRLCK));
  s.kick();
  await untilHeld(src, FUSE.SETLK, "the SETLKW's attempt in the source");
  return { src, s, w };
}

t.test('the pool started', async (t) => { t.equal(started, 0); });

t.test('RELEASE while a SETLK is on the pool: the owner\'s description stays until the lock call returns', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, s } = await slowSession(t);
  const before = fdCount();
  const f = await opened(s, 'held-r');
  await src.hold(FUSE.SETLK);
  const l = s.post(FUSE.SETLK, f.nodeid, lkIn(f.fh, 7n, F_WRLCK));
  s.kick();
  await untilHeld(src, FUSE.SETLK, "the SETLK's fcntl in the source");
  t.equal(fdCount(), before + 3, "the inode's fd, the handle's and the owner's description");
  t.equal((await s.call(FUSE.RELEASE, f.nodeid, releaseIn(f.fh))).error, 0, 'RELEASE is answered while the SETLK is held');
  await settle(before + 2, "the handle's close on the pool");
  t.equal(fdCount(), before + 2, "the handle's fd is closed; the owner's description is still open under the lock call");
  t.notOk(s.answered(l), 'the SETLK is still held');
  src.release(FUSE.SETLK, 0, true);
  t.equal((await s.answer(l, 'the SETLK')).error, 0, 'the SETLK gets the source\'s answer');
  await settle(before + 1, 'the description to close with the lease');
  t.equal(fdCount(), before + 1, 'then the description is closed too: only the inode\'s fd is left');
  await s.forget(f.nodeid, 1);
  t.equal(fdCount(), before, 'and none once it is forgotten');
});

t.test('two SETLKs of one owner while its description opens on the pool: one open, one description', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, s } = await slowSession(t);
  const f = await opened(s, 'held-two');
  const withHandle = fdCount();
  await src.hold(FUSE.OPEN);
  const a = s.post(FUSE.SETLK, f.nodeid, lkIn(f.fh, 9n, F_RDLCK));
  const b = s.post(FUSE.SETLK, f.nodeid, lkIn(f.fh, 9n, F_RDLCK));
  s.kick();
  await untilHeld(src, FUSE.OPEN, "the owner's open in the source");
  t.equal((await s.lookup(1, 'slow')).error, 0, 'another request is answered meanwhile');
  await pause(300); // a second open, were one made, would be held by now too
  t.equal(await src.held(FUSE.OPEN), 1, 'one open for the owner: the second SETLK waits for the first one\'s');
  src.release(FUSE.OPEN, 0, true);
  t.equal((await s.answer(a, 'the first SETLK')).error, 0, 'the first SETLK is granted');
  t.equal((await s.answer(b, 'the second SETLK')).error, 0, 'and the second, on the same description');
  t.equal(fdCount(), withHandle + 1, 'one description for the owner');
  t.equal((await s.call(FUSE.RELEASE, f.nodeid, releaseIn(f.fh))).error, 0, 'RELEASE');
  await s.forget(f.nodeid, 1);
});

t.test('new owners\' descriptions opening on the pool count against the cap', { skip: !root && 'needs root', timeout: 180000 }, async (t) => {
  const { src, s } = await slowSession(t);
  const f = await opened(s, 'held-cap');
  const withHandle = fdCount();
  // The cap less 2, taken by owners 1.. (read locks: shared, each on its own description); 2
  // held opens leave one of the 3 workers free.
  const room = 2;
  let refused = 0;
  for (let o = 1; o <= MAX_LOCK_FDS - room; o++) if ((await s.callAndFree(FUSE.SETLK, f.nodeid, lkIn(f.fh, BigInt(o), F_RDLCK))).error !== 0) refused++;
  t.equal(refused, 0, `${MAX_LOCK_FDS - room} owners took their read lock`);
  // Those were thousands of pool runs, and when the source answers them in under FAST_US the mount
  // is fast again (off-loop.ts): the held opens below would then block this thread inline.
  await s.makeSlow(t);
  await src.hold(FUSE.OPEN);
  const more = Array.from({ length: 2 * room }, (_, k) => s.post(FUSE.SETLK, f.nodeid, lkIn(f.fh, BigInt(MAX_LOCK_FDS + k), F_RDLCK)));
  s.kick();
  await untilHeld(src, FUSE.OPEN, `${room} descriptions opening in the source`, room);
  await pause(300); // a third open, were one made, would be held by now too
  t.equal(await src.held(FUSE.OPEN), room, `${room} opens, as many as the cap has room for`);
  const early = more.filter((p) => s.answered(p));
  t.equal(early.length, room, `the other ${room} answered while those open`);
  for (const p of early) t.equal((await s.answer(p, 'a SETLK past the cap')).error, -37, 'ENOLCK');
  src.release(FUSE.OPEN, 0, true);
  const late = more.filter((p) => !early.includes(p));
  for (const p of late) t.equal((await s.answer(p, 'a SETLK within the cap')).error, 0, 'granted once its description opens');
  t.equal(fdCount(), withHandle + MAX_LOCK_FDS, `${MAX_LOCK_FDS} descriptions, no more`);
  t.equal((await s.call(FUSE.RELEASE, f.nodeid, releaseIn(f.fh))).error, 0, 'RELEASE');
  await settle(withHandle - 1, 'the descriptions to close');
  await s.forget(f.nodeid, 1);
});

t.test('INTERRUPT while a SETLKW\'s attempt is on the pool: answered when the attempt settles, EINTR', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, s, w } = await heldSetlkw(t, 'heldbusy-i');
  const unique = Buffer.alloc(8);
  unique.writeBigUInt64LE(w.unique);
  await s.answer((() => { const i = s.post(FUSE.INTERRUPT, 0, unique); s.kick(); return i; })(), 'the INTERRUPT (no answer, its buffers back)');
  await pause(300);
  t.notOk(s.answered(w), 'interrupted, the SETLKW waits for the attempt that runs: a grant cannot be taken back');
  src.release(FUSE.SETLK, 0, true); // the source says: taken (EAGAIN)
  t.equal((await s.answer(w, 'the SETLKW')).error, -EINTR, 'the lock was taken: EINTR, no attempt after the interrupt');
  t.equal((await s.lookup(1, 'slow')).error, 0, 'the server serves on');
});

t.test('DESTROY while a SETLKW\'s attempt is on the pool, then INIT again: answered when it settles, nothing left open', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, s, w } = await heldSetlkw(t, 'heldbusy-d');
  t.equal((await s.call(FUSE.DESTROY, 0n, Buffer.alloc(0))).error, 0, 'DESTROY answered while the attempt is held');
  t.equal((await s.call(FUSE.INIT, 0n, guestInitIn())).error, 0, 'INIT again');
  t.notOk(s.answered(w), 'the SETLKW is answered when its attempt settles');
  // The old session's inodes and handle are closed (a slow mount's handle by a close on the
  // pool: wait until only the held attempt is in flight); one fd is left: the owner's
  // description, which the attempt leases and whose close its end does.
  await waitFor(() => workerPool.workerPoolStats()[1] === 1, 'the old session\'s closes on the pool', 10000);
  const fds = fdCount() - 1;
  src.release(FUSE.SETLK, 0, true);
  t.equal((await s.answer(w, 'the SETLKW')).error, -EINTR, 'EINTR: the session that asked is gone, the lock was taken');
  await settle(fds, 'the description to close with the lease');
  t.equal(fdCount(), fds, 'no fd of the old session left: the description closed with the attempt');
  t.equal((await s.lookup(1, 'slow')).error, 0, 'the new session serves');
});
