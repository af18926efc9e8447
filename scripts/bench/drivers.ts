// The two load generators: our C metadata driver (meta.c, compiled at bench time) and fio.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run, runOk } from './proc';
import { repoRoot } from './systems';

const META_TIMEOUT_MS = 300_000;
const FIO_TIMEOUT_MS = 300_000;

/** Compile scripts/bench/meta.c into bin/meta (once per run). */
export async function buildMeta(bin: string): Promise<string> {
  const src = path.join(repoRoot(), 'scripts/bench/meta.c');
  const exe = path.join(bin, 'meta');
  await runOk('cc', ['-O2', '-Wall', '-o', exe, src], { timeoutMs: 60_000 });
  return exe;
}

export interface MetaResult { op: string; n: number; ns: number; entries: number }

export async function meta(exe: string, op: string, dir: string, n: number): Promise<MetaResult> {
  const out = await runOk(exe, [op, dir, String(n)], { timeoutMs: META_TIMEOUT_MS });
  return JSON.parse(out.trim()) as MetaResult;
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
