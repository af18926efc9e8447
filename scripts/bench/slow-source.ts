// The slow-source rows: a source filesystem whose every metadata request takes SLOW_DELAY_US
// (slow-source.c, our own libfuse low-level server, multithreaded so it never serialises), exported
// by each server under test; K clients stat distinct files at once. A server that serves one
// request at a time gives K clients the rate of one; one that keeps K requests in flight, K times it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Ctx, Workload } from './workloads';
import { buildDriver, statClients, window } from './drivers';
import { runOk } from './proc';
import { startDaemon } from './systems';

/** What every LOOKUP, GETATTR, ACCESS, OPENDIR, READDIR and OPEN of the source waits. */
export const SLOW_DELAY_US = 2000;
export const SLOW_CLIENTS = 8;
/** Files per client directory (d0..d7): each client cycles over its own. */
const SLOW_FILES = 100;
export const SLOW_MOUNT = 'slow';

let mounted: Promise<string> | null = null;

/** Build and mount the slow source once per run, under the run's temp dir; it stays mounted
 *  until the bench's cleanup (startDaemon registers the unmount, which runs even on Ctrl-C). */
function slowSource(c: Ctx): Promise<string> {
  mounted ??= (async () => {
    const flags = (await runOk('pkg-config', ['--cflags', '--libs', 'fuse3'])).trim().split(/\s+/);
    const exe = await buildDriver(c.bin, 'slow-source', flags);
    const mnt = path.join(c.tmp, SLOW_MOUNT);
    fs.mkdirSync(mnt, { recursive: true });
    await startDaemon(exe, [mnt, String(SLOW_CLIENTS), String(SLOW_FILES), String(SLOW_DELAY_US)], mnt, () => ({}));
    return mnt;
  })();
  return mounted;
}

const dirs = (root: string, k: number) => Array.from({ length: k }, (_, i) => path.join(root, `d${i}`));

export function slowSourceWorkload(): Workload {
  return {
    id: 'slow-source', label: 'slow source', unit: 'ops/s', kind: 'metadata', cacheNever: true,
    // The cache=never servers: entry and attribute timeouts 0, so every stat is a request.
    systems: ['native', 'vfsd-never', 'libfuse-never'],
    rows: [
      { id: 'slow-source-1', label: `slow src ${SLOW_DELAY_US / 1000} ms/op: stat, 1 client` },
      { id: `slow-source-${SLOW_CLIENTS}`, label: `slow src: stat, ${SLOW_CLIENTS} clients [/1 client]`, baseRow: 'slow-source-1' },
    ],
    source: slowSource,
    setup: async () => {},
    run: async (root, c) => ({
      'slow-source-1': await statClients(c.metaExe, dirs(root, 1), SLOW_FILES, window(c.sizes.windowMs)),
      [`slow-source-${SLOW_CLIENTS}`]: await statClients(c.metaExe, dirs(root, SLOW_CLIENTS), SLOW_FILES, window(c.sizes.windowMs)),
    }),
    teardown: async () => {},
  };
}
