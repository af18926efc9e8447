// Metadata requests on the worker pool, through the vhost-user front end (issue 12): what must stay
// true while a LOOKUP or GETATTR is in flight on a worker. The real server (FuseServer +
// PassthroughFs) runs in this process on a VhostUserTransport, fed by a QEMU-playing front end
// (test/helpers/vhost-served); its export is the held source (test/helpers/held-source) in a child
// process, so this loop may block inside a syscall without deadlocking with the filesystem it
// waits on. The export is made
// "slow" first (two inline LOOKUPs of `lag*` names, each answered 20 ms later), so LOOKUP and
// GETATTR go to the pool; a LOOKUP of a `held*` name (or a GETATTR of its inode) then waits
// inside the worker's syscall until the test releases it.
//  - two LOOKUPs of one name in flight: one inode, two lookups (FORGET 1 keeps it, FORGET 1
//    more releases it and its fd);
//  - FORGET to 0 of the inode (or of the parent) while its GETATTR (its child's LOOKUP) is held:
//    ENOENT, no fd left behind;
//  - the name unlinked or renamed (by the host, or by a request) while its LOOKUP is held: the
//    answer is the one the source gave;
//  - the front end gone while a LOOKUP is held: the late completion neither crashes nor leaks,
//    and a new session serves;
//  - a READDIR whose refill (getdents64) is held on the pool: a second READDIR of the same handle
//    (the kernel never sends one, a hostile guest may) waits for it and both get the same listing
//    from offset 0; RELEASEDIR (or DESTROY) meanwhile: both answer EBADF, no fd left behind.
// The fd counts are this process's (/proc/self/fd): the server's fds are ours. Mutations tried
// (each made a check here fail): dropping the close of the new fd when the parent was forgotten
// (pool-ops.ts lookedUp) leaks one fd; answering a completion whose inode was forgotten from the
// stale inode (no fs.inode() check) answers success instead of ENOENT.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import { workerPool } from '../../src/native/worker-pool';
import { FUSE, guestInitIn } from '../helpers/vhost-frontend';
import { getattrIn, name, openIn, readIn, releaseIn, renameIn } from '../helpers/fuse-requests';
import { attrOf, entryOf } from '../helpers/fuse-replies';
import { spawnHeldSource, type HeldSourceProcess } from '../helpers/held-source';
import { waitFor } from '../helpers/wait';
import { fdCount, Served, slowSession, untilHeld, WAIT } from '../helpers/vhost-served';

const root = process.geteuid?.() === 0;
const ENOENT = 2;
const EBADF = 9;
// Three workers: two LOOKUPs of one name can both be inside openat at once (the second waits in
// the source's kernel for the first), and a third request still finds a free worker.
const started = workerPool.startWorkerPool(3);

/** A LOOKUP of `n` in `parent` posted and waiting in the source (LOOKUPs of `held*` names held
 *  from now on, until released); returns where its answer will be. */
async function heldLookup(s: Served, src: HeldSourceProcess, parent: number, n: string): Promise<{ head: number; out: bigint }> {
  await src.hold(FUSE.LOOKUP);
  const p = s.post(FUSE.LOOKUP, parent, name(n));
  s.kick();
  await untilHeld(src, FUSE.LOOKUP, `the LOOKUP of ${n} in the source`);
  return p;
}

/** What the source answered to the LOOKUPs of `n` (inode numbers, or -errno), in order. */
const saidOf = async (src: HeldSourceProcess, n: string) => (await src.answers()).filter((w) => w.name === n).map((w) => w.ino);

t.test('the pool started', async (t) => { t.equal(started, 0); });

t.test('two LOOKUPs of one name in flight: one inode, two lookups; FORGET 1 keeps it, 1 more releases it', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, s } = await slowSession(t);
  const before = fdCount();
  const a = await heldLookup(s, src, 1, 'held-x');
  // The second one's openat waits in the source's kernel for the first (one lookup of a name at
  // a time); the LOOKUP of `slow` below is served after it, so it is on a worker by then.
  const b = s.post(FUSE.LOOKUP, 1, name('held-x'));
  s.kick();
  t.notOk(s.answered(a) || s.answered(b), 'neither is answered while it is held');
  t.ok((await s.lookup(1, 'slow')).error === 0, 'another LOOKUP is answered meanwhile: the loop is free');
  src.release(FUSE.LOOKUP, 0, true);
  const [ea, eb] = [await s.answer(a, 'the first LOOKUP'), await s.answer(b, 'the second LOOKUP')];
  t.equal(ea.error, 0, 'first: an entry');
  t.equal(eb.error, 0, 'second: an entry');
  const [x, y] = [entryOf(ea.payload), entryOf(eb.payload)];
  t.equal(x.nodeid, y.nodeid, `the same node id (${x.nodeid})`);
  const said = await saidOf(src, 'held-x');
  t.ok(said.length > 0 && said.every((ino) => ino === x.ino), `the inode the source answered (${x.ino})`);
  await s.forget(x.nodeid, 1);
  const still = await s.call(FUSE.GETATTR, x.nodeid, getattrIn());
  t.equal(still.error, 0, 'after FORGET 1: the inode is still known (GETATTR)');
  t.equal(still.error === 0 && attrOf(still.payload).ino, x.ino, 'with its attributes');
  await s.forget(x.nodeid, 1);
  t.equal((await s.call(FUSE.GETATTR, x.nodeid, getattrIn())).error, -ENOENT, 'after FORGET 1 more: gone (ENOENT)');
  t.equal(fdCount(), before, 'and its fd closed: no fd left behind');
});

