// Shared pieces of the fault tests (test/mount/faults-*.test.ts): a writer child that writes
// deterministic blocks to several files through a mount and records, in a log OUTSIDE the mount,
// how much of each file it had fsynced; the check of that record against the host directory; and
// a seeded random generator so a failing run can be replayed.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const BLOCK = 16384;

/** Small deterministic PRNG (mulberry32): seeded, so a failing run names its seed and replays. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** The content of block `i` of file `f`: the same function runs in the writer child (as source). */
const BLOCK_FN = `function block(f, i, size) {
  const b = Buffer.alloc(size);
  let x = (f * 1000003 + i * 7919 + 1) >>> 0;
  for (let k = 0; k < size; k += 4) { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; b.writeUInt32LE(x, k); }
  return b;
}`;
// eslint-disable-next-line @typescript-eslint/no-implied-eval
export const block = new Function(`${BLOCK_FN}; return block;`)() as (f: number, i: number, size: number) => Buffer;

/** The writer: round-robin over `files` files in `dir`, appending one block at a time; every
 *  `every` blocks of a file it fsyncs that file and then appends "file blocks" to `log` (and
 *  fsyncs the log), so each log line is a promise that the file's first `blocks` blocks are
 *  durable. Runs until an error (the server died) or `total` blocks; prints the error code. */
const WRITER = `
const fs = require('fs'); const path = require('path');
${BLOCK_FN}
const [dir, log, files, every, total, size] = [process.argv[1], process.argv[2], +process.argv[3], +process.argv[4], +process.argv[5], +process.argv[6]];
const lfd = fs.openSync(log, 'a');
const fds = []; const n = [];
try {
  for (let f = 0; f < files; f++) { fds.push(fs.openSync(path.join(dir, 'w' + f), 'w')); n.push(0); }
  for (let k = 0; k < total; k++) {
    const f = k % files;
    fs.writeSync(fds[f], block(f, n[f], size), 0, size, n[f] * size);
    n[f]++;
    if (n[f] % every === 0) {
      fs.fsyncSync(fds[f]);
      fs.writeSync(lfd, f + ' ' + n[f] + '\\n');
      fs.fsyncSync(lfd);
    }
  }
  console.log('done');
} catch (e) { console.log('error ' + e.code); }
`;

export interface Writer {
  child: ChildProcess;
  /** resolves to the writer's one line of output ('done' or 'error CODE') */
  result: Promise<string>;
}

export function startWriter(dir: string, log: string, files = 4, every = 4, total = 100000, size = BLOCK): Writer {
  const child = spawn(process.execPath, ['-e', WRITER, dir, log, String(files), String(every), String(total), String(size)],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d.toString(); });
  child.stderr!.on('data', (d) => { out += d.toString(); });
  const result = new Promise<string>((r) => child.on('exit', () => r(out.trim())));
  return { child, result };
}

/** The fsync record: per file, the highest block count promised durable. */
export function fsynced(log: string): Map<number, number> {
  const m = new Map<number, number>();
  if (!fs.existsSync(log)) return m;
  for (const line of fs.readFileSync(log, 'utf8').split('\n')) {
    const [f, n] = line.split(' ').map(Number);
    if (line && Number.isInteger(f) && Number.isInteger(n)) m.set(f, Math.max(m.get(f) ?? 0, n));
  }
  return m;
}

/** Problems found comparing the host files with the record (empty: all fsynced data is there). */
export function checkFsynced(hostDir: string, record: Map<number, number>, size = BLOCK): string[] {
  const bad: string[] = [];
  for (const [f, n] of record) {
    const file = path.join(hostDir, 'w' + f);
    let data: Buffer;
    try { data = fs.readFileSync(file); } catch (e) { bad.push(`${file}: ${(e as Error).message}`); continue; }
    if (data.length < n * size) { bad.push(`w${f}: ${data.length} bytes, ${n * size} fsynced`); continue; }
    for (let i = 0; i < n; i++) {
      if (!data.subarray(i * size, (i + 1) * size).equals(block(f, i, size))) { bad.push(`w${f}: block ${i} differs`); break; }
    }
  }
  return bad;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves to 'hang' after `ms`, for Promise.race against something that must end; the timer
 *  is unref'd so a race already won does not keep the test process alive. */
export const hangAfter = (ms: number) => new Promise<'hang'>((r) => setTimeout(() => r('hang'), ms).unref());

/** Waits until `cond` holds, polling; false if it did not within `ms` (a hang detector, not a timing assertion). */
export async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(10);
  }
  return true;
}
