// The inode fd budget of --inode-file-handles auto (inode-fd-ring.ts, through InodeStore): never
// more budgeted fds open than the budget, the ones taken back are closed and their inodes answer
// fd -1, a borrowed fd is never taken back, a recently used one outlives one not used since,
// dropping an inode frees its place, and shrink (the answer to EMFILE) lowers the budget.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InodeStore } from '../../src/passthrough/inode-store';
import type { Inode, InodeInit } from '../../src/passthrough/inode';
import { inodeFdBudget } from '../../src/passthrough/inode-fd-ring';
import { AT_FDCWD, C, sys } from '../../src/native/sys';

const F_GETFD = 1;
const isOpen = (fd: number) => sys.fcntlInt(fd, F_GETFD, 0) >= 0;

function init(inoLo: number): InodeInit {
  const handle = Buffer.alloc(8 + 8);
  handle.writeUInt32LE(8, 0);
  handle.writeInt32LE(1, 4);
  handle.writeUInt32LE(inoLo, 8);
  return {
    mntId: 30, devMajor: 0, devMinor: 42, inoHi: 0, inoLo, fd: -1, handle, mode: 0o100644,
    clientIno: inoLo, device: 'dev-a', visibleDevice: 'dev-a',
  };
}

function store(budget: number): InodeStore {
  const s = new InodeStore((inode) => { if (inode.fd >= 0) sys.close(inode.fd); });
  s.add({ ...init(1), mode: 0o40755 }, true).nlookup = 1;
  s.limitFds(budget);
  return s;
}

/** A new inode with a fresh O_PATH fd under the budget; the fd is closed if not kept. */
function addWithFd(s: InodeStore, ino: number): Inode {
  const inode = s.add(init(ino));
  inode.nlookup = 1;
  const fd = sys.openat(AT_FDCWD, '/', C.O_PATH, 0);
  if (!s.budgetFd(inode, fd)) sys.close(fd);
  return inode;
}

t.test('the budget', async (t) => {
  t.equal(inodeFdBudget(1024), 768, 'a quarter of 1024 is left, at least 256');
  t.equal(inodeFdBudget(300), 44);
  t.equal(inodeFdBudget(100), 32, 'never below 32');
  t.equal(inodeFdBudget(20000), 15000);
  t.equal(inodeFdBudget(1_000_000), 65536, 'at most 65536');
  t.equal(inodeFdBudget(-1), 65536, 'unlimited');
});

t.test('never more fds than the budget; those taken back are closed and answer -1', async (t) => {
  const s = store(4);
  const inodes: Inode[] = [];
  const fds: number[] = [];
  for (let i = 0; i < 10; i++) {
    const inode = addWithFd(s, 100 + i);
    inodes.push(inode);
    fds.push(inode.fd);
    t.ok(s.fdRing!.held <= 4, `after ${i + 1} adds: ${s.fdRing!.held} held`);
  }
  const withFd = inodes.filter((i) => i.fd >= 0);
  t.equal(withFd.length, 4, 'four inodes keep an fd');
  t.ok(withFd.every((i) => isOpen(i.fd)), 'and those are open');
  for (const i of inodes) t.equal(i.hasHandle, true, `${i.nodeid} keeps its handle`);
  // fd numbers are reused once closed: what is open now is exactly the kept four (and ours).
  const open = fds.filter((fd, k) => fds.indexOf(fd) === k && isOpen(fd));
  t.same(open.sort(), withFd.map((i) => i.fd).sort(), 'the others were closed');
  s.clear();
  t.equal(s.fdRing!.held, 0, 'clear releases them all');
});

t.test('a borrowed fd is never taken back; all borrowed: the new inode stays a handle', async (t) => {
  const s = store(2);
  const a = addWithFd(s, 200);
  const b = addWithFd(s, 201);
  const ring = s.fdRing!;
  t.ok(ring.borrow(a.slot) && ring.borrow(b.slot), 'both borrowed');
  const aFd = a.fd;
  for (let i = 0; i < 20; i++) {
    const c = addWithFd(s, 300 + i);
    t.equal(c.fd, -1, `new inode ${i}: no fd while both are borrowed`);
  }
  t.equal(a.fd, aFd, 'the borrowed fd stayed');
  t.ok(isOpen(aFd), 'and open');
  ring.release(a.slot);
  const d = addWithFd(s, 400);
  t.ok(d.fd >= 0, 'released: a new inode gets an fd');
  t.equal(a.fd, -1, 'the released one was taken back');
  t.ok(b.fd >= 0, 'the still borrowed one was not');
  ring.release(b.slot);
  s.clear();
});