t.test('FORGET to 0 while the inode\'s GETATTR is on the pool: ENOENT, no fd left behind', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, s } = await slowSession(t);
  const before = fdCount();
  const x = await s.entry(1, 'held-g');
  t.equal(fdCount(), before + 1, 'the new inode holds one fd');
  await src.hold(FUSE.GETATTR);
  const g = s.post(FUSE.GETATTR, x.nodeid, getattrIn());
  s.kick();
  await untilHeld(src, FUSE.GETATTR, "the worker's statx in the source");
  // The kernel forgets the inode while its GETATTR is on a worker (a hostile guest may do this
  // on purpose): the inode and its fd go now; the worker works on its own dup.
  await s.forget(x.nodeid, 1);
  t.notOk(s.answered(g), 'the GETATTR is still held');
  src.release(FUSE.GETATTR, 0, true);
  const a = await s.answer(g, 'the GETATTR');
  t.equal(a.error, -ENOENT, 'answered ENOENT: the inode it asked about is gone');
  t.equal(fdCount(), before, "the inode's fd and the worker's dup are closed");
  t.equal((await s.call(FUSE.GETATTR, x.nodeid, getattrIn())).error, -ENOENT, 'and it stays forgotten');
  t.equal((await s.lookup(1, 'slow')).error, 0, 'the server serves on');
});

t.test('FORGET to 0 of a directory while a LOOKUP in it is on the pool: ENOENT, the new fd closed', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, s } = await slowSession(t);
  const before = fdCount();
  const d = await s.entry(1, 'helddir-a');
  const l = await heldLookup(s, src, d.nodeid, 'held-c');
  await s.forget(d.nodeid, 1);
  src.release(FUSE.LOOKUP, 0, true);
  const a = await s.answer(l, 'the LOOKUP');
  // The worker's openat succeeded (on its dup of the directory's fd): the completion finds the
  // parent gone, closes the new fd and answers ENOENT, as for any unknown parent.
  t.same(await saidOf(src, 'held-c'), [(await saidOf(src, 'held-c'))[0]], 'the source answered it once');
  t.ok((await saidOf(src, 'held-c'))[0] > 0, 'with an entry');
  t.equal(a.error, -ENOENT, 'vfsd answers ENOENT: its parent was forgotten meanwhile');
  t.equal(fdCount(), before, 'no fd left behind (the directory\'s, the dup, the new one)');
  t.equal((await s.lookup(d.nodeid, 'held-c')).error, -ENOENT, 'the forgotten directory stays unknown');
  t.equal((await s.lookup(1, 'slow')).error, 0, 'the server serves on');
});

