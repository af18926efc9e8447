// The open-file limit. A passthrough server keeps one O_PATH fd per inode the client holds, so
// the default soft limit (often 1024) would make a `find` over a large tree fail with EMFILE.
// Like virtiofsd we raise it at start: by default to min(1,000,000, fs.nr_open); --rlimit-nofile N
// asks for N (0: leave it as it is).
import * as fs from 'node:fs';
import { C, sys } from '../native/sys';
import type { Logger } from '../server/logger';

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
