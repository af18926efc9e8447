// Where a metadata request's syscalls run: inline on the JS thread, or on the worker pool.
//
// Inline is what a local, cached filesystem wants: a statx on tmpfs or a warm ext4 takes a few
// microseconds, less than the hop to a worker and back (55-85 µs across CPUs here). But a source
// that answers slowly (a network filesystem, a FUSE filesystem, a cold disk) would hold up every
// other request for as long as the syscall takes. So the choice is made per mount, from what its
// syscalls measurably cost:
//  - the syscalls of every inline LOOKUP, GETATTR, STATX, OPEN, OPENDIR, ACCESS, READDIR, READDIRPLUS,
//    READLINK, STATFS, UNLINK, RMDIR, RENAME, MKDIR, MKNOD, SYMLINK, LINK, CREATE, SETATTR, the
//    four xattr ops, the lock calls (GETLK, SETLK, a SETLKW's attempts, flock) and LSEEK are timed (the syscall alone, natively: a garbage collection or our own work
//    in between never counts);
//    two ops whose slowest syscall took SLOW_US or more within STRIKE_WINDOW inline ops mark
//    their mount slow (one alone may be noise: a preempted thread on a busy host);
//  - a slow mount's LOOKUP, GETATTR, STATX, OPEN, OPENDIR, ACCESS, READLINK, STATFS, UNLINK, RMDIR,
//    RENAME (the old parent's mount), MKDIR, MKNOD, SYMLINK, LINK, CREATE, TMPFILE (labelled or
//    not: pool-creates.ts),
//    SETATTR (one change at a time: setattr-ops.ts), the xattr ops (xattr-ops.ts), the lock
//    calls and the opening of a lock owner's description (lock-ops.ts), LSEEK (a FileJob:
//    file-ops.ts) and the
//    getdents64 of its READDIR and READDIRPLUS go to the pool (pool-ops.ts; a slow mount's
//    READDIRPLUS lists names without attributes instead of a statx per entry: dir-ops.ts readdirPooled), where the
//    worker times the syscalls too;
//    after FAST_RUNS pool runs in a row under FAST_US the mount is inline again (a cold disk
//    that warmed up).
// The worst a misjudged fast mount costs is one slow inline syscall; a misjudged slow mount, a
// thread hop per request until FAST_RUNS runs prove it fast.
import { sys } from '../native/sys';

export const SLOW_US = 1000;
export const FAST_US = 100;
export const FAST_RUNS = 64;
export const STRIKE_WINDOW = 32;

export class OffLoop {
  /** mount id -> pool runs in a row that were fast (present = the mount is slow) */
  private readonly slow = new Map<number, number>();
  /** mount id -> the inline op count at its last slow inline op */
  private readonly strikes = new Map<number, number>();
  private inlineOps = 0;

  /** false once a post found no worker pool (--thread-pool-size 0): then all is inline, untimed */
  private pool = true;

  /** No pool runs: everything stays inline from now on. */
  noPool(): void {
    this.pool = false;
    this.slow.clear();
  }

  /** Whether requests on this mount go to the pool. */
  wants(mntId: number): boolean {
    return this.pool && this.slow.size !== 0 && this.slow.has(mntId);
  }

  /** Runs fn inline, timing its syscalls: a slow one marks the mount. */
  timed<T>(mntId: number, fn: () => T): T {
    if (!this.pool) return fn();
    const clock = this.clock;
    clock[0] = 0;
    try {
      return fn();
    } finally {
      const n = ++this.inlineOps;
      if (clock[0] >= SLOW_US * 1000) this.strike(mntId, n);
    }
  }

  private readonly clock = sys.syscallClock();

  private strike(mntId: number, n: number): void {
    const last = this.strikes.get(mntId);
    if (last !== undefined && n - last <= STRIKE_WINDOW) {
      this.strikes.delete(mntId);
      this.slow.set(mntId, 0);
    } else {
      if (this.strikes.size >= 1024) this.strikes.clear(); // bounded: one entry per mount seen slow
      this.strikes.set(mntId, n);
    }
  }

  /** Serves the mount on the pool from now on, as two slow syscalls would (tests, which cannot
   *  make a local filesystem slow at will). */
  markSlow(mntId: number): void {
    if (this.pool) this.slow.set(mntId, 0);
  }

  /** A pool run on this mount took `micros`. */
  ranOnPool(mntId: number, micros: number): void {
    const fast = this.slow.get(mntId);
    if (fast === undefined) return;
    if (micros >= FAST_US) this.slow.set(mntId, 0);
    else if (fast + 1 >= FAST_RUNS) this.slow.delete(mntId);
    else this.slow.set(mntId, fast + 1);
  }

  /** Mounts currently served on the pool (statistics and tests). */
  get slowMounts(): number[] {
    return [...this.slow.keys()];
  }
}