t.test('the name unlinked or renamed while its LOOKUP is on the pool: the answer is the source\'s', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, s } = await slowSession(t);

  t.test('unlinked on the host while held: ENOENT, as the source said', async (t) => {
    const l = await heldLookup(s, src, 1, 'held-u');
    await src.hostUnlink('held-u');
    src.release(FUSE.LOOKUP, 0, true);
    const a = await s.answer(l, 'the LOOKUP');
    t.same(await saidOf(src, 'held-u'), [-ENOENT], 'the source answered ENOENT');
    t.equal(a.error, -ENOENT, 'and so does vfsd');
  });

  t.test('UNLINK of the name while its LOOKUP is held: the LOOKUP gets the entry, then the unlink succeeds', async (t) => {
    const l = await heldLookup(s, src, 1, 'held-v');
    // The UNLINK runs inline: this loop blocks inside unlinkat, whose own lookup of the name
    // waits for the held one in the source's kernel (one lookup of a name at a time). The child
    // lets them go on its own clock.
    src.release(FUSE.LOOKUP, 200, true);
    const u = await s.call(FUSE.UNLINK, 1, name('held-v'));
    const a = await s.answer(l, 'the LOOKUP');
    const said = await saidOf(src, 'held-v');
    t.ok(said[0] > 0, `the source answered the held LOOKUP with inode ${said[0]}`);
    t.equal(a.error, 0, 'vfsd answers it with an entry');
    t.equal(entryOf(a.payload).ino, said[0], 'of that inode');
    t.equal(u.error, 0, 'the UNLINK succeeds');
    t.equal((await s.lookup(1, 'held-v')).error, -ENOENT, 'the name is gone');
    t.equal((await saidOf(src, 'held-v')).at(-1), -ENOENT, 'as the source says');
    await s.forget(entryOf(a.payload).nodeid, 1);
  });

  t.test('RENAME of the name while its LOOKUP is held: one inode under its new name', async (t) => {
    const l = await heldLookup(s, src, 1, 'held-r');
    src.release(FUSE.LOOKUP, 200, true);
    const r = await s.call(FUSE.RENAME, 1, renameIn(1, 'held-r', 'held-s'));
    const a = await s.answer(l, 'the LOOKUP');
    const said = await saidOf(src, 'held-r');
    t.ok(said[0] > 0, `the source answered the held LOOKUP with inode ${said[0]}`);
    t.equal(a.error, 0, 'vfsd answers it with an entry');
    const x = entryOf(a.payload);
    t.equal(x.ino, said[0], 'of that inode');
    t.equal(r.error, 0, 'the RENAME succeeds');
    const y = await s.entry(1, 'held-s');
    t.equal(y.nodeid, x.nodeid, 'the new name is the same node (one host inode, one node id)');
    t.equal((await s.lookup(1, 'held-r')).error, -ENOENT, 'the old name is gone');
    await s.forget(x.nodeid, 2);
  });
});

t.test('the front end gone while a LOOKUP is on the pool: the late completion is harmless; a new session serves', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const src = await spawnHeldSource(t, []);
  const before = fdCount();
  t.test('the session that goes', async (t) => {
    const s = await Served.open(t, src);
    await s.makeSlow(t);
    await heldLookup(s, src, 1, 'held-z');
    s.closeFrontend();
    await waitFor(() => s.disconnected, 'the backend to see the front end go', WAIT);
    // The server stopped (as the command does): its inodes and their fds are released; the one
    // fd left of the request is the worker's dup of the parent's, which the job closes.
    const [inodesStopped, fdsStopped] = [s.pfs.inodes.size, fdCount() - 1];
    src.release(FUSE.LOOKUP, 0, true);
    const deadline = Date.now() + WAIT;
    while ((await saidOf(src, 'held-z')).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    t.ok((await saidOf(src, 'held-z'))[0] > 0, 'the source answered the held LOOKUP');
    // Give the worker's completion its turn on this loop: it finds the session's inodes gone.
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 10));
    t.equal(s.pfs.inodes.size, inodesStopped, 'the late completion adds no inode to the stopped session');
    t.equal(fdCount(), fdsStopped, 'and keeps no fd (the job closed its dup and the new fd)');
    s.close();
  });
  t.test('a new session', async (t) => {
    const s = await Served.open(t, src);
    t.equal((await s.lookup(1, 'slow')).error, 0, 'serves a LOOKUP');
    s.close();
    t.equal(fdCount(), before, 'and nothing the first one had is left open');
  });
});

t.test('DESTROY (the guest unmounts) while a LOOKUP is on the pool, then INIT again: the late completion does not leak into the new session', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, s } = await slowSession(t);
  const l = await heldLookup(s, src, 1, 'held-d');
  // A virtio-fs guest unmounts (DESTROY ends the FUSE session: every inode released) and mounts
  // again on the same device (INIT): node ids start over from the root.
  t.equal((await s.call(FUSE.DESTROY, 0n, Buffer.alloc(0))).error, 0, 'DESTROY answered');
  t.equal((await s.call(FUSE.INIT, 0n, guestInitIn())).error, 0, 'INIT again');
  const fds = fdCount() - 1; // without the worker's dup of the root's fd, closed when the job ends
  t.equal(s.pfs.inodes.size, 1, 'the new session knows only the root');
  src.release(FUSE.LOOKUP, 0, true);
  const a = await s.answer(l, 'the LOOKUP of the old session');
  t.equal(a.error, -ENOENT, 'the old session\'s LOOKUP is answered ENOENT: its session is gone');
  t.equal(s.pfs.inodes.size, 1, 'and adds no inode to the new one');
  t.equal(fdCount(), fds, 'nor an fd');
  // Were it adopted, the new session's lookup of the name would find it with a lookup count the
  // guest never had: its FORGET would leave the inode (and its fd) behind for good.
  const x = await s.entry(1, 'held-d');
  await s.forget(x.nodeid, 1);
  t.equal((await s.call(FUSE.GETATTR, x.nodeid, getattrIn())).error, -ENOENT, 'the new session\'s one lookup, forgotten once, is gone');
  t.equal(fdCount(), fds, 'with its fd');
});

