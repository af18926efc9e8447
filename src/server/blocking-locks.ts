// SETLKW and blocking flock without a thread per waiter: we retry the non-blocking attempt with a
// growing delay until it succeeds, fails for another reason, or the client interrupts the request
// (INTERRUPT carries the waiting request's unique) or goes away. A waiter costs a timer, nothing
// more, so a guest that piles up waiters cannot exhaust our threads.
//
// Waiters are capped (MAX_WAITERS): each one retries every MAX_DELAY_MS and holds its request (a
// virtqueue chain, a kernel request) until it ends, so a guest starting lock waits without end
// would cost us CPU and memory without bound. Past the cap SETLKW fails with ENOLCK, the error
// fcntl(2) and flock(2) document for "out of lock resources" (EAGAIN would tell a blocking caller
// the lock is merely taken, which F_SETLKW never reports; the caller may retry later either way).
//
// On a slow mount an attempt runs on the worker pool (src/passthrough/lock-ops.ts) and settles
// later. An INTERRUPT that arrives while one runs cannot take the attempt back: the request is
// answered when it settles, 0 if it got the lock (as fcntl returns 0 when the grant wins the race
// with the signal), EINTR if the lock was still taken. Answering EINTR at once instead would leave
// a lock granted that its owner was told it never got, and releasing it after the fact could
// drop a lock the owner held on that range before.
import { Errno } from '../protocol';
import type { Later } from './file-system';

const FIRST_DELAY_MS = 1;
const MAX_DELAY_MS = 50;
export const MAX_WAITERS = 64;

interface Waiter {
  attempt: () => Later<number>;
  finish: (r: number) => void;
  /** between attempts: the next one's timer */
  timer: NodeJS.Timeout | null;
  delay: number;
  /** an attempt runs on the pool now */
  attempting: boolean;
  /** INTERRUPT came while the attempt ran: the request ends when it settles */
  interrupted: boolean;
  /** the session ended: nothing is answered any more */
  dropped: boolean;
  /** past its first attempt (counted against the cap) */
  waits: boolean;
}

export class BlockingLocks {
  private waiters = new Map<string, Waiter>();
  /** waiters past their first attempt: what the cap bounds */
  private waits = 0;

  constructor(private readonly maxWaiters = MAX_WAITERS) {}

  /** Requests waiting now, between attempts or in one on the pool (operators' counters, tests). */
  get waiting(): number {
    return this.waiters.size;
  }

  /** attempt() gives (or settles to) 0, -EAGAIN (try again later) or another -errno; finish gets
   *  the result. */
  wait(uniqueKey: string, attempt: () => Later<number>, finish: (r: number) => void): void {
    // A second request with the unique of one still waiting is a client bug (or a hostile one):
    // it must not take the first one's place, or that one could never be interrupted.
    if (this.waiters.has(uniqueKey)) return finish(-Errno.EINVAL);
    this.run(uniqueKey, { attempt, finish, timer: null, delay: FIRST_DELAY_MS, attempting: false, interrupted: false, dropped: false, waits: false });
  }

  private run(key: string, w: Waiter): void {
    const r = w.attempt();
    if (!(r instanceof Promise)) return this.attempted(key, w, r);
    w.attempting = true;
    // Known while the attempt runs, so that an INTERRUPT finds it. Not refused at the cap: the
    // lock may be free; the cap is checked if it is not (attempted).
    if (!this.waiters.has(key)) this.waiters.set(key, w);
    r.then((v) => this.attempted(key, w, v), () => this.attempted(key, w, -Errno.EIO));
  }

  private attempted(key: string, w: Waiter, r: number): void {
    w.attempting = false;
    if (w.dropped) return;
    if (r !== -Errno.EAGAIN || w.interrupted) return this.end(key, w, r === -Errno.EAGAIN ? -Errno.EINTR : r);
    if (!w.waits) {
      if (this.waits >= this.maxWaiters) return this.end(key, w, -Errno.ENOLCK);
      w.waits = true;
      this.waits++;
    }
    this.waiters.set(key, w);
    w.timer = setTimeout(() => {
      w.timer = null;
      this.run(key, w);
    }, w.delay);
    w.delay = Math.min(w.delay * 2, MAX_DELAY_MS);
  }

  private end(key: string, w: Waiter, r: number): void {
    if (this.waiters.get(key) === w) this.waiters.delete(key);
    if (w.waits) this.waits--;
    w.waits = false;
    w.finish(r);
  }

  /** INTERRUPT: the waiting request ends with EINTR (or, with an attempt running on the pool,
   *  when that settles). Returns whether it was waiting. */
  interrupt(uniqueKey: string): boolean {
    const w = this.waiters.get(uniqueKey);
    if (!w) return false;
    if (w.attempting) {
      w.interrupted = true;
      return true;
    }
    if (w.timer) clearTimeout(w.timer);
    this.end(uniqueKey, w, -Errno.EINTR);
    return true;
  }

  /** DESTROY: the channel still stands, so every waiter is answered (EINTR, or as its running
   *  attempt settles) before it is dropped: a request left unanswered would hold its virtqueue
   *  chain (or kernel request) forever. */
  interruptAll(): void {
    for (const key of [...this.waiters.keys()]) this.interrupt(key);
  }

  /** Session over: every waiter is dropped (its channel is gone, nothing to answer), except one
   *  interruptAll() left to be answered when its running attempt settles (DESTROY: the channel
   *  stands, and its request would otherwise hold its chain for good). */
  clear(): void {
    for (const w of this.waiters.values()) {
      if (w.timer) clearTimeout(w.timer);
      w.waits = false;
      if (!(w.attempting && w.interrupted)) w.dropped = true;
    }
    this.waiters.clear();
    this.waits = 0;
  }
}
