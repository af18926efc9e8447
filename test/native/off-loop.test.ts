// The per-mount choice between inline and the worker pool (src/passthrough/off-loop.ts): a mount
// goes to the pool after two slow inline ops close together, comes back after FAST_RUNS fast pool
// runs in a row, and never leaves inline without a pool. (The slow op is a real syscall that
// takes 1.5 ms — a statx, timed natively, stands in for it through the same clock: the clock is
// set as a slow statx would leave it; what is asserted is the decision, not a speed. A busy
// wait in JavaScript must NOT count: only syscalls do.)
import t from 'tap';
import { FAST_RUNS, FAST_US, OffLoop, SLOW_US, STRIKE_WINDOW } from '../../src/passthrough/off-loop';
import { AT_FDCWD, C, sys } from '../../src/native/sys';
import { closeNeverWaits } from '../../src/passthrough/close-waits';
import { spawnHeldSource } from '../helpers/held-source';

const clock = sys.syscallClock();
/** What a statx that took 1.5 × SLOW_US leaves in the native clock. */
const slowOp = () => { clock[0] = Math.max(clock[0], SLOW_US * 1500); };
const busyJs = () => {
  const end = performance.now() + SLOW_US * 1.5 / 1000;
  while (performance.now() < end) { /* spin */ }
};

t.test('two slow inline ops within the window mark the mount; other mounts stay inline', async (t) => {
  const o = new OffLoop();
  t.equal(o.timed(7, () => 42), 42, 'timed returns what fn returns');
  o.timed(7, slowOp);
  t.notOk(o.wants(7), 'one slow op is not enough (noise)');
  o.timed(7, slowOp);
  t.ok(o.wants(7), 'the second marks mount 7 slow');
  t.notOk(o.wants(8), 'mount 8 is not affected');
  t.same(o.slowMounts, [7]);
});

t.test('slow ops far apart do not mark the mount', async (t) => {
  const o = new OffLoop();
  o.timed(1, slowOp);
  for (let i = 0; i < STRIKE_WINDOW + 1; i++) o.timed(1, () => 0);
  o.timed(1, slowOp);
  t.notOk(o.wants(1), 'the first strike aged out');
});

t.test('a slow mount comes back inline after FAST_RUNS fast pool runs in a row', async (t) => {
  const o = new OffLoop();
  o.timed(3, slowOp);
  o.timed(3, slowOp);
  for (let i = 0; i < FAST_RUNS - 1; i++) o.ranOnPool(3, 1);
  o.ranOnPool(3, FAST_US * 10);
  t.ok(o.wants(3), 'a slow pool run restarts the count');
  for (let i = 0; i < FAST_RUNS - 1; i++) o.ranOnPool(3, 1);
  t.ok(o.wants(3), 'still slow one run short');
  o.ranOnPool(3, 1);
  t.notOk(o.wants(3), 'inline again');
});

t.test('only syscalls count: slow JavaScript around a fast statx does not mark the mount', async (t) => {
  const o = new OffLoop();
  const out = Buffer.alloc(256);
  const op = () => { busyJs(); return sys.statx(AT_FDCWD, '/', 0, C.STATX_BASIC_STATS, out); };
  t.equal(o.timed(9, op), 0, 'the statx ran');
  o.timed(9, op);
  o.timed(9, op);
  t.notOk(o.wants(9), 'still inline');
  t.ok(clock[0] > 0 && clock[0] < SLOW_US * 1000, `the clock saw the statx alone (${clock[0]} ns)`);
});

t.test('without a pool everything stays inline', async (t) => {
  const o = new OffLoop();
  o.noPool();
  o.timed(5, slowOp);
  o.timed(5, slowOp);
  t.notOk(o.wants(5));
});

t.test('FLUSH inline only where closing a dup never waits (closeNeverWaits, by statfs f_type)', async (t) => {
  const root = process.geteuid?.() === 0;
  // The held source is a FUSE filesystem: its close() asks the server (FLUSH), so it must stay
  // on the pool; tmpfs and ext4 have no flush method. /proc is none of those: pool. (The source
  // runs in a child: a syscall on a FUSE mount this process served itself would never return.)
  const cases: Array<[string, string, boolean]> = [['/dev/shm', 'tmpfs', true], ['/var/tmp', 'ext4 (the real disk)', true], ['/proc/self', 'procfs', false]];
  const dirs = [...cases];
  if (root) dirs.push([(await spawnHeldSource(t)).dir, 'a FUSE source', false]);
  for (const [dir, what, want] of dirs) {
    const fd = sys.openat(AT_FDCWD, dir, C.O_RDONLY | C.O_DIRECTORY | C.O_CLOEXEC, 0);
    t.ok(fd >= 0, `opened ${dir}`);
    const slot = { fsType: -1 };
    t.equal(closeNeverWaits(slot, fd), want, `${what}: ${want ? 'inline' : 'pool'}`);
    t.ok(slot.fsType > 0, `${what}: f_type kept (0x${slot.fsType.toString(16)})`);
    sys.close(fd);
    // Asked once: the kept f_type answers, the (now closed) fd is not asked again.
    t.equal(closeNeverWaits(slot, fd), want, `${what}: the same answer from the kept f_type`);
  }
  const unknown = { fsType: -1 };
  t.notOk(closeNeverWaits(unknown, -1), 'fstatfs fails: pool');
  t.equal(unknown.fsType, -1, 'a failed fstatfs keeps nothing');
});