/** `list` opened (OPENDIR) and a READDIR of it from offset 0 held in the source's getdents. */
async function heldReaddir(s: Served, src: HeldSourceProcess) {
  const d = await s.entry(1, 'list');
  const o = await s.call(FUSE.OPENDIR, d.nodeid, openIn(0));
  if (o.error !== 0) throw new Error(`OPENDIR: ${o.error}`);
  const fh = o.payload.readBigUInt64LE(0);
  await src.hold(FUSE.READDIR);
  const a = s.post(FUSE.READDIR, d.nodeid, readIn(fh, 0, 4096));
  s.kick();
  await untilHeld(src, FUSE.READDIR, "the READDIR's getdents64 in the source");
  // The same handle again while the first one's refill is on a worker.
  const b = s.post(FUSE.READDIR, d.nodeid, readIn(fh, 0, 4096));
  s.kick();
  return { d, fh, a, b };
}

t.test('two READDIRs of one handle while its refill is on the pool: the second waits, both list from offset 0', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, s } = await slowSession(t);
  const { d, fh, a, b } = await heldReaddir(s, src);
  t.equal((await s.lookup(1, 'slow')).error, 0, 'another request is answered meanwhile: the loop is free');
  t.notOk(s.answered(a) || s.answered(b), 'neither READDIR is answered while the getdents64 is held');
  src.release(FUSE.READDIR, 0, true);
  const [x, y] = [await s.answer(a, 'the first READDIR'), await s.answer(b, 'the second READDIR')];
  t.equal(x.error, 0, 'the first lists');
  t.equal(y.error, 0, 'the second lists');
  t.ok(x.payload.length > 0, `entries (${x.payload.length} bytes)`);
  t.same(y.payload, x.payload, 'the same entries: each READDIR had the stream to itself');
  t.equal((await s.call(FUSE.RELEASEDIR, d.nodeid, releaseIn(fh))).error, 0, 'RELEASEDIR');
  await s.forget(d.nodeid, 1);
});

t.test('RELEASEDIR while the handle\'s READDIR is on the pool: EBADF, no fd left behind', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, s } = await slowSession(t);
  const before = fdCount();
  const { d, fh, a, b } = await heldReaddir(s, src);
  t.equal((await s.call(FUSE.RELEASEDIR, d.nodeid, releaseIn(fh))).error, 0, 'RELEASEDIR is answered while the READDIR is held');
  src.release(FUSE.READDIR, 0, true);
  t.equal((await s.answer(a, 'the READDIR')).error, -EBADF, 'the held READDIR answers EBADF: its handle is gone');
  t.equal((await s.answer(b, 'the waiting READDIR')).error, -EBADF, 'and so does the one that waited for it');
  await s.forget(d.nodeid, 1);
  // RELEASEDIR's close of a slow mount's directory runs on the pool (passthrough/close-waits.ts):
  // wait for it; a leaked fd never gets there.
  await waitFor(() => fdCount() === before, 'the fds to settle', 10000).catch(() => {});
  t.equal(fdCount(), before, "no fd left behind (the handle's, the worker's dup, the inode's)");
  t.equal((await s.lookup(1, 'slow')).error, 0, 'the server serves on');
});

t.test('DESTROY while a READDIR is on the pool, then INIT again: EBADF, no fd left behind', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, s } = await slowSession(t);
  const { a, b } = await heldReaddir(s, src);
  t.equal((await s.call(FUSE.DESTROY, 0n, Buffer.alloc(0))).error, 0, 'DESTROY answered while the READDIR is held');
  t.equal((await s.call(FUSE.INIT, 0n, guestInitIn())).error, 0, 'INIT again');
  // The session's handles and inodes are closed (a slow mount's directory handle by a close on
  // the pool: wait until only the held READDIR is in flight); one fd is left of the request: the
  // worker's dup of the directory's, which the job closes when its getdents64 returns.
  await waitFor(() => workerPool.workerPoolStats()[1] === 1, 'the old session\'s closes on the pool', 10000);
  const fds = fdCount() - 1;
  src.release(FUSE.READDIR, 0, true);
  t.equal((await s.answer(a, 'the held READDIR')).error, -EBADF, 'the old session\'s READDIR answers EBADF');
  t.equal((await s.answer(b, 'the waiting READDIR')).error, -EBADF, 'and so does the one that waited for it');
  await waitFor(() => fdCount() === fds, 'the fds to settle', 10000).catch(() => {});
  t.equal(fdCount(), fds, 'no fd left behind: the job closed its dup');
  t.equal((await s.lookup(1, 'slow')).error, 0, 'the new session serves');
});
