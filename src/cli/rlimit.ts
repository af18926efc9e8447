// The open-file limit. A passthrough server keeps one O_PATH fd per inode the client holds, so
// the default soft limit (often 1024) would make a `find` over a large tree fail with EMFILE.
// Like virtiofsd we raise it at start: by default to min(1,000,000, fs.nr_open); --rlimit-nofile N
// asks for N (0: leave it as it is).
import * as fs from 'node:fs';
import { AT_FDCWD, C, sys } from '../native/sys';
import type { Logger } from '../log/logger';

const DEFAULT_TARGET = 1_000_000;

function nrOpen(): number {
  try {
    return Number(fs.readFileSync('/proc/sys/fs/nr_open', 'utf8').trim()) || DEFAULT_TARGET;
  } catch {
    return DEFAULT_TARGET;
  }
}

export function raiseNofile(requested: number | null, log: Logger): void {
  if (requested === 0) return;
  const cur = sys.getrlimit(C.RLIMIT_NOFILE);
  if (typeof cur === 'number') return;
  const [soft, hard] = cur;
  const want = requested ?? Math.min(DEFAULT_TARGET, nrOpen());
  if (soft !== -1 && soft >= want) return;
  // Raising the hard limit needs CAP_SYS_RESOURCE; without it we go as far as the hard limit.
  let r = sys.setrlimit(C.RLIMIT_NOFILE, want, hard === -1 || hard >= want ? hard : want);
  if (r < 0 && hard !== -1 && hard < want) r = sys.setrlimit(C.RLIMIT_NOFILE, hard, hard);
  const now = sys.getrlimit(C.RLIMIT_NOFILE);
  const got = typeof now === 'number' ? soft : now[0];
  if (got < want && got !== -1) {
    // Only worth a warning when the operator asked for the number; the default is best effort.
    const say = requested === null ? log.info : log.warn;
    say('could not raise the open-file limit as far as wanted', { wanted: want, have: got });
  }
  else log.debug('open-file limit raised', { nofile: got });
}

/** Slots the fd table is grown to at start (at most; never past the soft limit). */
const PRESIZE_MAX = 65536;
const F_DUPFD_CLOEXEC = 1030;

/**
 * Grows the fd table once, now, to min(soft limit, 65536) slots. Why: the kernel grows a
 * process's fd table by doubling it, and when threads share the table (node always has threads)
 * each doubling waits for an RCU grace period (synchronize_rcu in expand_fdtable): 10-15 ms per
 * doubling on a loaded 2-CPU machine. With one O_PATH fd per inode, the first listings of a fresh
 * server (a READDIRPLUS reply adopts ~400 new inodes) paid several of those waits mid-request
 * (a threaded C loop of 2,000 openat: 30-50 ms, 10 ms with the table presized). Costs ~8 bytes of
 * kernel memory per slot (~0.5 MiB for 65536); the table never shrinks, and grows on past it as
 * usual.
 */
export function presizeFdTable(log: Logger): void {
  const cur = sys.getrlimit(C.RLIMIT_NOFILE);
  const soft = typeof cur === 'number' ? 1024 : cur[0];
  const top = (soft === -1 ? PRESIZE_MAX : Math.min(soft, PRESIZE_MAX)) - 1;
  const fd = sys.openat(AT_FDCWD, '/', C.O_PATH, 0);
  if (fd < 0) return;
  // F_DUPFD hands out the lowest free fd >= top: the table is expanded to hold it.
  const high = sys.fcntlInt(fd, F_DUPFD_CLOEXEC, top);
  sys.close(fd);
  if (high >= 0) sys.close(high);
  log.debug('fd table presized', { slots: top + 1, ok: high >= 0 });
}
