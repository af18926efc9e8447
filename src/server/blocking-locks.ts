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
import { Errno } from '../protocol';

const FIRST_DELAY_MS = 1;
const MAX_DELAY_MS = 50;
export const MAX_WAITERS = 64;

interface Waiter {
  timer: NodeJS.Timeout;
  finish: (r: number) => void;
}

export class BlockingLocks {
  private waiters = new Map<string, Waiter>();

  constructor(private readonly maxWaiters = MAX_WAITERS) {}

  /** Requests waiting now (operators' counters, tests). */
  get waiting(): number {
    return this.waiters.size;
  }

  /** attempt() returns 0, -EAGAIN (try again later) or another -errno; finish gets the result. */
  wait(uniqueKey: string, attempt: () => number, finish: (r: number) => void): void {
    // A second request with the unique of one still waiting is a client bug (or a hostile one):
    // it must not take the first one's place, or that one could never be interrupted.
    if (this.waiters.has(uniqueKey)) return finish(-Errno.EINVAL);
    const first = attempt();
    if (first !== -Errno.EAGAIN) return finish(first);
    if (this.waiters.size >= this.maxWaiters) return finish(-Errno.ENOLCK);
    let delay = FIRST_DELAY_MS;
    const retry = () => {
      const r = attempt();
      if (r !== -Errno.EAGAIN) {
        this.waiters.delete(uniqueKey);
        return finish(r);
      }
      delay = Math.min(delay * 2, MAX_DELAY_MS);
      w.timer = setTimeout(retry, delay);
    };
    const w: Waiter = { timer: setTimeout(retry, delay), finish };
    this.waiters.set(uniqueKey, w);
  }

  /** INTERRUPT: the waiting request ends with EINTR. Returns whether it was waiting. */
  interrupt(uniqueKey: string): boolean {
    const w = this.waiters.get(uniqueKey);
    if (!w) return false;
    clearTimeout(w.timer);
    this.waiters.delete(uniqueKey);
    w.finish(-Errno.EINTR);
    return true;
  }

  /** DESTROY: the channel still stands, so every waiter is answered (EINTR) before it is dropped:
   *  a request left unanswered would hold its virtqueue chain (or kernel request) forever. */
  interruptAll(): void {
    for (const key of [...this.waiters.keys()]) this.interrupt(key);
  }

  /** Session over: every waiter is dropped (its channel is gone, nothing to answer). */
  clear(): void {
    for (const w of this.waiters.values()) clearTimeout(w.timer);
    this.waiters.clear();
  }
}
