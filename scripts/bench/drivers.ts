// The load generators: our C drivers (meta.c for metadata, io.c for the head-of-line rows'
// writer; compiled at bench time) and fio.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pinned, run, runOk } from './proc';
import { repoRoot } from './systems';

const META_TIMEOUT_MS = 300_000;
const FIO_TIMEOUT_MS = 300_000;

/**
 * Touch `mib` MiB of memory in a child process that then exits, so that the pages a data row's
 * page cache and tmpfs take next are backed by the hypervisor. This VM reports free pages to
 * its host (page_reporting), which takes their backing away: a copy into such a page waits for
 * the host to fault it in. Measured: vfsd --no-passthrough writing 512 MiB with dd ran at
 * 150-280 MB/s, copy_folio_from_iter_atomic (in dd and in the server's pwrite) at half of all
 * samples; right after 3 GiB were touched and freed, 830-900 MB/s. Without this the data rows
 * measure which pages each cell happened to get.
 */
export async function touchFreshMemory(mib: number): Promise<void> {
  const chunks = Math.ceil(mib / 64);
  await runOk(process.execPath, ['-e', `const k=[];for(let i=0;i<${chunks};i++)k.push(Buffer.alloc(64<<20,1));`], { timeoutMs: 120_000 });
}

/** Compile scripts/bench/NAME.c into bin/NAME (once per run); `libs`: extra cc arguments. */
export async function buildDriver(bin: string, name: string, libs: string[] = []): Promise<string> {
  const src = path.join(repoRoot(), 'scripts/bench', `${name}.c`);
  const exe = path.join(bin, name);
  await runOk('cc', ['-O2', '-Wall', '-o', exe, src, ...libs], { timeoutMs: 60_000 });
  return exe;
}

export interface MetaResult { op: string; n: number; ns: number; entries: number; t0: number }

export async function meta(exe: string, op: string, dir: string, n: number): Promise<MetaResult> {
  const out = await runOk(...pinned(exe, [op, dir, String(n)]), { timeoutMs: META_TIMEOUT_MS });
  return JSON.parse(out.trim()) as MetaResult;
}

/** A time window on CLOCK_MONOTONIC (node's hrtime), in ns, that several drivers share. */
export interface Window { start: bigint; end: bigint }

/** Time to spawn every process of a window before it opens (they sleep until `start`). */
const WINDOW_LEAD_MS = 300;

export function window(ms: number): Window {
  const start = process.hrtime.bigint() + BigInt(WINDOW_LEAD_MS) * 1_000_000n;
  return { start, end: start + BigInt(ms) * 1_000_000n };
}

/**
 * One `meta stat` client per dir, all inside window `w`, each cycling over its own `names` files
 * (f0..): the total stat rate from the first client's start to the last one's end (a client
 * that started late shows as a longer span, not as a faster rate).
 */
export async function statClients(exe: string, dirs: string[], names: number, w: Window): Promise<number> {
  const rs = await Promise.all(dirs.map(async (d) => {
    const out = await runOk(exe, ['stat', d, String(names), String(w.start), String(w.end)], { timeoutMs: META_TIMEOUT_MS });
    return JSON.parse(out.trim()) as MetaResult;
  }));
  const first = Math.min(...rs.map((r) => r.t0));
  const last = Math.max(...rs.map((r) => r.t0 + r.ns));
  return rs.reduce((sum, r) => sum + r.n, 0) / ((last - first) / 1e9);
}

/** `io syncwrite`: BS-byte write + fsync of `file`, again and again inside `w`; writes/s. */
export async function syncWriter(exe: string, file: string, bs: number, w: Window): Promise<number> {
  const out = await runOk(exe, ['syncwrite', file, String(bs), String(w.start), String(w.end)], { timeoutMs: META_TIMEOUT_MS });
  const r = JSON.parse(out.trim()) as { ops: number; ns: number };
  return r.ops / (r.ns / 1e9);
}

export interface FioResult { bwMiBs: number; iops: number; seconds: number }

/**
 * One fio run; buffered I/O (direct=0) with psync, the path applications take. Returns the
 * aggregate of all jobs (group_reporting) for the direction that moved data.
 */
export async function fio(args: string[]): Promise<FioResult> {
  const r = await run('fio', [
    '--name=bench', '--ioengine=psync', '--direct=0', '--group_reporting', '--output-format=json', ...args,
  ], { timeoutMs: FIO_TIMEOUT_MS });
  if (r.code !== 0) {
    // With JSON output fio reports a job's failure as `fio: ... error=...` lines on stdout.
    const why = [...r.stdout.split('\n').filter((l) => l.startsWith('fio:')), r.stderr.trim()].filter(Boolean);
    throw new Error(`fio ${r.timedOut ? 'timed out' : `exit ${r.code ?? r.signal}`}: ${[...new Set(why)].join(' | ').slice(0, 300) || '(no message)'}`);
  }
  const out = r.stdout;
  // fio may print notices before the JSON document.
  const doc = JSON.parse(out.slice(out.indexOf('{'))) as { jobs: Array<Record<string, { bw_bytes: number; iops: number; runtime: number; io_bytes: number }>> };
  const job = doc.jobs[0];
  const side = job.read.io_bytes > 0 ? job.read : job.write;
  return { bwMiBs: side.bw_bytes / 1048576, iops: side.iops, seconds: side.runtime / 1000 };
}

export async function fioVersion(): Promise<string> {
  try {
    return (await runOk('fio', ['--version'])).trim();
  } catch {
    return 'missing';
  }
}

export function rmrf(p: string): void {
  fs.rmSync(p, { recursive: true, force: true });
}
