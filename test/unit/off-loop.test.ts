// The per-mount choice between inline and the worker pool (src/passthrough/off-loop.ts): a mount
// goes to the pool after two slow inline ops close together, comes back after FAST_RUNS fast pool
// runs in a row, and never leaves inline without a pool. (The slow op is a real 1.5 ms busy
// wait: what is asserted is the decision, not a speed.)
import t from 'tap';
import { FAST_RUNS, FAST_US, OffLoop, SLOW_US, STRIKE_WINDOW } from '../../src/passthrough/off-loop';

const busy = (us: number) => {
  const end = performance.now() + us / 1000;
  while (performance.now() < end) { /* spin */ }
};
const slowOp = () => busy(SLOW_US * 1.5);

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

t.test('without a pool everything stays inline', async (t) => {
  const o = new OffLoop();
  o.noPool();
  o.timed(5, slowOp);
  o.timed(5, slowOp);
  t.notOk(o.wants(5));
});
