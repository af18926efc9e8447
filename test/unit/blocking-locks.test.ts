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