t.test('a recently used fd outlives one not used since the hand passed', async (t) => {
  const s = store(3);
  const ring = s.fdRing!;
  const [a, b, c] = [addWithFd(s, 500), addWithFd(s, 501), addWithFd(s, 502)];
  addWithFd(s, 503); // the first sweep clears every recent bit and takes one back
  const survivors = [a, b, c].filter((i) => i.fd >= 0);
  t.equal(survivors.length, 2, 'one of the first three was taken back');
  ring.touch(survivors[0].slot);
  addWithFd(s, 504);
  t.ok(survivors[0].fd >= 0, 'the one touched since stays');
  t.equal(survivors[1].fd, -1, 'the one not touched goes');
  s.clear();
});

t.test('dropping an inode frees its place; shrink lowers the budget', async (t) => {
  const s = store(8);
  const ring = s.fdRing!;
  const inodes = Array.from({ length: 8 }, (_, i) => addWithFd(s, 600 + i));
  t.equal(ring.held, 8);
  s.forget(inodes[0].nodeid, 1);
  t.equal(ring.held, 7, 'forgotten: its fd released and its place free');
  const again = addWithFd(s, 700);
  t.ok(again.fd >= 0, 'a new inode takes the free place');
  t.ok(inodes.slice(1).every((i) => i.fd >= 0), 'without taking another fd back');
  t.equal(ring.shrink(3, 2), 3, 'shrink closes three');
  t.equal(ring.held, 5);
  t.equal(ring.budget, 5, 'and the budget is what is left');
  addWithFd(s, 701);
  t.equal(ring.held, 5, 'the lowered budget holds');
  t.equal(ring.shrink(100, 2), 3, 'never below the floor');
  t.equal(ring.budget, 2);
  s.clear();
});

t.test('an inode added without a handle gets one when its fd is taken back; one whose object has none keeps its fd', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-ring-lazy-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const s = store(2);
  const ring = s.fdRing!;
  /** An inode with no handle yet and an O_PATH fd of `file` (or of `at`), under the budget. */
  const lazyInode = (ino: number, at: string): Inode => {
    const inode = s.add({ ...init(ino), handle: null });
    inode.nlookup = 1;
    const fd = sys.openat(AT_FDCWD, at, C.O_PATH, 0);
    t.ok(s.budgetFd(inode, fd), `${at}: its fd is budgeted`);
    return inode;
  };
  fs.writeFileSync(path.join(dir, 'a'), 'a');
  const a = lazyInode(800, path.join(dir, 'a'));
  t.equal(a.hasHandle, false, 'no handle at first');
  const expected = Buffer.alloc(8 + 128);
  const n = sys.nameToHandleAt(a.fd, '', C.AT_EMPTY_PATH, expected);
  t.ok(n >= 0, 'tmpfs makes handles');
  // procfs has no file handles: this one cannot be reopened by one, so it must keep its fd.
  const p = lazyInode(801, '/proc/self/stat');
  const pFd = p.fd;
  addWithFd(s, 802); // full: the sweep clears the recent bits and takes one back
  addWithFd(s, 803);
  t.equal(a.fd, -1, 'the file\'s fd was taken back');
  t.equal(a.hasHandle, true, 'and it got its handle then');
  t.ok(a.handleEquals(expected.subarray(0, 8 + expected.readUInt32LE(0))), 'the file\'s own handle');
  t.equal(p.fd, pFd, 'the procfs inode keeps its fd');
  t.ok(isOpen(pFd), 'open');
  t.equal(p.hasHandle, false, 'with no handle');
  t.ok(ring.held <= 2, `the budget still holds (${ring.held} budgeted)`);
  s.clear();
});
