// Where vfsd spends its CPU during the stat row: run it under `node --cpu-prof` with
// --cache never, stat every file of a fresh directory, stop it (the profile is written at exit),
// and rank functions by self time. Samples while idle are left out of the percentages.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { vfsd } from './systems';
import { meta, rmrf } from './drivers';
import type { ProfileEntry } from './report';

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileResult {
  workload: string;
  files: number;
  statOpsPerSec: number;
  busyMs: number;
  idleMs: number;
  top: ProfileEntry[];
}

export async function profileStat(src: string, mnt: string, tmp: string, metaExe: string, files: number): Promise<ProfileResult> {
  const dir = path.join(tmp, 'prof');
  rmrf(dir);
  fs.mkdirSync(dir);
  const sys = vfsd({ id: 'vfsd-never-prof', label: 'vfsd never (profiled)', args: ['--cache', 'never'], nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
  const d = path.join(src, 'prof');
  rmrf(d);
  fs.mkdirSync(d);
  let rate = 0;
  try {
    await meta(metaExe, 'create', d, files);
    const m = await sys.start(src, mnt);
    try {
      const r = await meta(metaExe, 'stat', path.join(m.root, 'prof'), files);
      rate = r.n / (r.ns / 1e9);
    } finally {
      await m.stop();
    }
  } finally {
    rmrf(d);
  }
  const name = fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!name) throw new Error('vfsd wrote no .cpuprofile (did it exit cleanly?)');
  const prof = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as CpuProfile;
  return { workload: 'stat, --cache never', files, statOpsPerSec: rate, ...rank(prof) };
}

function rank(p: CpuProfile): { busyMs: number; idleMs: number; top: ProfileEntry[] } {
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, { ms: number; fn: string; where: string }>();
  let busy = 0;
  let idle = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = nodes.get(p.samples[i]);
    const ms = (p.timeDeltas[i] ?? 0) / 1000;
    if (!n) continue;
    const fn = n.callFrame.functionName || '(anonymous)';
    if (fn === '(idle)') { idle += ms; continue; }
    busy += ms;
    const where = n.callFrame.url ? `${shorten(n.callFrame.url)}:${n.callFrame.lineNumber + 1}` : '';
    const key = fn + ' ' + where;
    const e = self.get(key) ?? { ms: 0, fn, where };
    e.ms += ms;
    self.set(key, e);
  }
  const top = [...self.values()].sort((a, b) => b.ms - a.ms).slice(0, 20)
    .map((e) => ({ selfPct: busy ? (100 * e.ms) / busy : 0, selfMs: e.ms, fn: e.fn, where: e.where }));
  return { busyMs: busy, idleMs: idle, top };
}

function shorten(url: string): string {
  const i = url.indexOf('/dist/');
  if (i >= 0) return url.slice(i + 1);
  return url.replace(/^file:\/\//, '');
}
