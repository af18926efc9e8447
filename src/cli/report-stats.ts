// Operators' view of a running share: per-opcode counts and latency percentiles, logged on SIGUSR1
// and at exit, and written (atomically) to --stats-file when given, so a monitoring agent can read
// them at any time after a SIGUSR1 — or periodically, see the README.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RequestStats } from '../server/stats';
import type { Logger } from '../log/logger';
import type { PassthroughFs } from '../passthrough/passthrough-fs';

export function reportStats(stats: RequestStats, file: string | null, log: Logger, pfs: PassthroughFs): void {
  const snapshot = {
    uptime_s: Math.round((Date.now() - stats.startedAt) / 1000),
    inodes: pfs.inodes.size,
    open_handles: pfs.handles.size,
    requests: stats.summary(),
  };
  log.info('stats', snapshot);
  if (!file) return;
  pfs.creds.privileged(() => {
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
    try {
      fs.writeFileSync(tmp, JSON.stringify(snapshot, null, 1) + '\n');
      fs.renameSync(tmp, file);
    } catch (e) {
      log.warn(`stats file ${file}: ${(e as Error).message}`);
    }
  });
}
