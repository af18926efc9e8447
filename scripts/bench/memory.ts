// The process-level numbers the targets name: startup to a ready mount, idle RSS, and the RSS
// that a large number of looked-up inodes adds (stat of every file in a directory of `files`
// entries: one LOOKUP each, and the kernel keeps the dentries, so the server keeps every inode).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { System } from './systems';
import type { MemoryResult } from './report';
import { meta, rmrf } from './drivers';
import { sleep } from './proc';

const MEM_DIR = 'mem';
const SETTLE_MS = 1000;

export function rssMiB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

export interface MemoryPlan { system: System; files: number }

/** Creates max(files) files once; each system then looks up the first `files` of them. */
export async function measureMemory(plan: MemoryPlan[], src: string, mnt: string, metaExe: string): Promise<MemoryResult[]> {
  const dir = path.join(src, MEM_DIR);
  rmrf(dir);
  fs.mkdirSync(dir);
  const out: MemoryResult[] = [];
  try {
    await meta(metaExe, 'create', dir, Math.max(...plan.map((p) => p.files)));
    for (const { system: sys, files } of plan) {
      const res: MemoryResult = { system: sys.id, files, startupMs: null, idleRssMiB: null, afterRssMiB: null, statOpsPerSec: null };
      try {
        const m = await sys.start(src, mnt);
        try {
          res.startupMs = m.startupMs;
          await sleep(SETTLE_MS);
          res.idleRssMiB = m.pid === null ? null : rssMiB(m.pid);
          const r = await meta(metaExe, 'stat', path.join(m.root, MEM_DIR), files);
          res.statOpsPerSec = r.n / (r.ns / 1e9);
          await sleep(SETTLE_MS);
          res.afterRssMiB = m.pid === null ? null : rssMiB(m.pid);
        } finally {
          await m.stop();
        }
      } catch (e) {
        res.error = (e as Error).message.slice(0, 300);
      }
      out.push(res);
    }
  } finally {
    rmrf(dir);
  }
  return out;
}
