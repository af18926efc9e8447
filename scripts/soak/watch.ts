// Watches the server process over time (RSS and open fds from /proc) and judges whether either grew
// in a sustained way: after a warm-up, the samples are cut into thirds, and growth means each third's
// median above the one before by more than a slack. A plateau, or noise, is not growth.
import * as fs from 'node:fs';

export interface Sample {
  t: number;
  rssKiB: number;
  fds: number;
}

export function sample(pid: number): Sample | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    // A zombie has no VmRSS: it is as good as gone.
    return m ? { t: Date.now(), rssKiB: Number(m[1]), fds: fs.readdirSync(`/proc/${pid}/fd`).length } : null;
  } catch {
    return null; // the process is gone
  }
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

/** A description of sustained growth of `pick(sample)`, or null. Needs at least 9 values after
 *  the warm-up to judge. */
export function sustainedGrowth<T>(what: string, values: T[], pick: (v: T) => number, slack: (median: number) => number, warmupFraction = 0.2): string | null {
  const rest = values.slice(Math.floor(values.length * warmupFraction)).map(pick);
  if (rest.length < 9) return null;
  const third = Math.floor(rest.length / 3);
  const m = [rest.slice(0, third), rest.slice(third, 2 * third), rest.slice(2 * third)].map(median);
  return m[1] > m[0] + slack(m[0]) && m[2] > m[1] + slack(m[1]) ? `${what} grew steadily: medians ${m.join(' -> ')}` : null;
}

/** RSS: growth beyond noise is 10 % or 16 MiB, whichever is more. */
export function rssGrowth(samples: Sample[]): string | null {
  return sustainedGrowth('RSS (KiB)', samples, (s) => s.rssKiB, (m) => Math.max(16 * 1024, m * 0.1));
}

/** Open fds beyond the tree: vfsd may hold one fd per object the kernel remembers, and the random
 *  tree grows over a run, so only fds in excess of the tree's entries can show a leak. */
export function fdExcessGrowth(points: { fds: number; entries: number }[]): string | null {
  return sustainedGrowth('open fds beyond the tree size', points, (p) => p.fds - p.entries, () => 32, 0);
}

export function summary(samples: Sample[]): string {
  if (!samples.length) return 'no samples';
  const rss = samples.map((s) => s.rssKiB);
  const fds = samples.map((s) => s.fds);
  return `RSS ${Math.round(rss[0] / 1024)} -> ${Math.round(rss[rss.length - 1] / 1024)} MiB (max ${Math.round(Math.max(...rss) / 1024)}), ` +
    `fds ${fds[0]} -> ${fds[fds.length - 1]} (max ${Math.max(...fds)}), ${samples.length} samples`;
}
