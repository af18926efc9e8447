// The head-of-line rows, on a real disk (ext4): a stat loop alone, then the same loop beside a
// second process doing 1 MiB write + fsync over and over, then beside 4 KiB write + fsync. A
// server that runs the fsync on the thread that also answers stats makes the stat loop wait for
// the disk; one that runs it aside keeps the loop's rate (and must not starve the writer in
// turn: each writer is also timed alone). Every system runs with entry and
// attribute timeouts 0 (cache=never), so each stat is a request to the server.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Ctx, Workload } from './workloads';
import { meta, rmrf, statClients, syncWriter, window, Window } from './drivers';
import { onCleanup, forceUnmount, runOk } from './proc';

/** Where the disk directory lives: /var/tmp is on the root disk on Debian (not a tmpfs). */
export const DISK_PARENT = '/var/tmp';
export const DISK_PREFIX = 'vfsd-bench-';
const EXT4_SUPER_MAGIC = 0xef53;
/** Size of the ext4 image made when DISK_PARENT is not ext4 itself. */
const LOOP_IMAGE_MIB = 2048;
const HOL_DIR = 'hol';
const STAT_FILES = 100;
const WRITTEN = 'written';

export interface DiskDir { dir: string; how: string }
let disk: Promise<DiskDir> | null = null;

/** A directory on ext4 under /var/tmp for the run: a plain one if /var/tmp is ext4, else an
 *  ext4 image file there, loop-mounted (the log says which). Removed (and unmounted) by the
 *  bench's cleanup. */
export function diskDir(): Promise<DiskDir> {
  disk ??= makeDiskDir().then((d) => {
    process.stderr.write(`head-of-line: the disk is ${d.how}: ${d.dir}\n`);
    return d;
  });
  return disk;
}

async function makeDiskDir(): Promise<DiskDir> {
  const base = path.join(DISK_PARENT, DISK_PREFIX + process.pid);
  fs.mkdirSync(base, { recursive: true });
  onCleanup(() => rmrf(base));
  const dir = path.join(base, 'disk');
  fs.mkdirSync(dir);
  if (fs.statfsSync(DISK_PARENT).type === EXT4_SUPER_MAGIC) return { dir, how: `${DISK_PARENT} (ext4)` };
  const img = path.join(base, 'ext4.img');
  fs.writeFileSync(img, '');
  fs.truncateSync(img, LOOP_IMAGE_MIB * 1048576);
  await runOk('mkfs.ext4', ['-q', '-F', img], { timeoutMs: 120_000 });
  await runOk('mount', ['-o', 'loop', img, dir]);
  onCleanup(() => forceUnmount(dir));
  return { dir, how: `an ext4 image in ${DISK_PARENT}, loop-mounted (${DISK_PARENT} is not ext4)` };
}

const WRITERS = [{ key: '1m', bs: 1048576, label: '1 MiB' }, { key: '4k', bs: 4096, label: '4 KiB' }];

export function headOfLineWorkload(): Workload {
  return {
    id: 'head-of-line', label: 'head-of-line', unit: 'ops/s', kind: 'metadata', cacheNever: true,
    systems: ['native', 'vfsd-never', 'vfsd-never-nopt', 'vfsd-never-inline', 'libfuse-never'],
    // The stat loop beside each writer, and each writer beside the stat loop: the first is what
    // a slow fsync does to other clients, the second whether serving them starves the writer.
    rows: [
      { id: 'hol-alone', label: 'ext4: stat loop alone' },
      ...WRITERS.map((x) => ({ id: `hol-${x.key}`, label: `ext4: stat beside ${x.label} write+fsync [/alone]`, baseRow: 'hol-alone' })),
      ...WRITERS.flatMap((x) => [
        { id: `hol-${x.key}-writer-alone`, label: `ext4: ${x.label} write+fsync alone` },
        { id: `hol-${x.key}-writer`, label: `ext4: ${x.label} write+fsync beside stat [/alone]`, baseRow: `hol-${x.key}-writer-alone` },
      ]),
    ],
    source: async () => (await diskDir()).dir,
    setup: async (src, c: Ctx) => {
      const d = path.join(src, HOL_DIR);
      rmrf(d);
      fs.mkdirSync(d);
      await meta(c.metaExe, 'create', d, STAT_FILES);
    },
    run: async (root, c) => {
      const d = path.join(root, HOL_DIR);
      const win = () => window(c.sizes.windowMs);
      const stat = (w: Window) => statClients(c.metaExe, [d], STAT_FILES, w);
      const write = (bs: number, w: Window) => syncWriter(c.ioExe, path.join(d, WRITTEN), bs, w);
      // Untimed: a fresh server's first requests run cold JS (and, for everyone, cold dentries).
      await meta(c.metaExe, 'stat', d, STAT_FILES);
      const before = await stat(win());
      const out: Record<string, number> = {};
      for (const x of WRITERS) {
        out[`hol-${x.key}-writer-alone`] = await write(x.bs, win());
        const w = win();
        [out[`hol-${x.key}`], out[`hol-${x.key}-writer`]] = await Promise.all([stat(w), write(x.bs, w)]);
      }
      // Alone before and after the pairs: drift over the cell (load, a warming server) cancels.
      out['hol-alone'] = (before + (await stat(win()))) / 2;
      return out;
    },
    teardown: async (src) => rmrf(path.join(src, HOL_DIR)),
  };
}
