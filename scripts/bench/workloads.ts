// The rows of the bench table. Each workload prepares its files on the source directory itself
// (untimed, before the server starts, so no kernel cache holds them), runs through the system's
// root, and returns a rate: higher is better in every row, so ratio > 1 means faster than native.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { meta, fio, rmrf, touchFreshMemory } from './drivers';
import { slowSourceWorkload } from './slow-source';
import { headOfLineWorkload } from './head-of-line';

export interface Sizes {
  /** Files per metadata row (create, stat, unlink, readdir's directory) and open/close count. */
  files: number;
  /** How many times the readdir row lists its directory. */
  readdirPasses: number;
  /** Size of the data file for sequential rows, MiB. */
  dataMiB: number;
  /** Time cap of a 4 KiB random-read row: it reads each block of the file once, or stops here. */
  randSeconds: number;
  /** Length of each timed window of the slow-source and head-of-line rows, ms. */
  windowMs: number;
}

export interface Ctx {
  metaExe: string;
  /** io.c, for the head-of-line rows' writer. */
  ioExe: string;
  sizes: Sizes;
  /** The run's temp dir (mount points, on disk) and where binaries are built. */
  tmp: string;
  bin: string;
}

/** A row a workload fills; `baseRow`: its ratios are to the same system in that row. */
export interface RowSpec { id: string; label: string; baseRow?: string }

export interface Workload {
  id: string;
  label: string;
  unit: 'ops/s' | 'entries/s' | 'MiB/s' | 'IOPS';
  kind: 'metadata' | 'data';
  /** The stat row is the one that runs on the --cache never systems. */
  cacheNever: boolean;
  /** Only these systems (by id), if set; systems marked namedOnly run only where named. */
  systems?: string[];
  /** Several rows measured in one cell, back to back on one mount; default: one row, `id`. */
  rows?: RowSpec[];
  /** The directory to export, if not the run's tmpfs (made once, on first use). */
  source?(c: Ctx): Promise<string>;
  /** Untimed, on the source, before the server starts. */
  setup(src: string, c: Ctx): Promise<void>;
  /** Untimed, through the system's root, right before `run`: the same work on other files, so
   *  that what is timed is a server in its steady state (vfsd's JIT warm, as after minutes of
   *  serving), not its first second. */
  warmup?(root: string, c: Ctx): Promise<void>;
  /** Timed, through the system's root; returns the rate, or one per row of `rows`. */
  run(root: string, c: Ctx): Promise<number | Record<string, number>>;
  /** Untimed, on the source, after the server stopped. */
  teardown(src: string, c: Ctx): Promise<void>;
}

const META_DIR = 'meta';
/** The warm-up's directory and size (per metadata cell, untimed). */
const WARM_DIR = 'warm';
const WARM_FILES = 2000;
/** The data file lives for the whole run (see prepareData); written files are removed per cell. */
export const DATA_DIR = 'data';
const BIG = 'big';
const WRITTEN = 'written';

async function metaDir(src: string, files: number, c: Ctx, dir = META_DIR): Promise<void> {
  const d = path.join(src, dir);
  rmrf(d);
  fs.mkdirSync(d);
  if (files > 0) await meta(c.metaExe, 'create', d, files);
}

const dropMeta = async (src: string) => {
  rmrf(path.join(src, META_DIR));
  rmrf(path.join(src, WARM_DIR));
};

function metaRow(id: string, label: string, op: string, prefill: (c: Ctx) => number, count: (c: Ctx) => number,
  unit: 'ops/s' | 'entries/s' = 'ops/s', cacheNever = false): Workload {
  return {
    id, label, unit, kind: 'metadata', cacheNever,
    setup: async (src, c) => {
      await metaDir(src, prefill(c), c);
      await metaDir(src, Math.min(prefill(c), WARM_FILES), c, WARM_DIR);
    },
    warmup: async (root, c) => { await meta(c.metaExe, op, path.join(root, WARM_DIR), Math.min(count(c), WARM_FILES)); },
    run: async (root, c) => {
      const r = await meta(c.metaExe, op, path.join(root, META_DIR), count(c));
      return (unit === 'entries/s' ? r.entries : r.n) / (r.ns / 1e9);
    },
    teardown: dropMeta,
  };
}

const MiB = 1024 * 1024;

function fioRow(id: string, label: string, unit: 'MiB/s' | 'IOPS', args: (c: Ctx, dir: string) => string[], cleanWritten = false): Workload {
  return {
    id, label, unit, kind: 'data', cacheNever: false,
    setup: async () => {},
    // Room for the file twice (the FUSE page cache and the source's tmpfs pages), and more.
    warmup: async (_root, c) => { await touchFreshMemory(2 * c.sizes.dataMiB + 512); },
    run: async (root, c) => {
      const r = await fio(args(c, path.join(root, DATA_DIR)));
      return unit === 'IOPS' ? r.iops : r.bwMiBs;
    },
    teardown: async (src) => { if (cleanWritten) rmrf(path.join(src, DATA_DIR, WRITTEN)); },
  };
}

/** Lay out the read file once per run, on the source (random-ish fio buffer contents). */
export async function prepareData(src: string, c: Ctx): Promise<void> {
  const d = path.join(src, DATA_DIR);
  fs.mkdirSync(d, { recursive: true });
  await fio([`--filename=${path.join(d, BIG)}`, '--rw=write', '--bs=1M', `--size=${c.sizes.dataMiB}M`]);
}

export function allWorkloads(): Workload[] {
  return [
    metaRow('create', 'create N empty files', 'create', () => 0, (c) => c.sizes.files),
    metaRow('stat', 'stat N files (cold)', 'stat', (c) => c.sizes.files, (c) => c.sizes.files, 'ops/s', true),
    metaRow('openclose', 'open+close N times', 'openclose', () => 1, (c) => c.sizes.files),
    metaRow('readdir', 'readdir of N entries', 'readdir', (c) => c.sizes.files, (c) => c.sizes.readdirPasses, 'entries/s'),
    metaRow('unlink', 'unlink N files', 'unlink', (c) => c.sizes.files, (c) => c.sizes.files),
    fioRow('seqread', 'seq read 1 MiB', 'MiB/s', (c, d) =>
      [`--filename=${path.join(d, BIG)}`, '--rw=read', '--bs=1M', `--size=${c.sizes.dataMiB}M`]),
    fioRow('seqwrite', 'seq write 1 MiB', 'MiB/s', (c, d) =>
      [`--filename=${path.join(d, WRITTEN)}`, '--rw=write', '--bs=1M', `--size=${c.sizes.dataMiB}M`, '--end_fsync=1'], true),
    fioRow('randread', 'rand read 4 KiB', 'IOPS', (c, d) =>
      [`--filename=${path.join(d, BIG)}`, '--rw=randread', '--bs=4k', `--size=${c.sizes.dataMiB}M`,
        `--runtime=${c.sizes.randSeconds}s`]),
    // Scaling: the same file split over 4 jobs, each in its own quarter (no two jobs read the
    // same page, so the FUSE page cache cannot serve one job from another's reads).
    fioRow('randread4j', 'rand read 4 KiB, 4 jobs', 'IOPS', (c, d) => {
      const quarter = Math.floor((c.sizes.dataMiB * MiB) / 4);
      return [`--filename=${path.join(d, BIG)}`, '--rw=randread', '--bs=4k', '--numjobs=4',
        `--size=${quarter}`, `--offset_increment=${quarter}`, `--runtime=${c.sizes.randSeconds}s`];
    }),
    slowSourceWorkload(),
    headOfLineWorkload(),
  ];
}
