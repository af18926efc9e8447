// The SETLKW waiter list: bounded (a guest could otherwise start lock waits without end, each
// retried on a timer), and what is over the bound gets ENOLCK at once instead of waiting.
import t from 'tap';
import { BlockingLocks, MAX_WAITERS } from '../../src/server/blocking-locks';
import { Errno } from '../../src/protocol';

t.test('at most MAX_WAITERS wait; the next gets ENOLCK; room freed is room again', async (t) => {
  const locks = new BlockingLocks();
  t.teardown(() => locks.clear());
  const results = new Map<string, number>();
  const busy = () => -Errno.EAGAIN;
  for (let i = 0; i < MAX_WAITERS; i++) locks.wait(`w${i}`, busy, (r) => results.set(`w${i}`, r));
  t.equal(locks.waiting, MAX_WAITERS, `${MAX_WAITERS} waiting`);
  t.equal(results.size, 0, 'none answered yet');
  locks.wait('over', busy, (r) => results.set('over', r));
  t.equal(results.get('over'), -Errno.ENOLCK, 'one more: ENOLCK at once');
  t.equal(locks.waiting, MAX_WAITERS, 'and not kept');
  locks.wait('free', () => 0, (r) => results.set('free', r));
  t.equal(results.get('free'), 0, 'a lock that is free is still taken at the cap (no wait needed)');
  t.ok(locks.interrupt('w0'), 'one waiter interrupted');
  t.equal(results.get('w0'), -Errno.EINTR);
  locks.wait('again', busy, (r) => results.set('again', r));
  t.equal(locks.waiting, MAX_WAITERS, 'its place is taken by a new waiter');
  t.notOk(results.has('again'));
  locks.interruptAll();
  t.equal(locks.waiting, 0);
  t.equal([...results.values()].filter((r) => r === -Errno.EINTR).length, MAX_WAITERS + 1, 'every waiter answered EINTR');
});

/** An attempt that runs "on the pool": each call returns a Promise the test settles. */
function pooledAttempts(): { attempt: () => Promise<number>; calls: () => number; settle: (r: number) => void } {
  const pending: Array<(r: number) => void> = [];
  let calls = 0;
  return {
    attempt: () => { calls++; return new Promise<number>((resolve) => pending.push(resolve)); },
    calls: () => calls,
    settle: (r) => pending.shift()?.(r),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

t.test('pooled attempts: retried while the lock is taken, answered when one gets it', async (t) => {
  const locks = new BlockingLocks();
  t.teardown(() => locks.clear());
  const a = pooledAttempts();
  let result: number | undefined;
  locks.wait('w', a.attempt, (r) => { result = r; });
  t.equal(locks.waiting, 1, 'known while its first attempt runs');
  a.settle(-Errno.EAGAIN);
  await tick();
  t.equal(result, undefined, 'taken: it waits');
  await new Promise((r) => setTimeout(r, 20));
  t.ok(a.calls() >= 2, 'and tries again');
  a.settle(0);
  await tick();
  t.equal(result, 0, 'granted');
  t.equal(locks.waiting, 0, 'and gone');
});

t.test('an INTERRUPT during a pooled attempt ends the request when the attempt settles', async (t) => {
  const locks = new BlockingLocks();
  t.teardown(() => locks.clear());
  const taken = pooledAttempts();
  const granted = pooledAttempts();
  const results = new Map<string, number>();
  locks.wait('taken', taken.attempt, (r) => results.set('taken', r));
  locks.wait('granted', granted.attempt, (r) => results.set('granted', r));
  t.ok(locks.interrupt('taken'), 'interrupted');
  t.ok(locks.interrupt('granted'), 'interrupted');
  t.equal(results.size, 0, 'not answered while the attempts run: they cannot be taken back');
  taken.settle(-Errno.EAGAIN);
  granted.settle(0);
  await tick();
  t.equal(results.get('taken'), -Errno.EINTR, 'the lock was still taken: EINTR');
  t.equal(results.get('granted'), 0, 'the attempt got the lock: 0, as when the grant wins the race with the signal');
  t.equal(locks.waiting, 0);
  t.equal(taken.calls(), 1, 'no attempt after the interrupt');
});

t.test('the cap counts pooled waiters; a lock free at the cap is still taken; a dropped session answers nothing', async (t) => {
  const locks = new BlockingLocks(2);
  const a = pooledAttempts();
  const results = new Map<string, number>();
  for (const k of ['a', 'b', 'c']) locks.wait(k, a.attempt, (r) => results.set(k, r));
  t.equal(locks.waiting, 3, 'first attempts are not refused at the cap: the lock may be free');
  a.settle(-Errno.EAGAIN);
  a.settle(-Errno.EAGAIN);
  a.settle(0);
  await tick();
  t.equal(results.get('c'), 0, 'free: taken');
  t.equal(results.get('a'), undefined, 'a waits');
  t.equal(results.get('b'), undefined, 'b waits (2 waiting, the cap)');
  locks.wait('d', a.attempt, (r) => results.set('d', r));
  await new Promise((r) => setTimeout(r, 20)); // a and b try again meanwhile
  a.settle(-Errno.EAGAIN); // whichever ran first: the cap decides only d's first EAGAIN
  a.settle(-Errno.EAGAIN);
  a.settle(-Errno.EAGAIN);
  await tick();
  t.equal(results.get('d'), -Errno.ENOLCK, 'a third taken lock past the cap: ENOLCK');
  t.equal(locks.waiting, 2, 'a and b still wait');
  locks.clear();
  for (let i = 0; i < 4; i++) a.settle(0);
  await tick();
  t.notOk(results.has('a') || results.has('b'), 'after the session ends nothing is answered');
});
