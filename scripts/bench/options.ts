// Command line of `npm run bench` (after `--`): sizes, repetitions, which systems and rows.
import type { Sizes } from './workloads';
import type { GuestSizes } from './guest';
import { META_ROWS } from './systems';

/** The rows --one-cpu runs. */
const ONE_CPU_ROWS: readonly string[] = META_ROWS;

export interface BenchOptions {
  quick: boolean;
  reps: number;
  sizes: Sizes;
  memFiles: number;
  profileFiles: number;
  profile: boolean;
  systems: string[] | null;
  workloads: string[] | null;
  out: string | null;
  report: string | null;
  help: boolean;
  /** The virtio-fs rows in a QEMU guest (vfsd and the C virtiofsd side by side). */
  guest: boolean;
  /** Only the guest rows: no /dev/fuse rows, memory or profile. */
  guestOnly: boolean;
  guestSizes: GuestSizes;
  /** Every server and its client on CPU 0 (metadata rows only): see USAGE. */
  oneCpu: boolean;
}

export const USAGE = `npm run bench -- [options]      (or: node dist/scripts/bench/main.js [options]; root for mounts)

  --quick            smoke run (~1 min): 1 repetition, small sizes, no profile
  --reps N           repetitions per cell; the table shows medians (default 5)
  --files N          files per metadata row (default 10000)
  --size MiB         data file, read or written once by the sequential rows (default 512)
  --rand-seconds S   time cap of the 4 KiB random rows, which read each block at most once (default 3)
  --window-ms MS     each timed window of the slow-source and head-of-line rows (default 2000)
  --mem-files N      files looked up for the RSS measurement (default 100000)
  --no-profile       skip the vfsd --cpu-prof run of the stat row
  --systems a,b      only these system ids (native is always kept as the baseline)
  --workloads a,b    only these rows: create stat openclose readdir unlink seqread seqwrite randread randread4j
                     slow-source (1 and 8 stat clients on a source whose every op takes 2 ms)
                     head-of-line (a stat loop on ext4 alone, beside 1 MiB and 4 KiB write+fsync)
                     guest-create guest-stat guest-openclose guest-readdir guest-unlink guest-seqwrite
                     guest-seqread guest-randread (a list without guest-* rows runs no guest)
  --no-guest         skip the virtio-fs rows (a QEMU/TCG guest with vfsd and the C virtiofsd:
                     ~4 min, ~20 s with --quick)
  --guest-only       only the virtio-fs rows (no /dev/fuse rows, memory or profile)
  --guest-reps N     repetitions inside the guest (default 7)
  --guest-files N    files per guest metadata row (default 2000)
  --guest-size MiB   guest data file, written and read once per repetition (default 128)
  --one-cpu          the metadata rows only, each server and its client both on CPU 0 (taskset):
                     what a request costs without the wakeup across CPUs, which dominates
                     those rows on this VM (scripts/bench/README.md); no memory, profile, guest
  --out FILE         JSON output (default bench-results/latest.json)
  --report FILE      print the tables of an earlier run's JSON (no run, no root needed)
`;

function int(flag: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${flag} needs an integer >= ${min}`);
  return n;
}

export function parseBenchArgs(argv: string[]): BenchOptions {
  const quick = argv.includes('--quick');
  const o: BenchOptions = quick
    ? { quick, reps: 1, sizes: { files: 2000, readdirPasses: 3, dataMiB: 64, randSeconds: 1, windowMs: 1000 }, memFiles: 20000, profileFiles: 20000, profile: false, systems: null, workloads: null, out: null, report: null, help: false, oneCpu: false,
      guest: true, guestOnly: false, guestSizes: { reps: 1, files: 300, readdirPasses: 10, dataMiB: 16, randSeconds: 1 } }
    : { quick, reps: 5, sizes: { files: 10000, readdirPasses: 10, dataMiB: 512, randSeconds: 3, windowMs: 2000 }, memFiles: 100000, profileFiles: 50000, profile: true, systems: null, workloads: null, out: null, report: null, help: false, oneCpu: false,
      guest: true, guestOnly: false, guestSizes: { reps: 7, files: 2000, readdirPasses: 25, dataMiB: 128, randSeconds: 3 } };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    switch (a) {
      case '--quick': break;
      case '--reps': o.reps = int(a, next(), 1); break;
      case '--files': o.sizes.files = int(a, next(), 1); break;
      case '--size': o.sizes.dataMiB = int(a, next(), 4); break;
      case '--rand-seconds': o.sizes.randSeconds = int(a, next(), 1); break;
      case '--window-ms': o.sizes.windowMs = int(a, next(), 100); break;
      case '--mem-files': o.memFiles = int(a, next(), 1); break;
      case '--profile': o.profile = true; break;
      case '--no-profile': o.profile = false; break;
      case '--systems': o.systems = (next() ?? '').split(',').filter(Boolean); break;
      case '--workloads': o.workloads = (next() ?? '').split(',').filter(Boolean); break;
      case '--no-guest': o.guest = false; break;
      case '--guest-only': o.guest = true; o.guestOnly = true; break;
      case '--guest-reps': o.guestSizes.reps = int(a, next(), 1); break;
      case '--guest-files': o.guestSizes.files = int(a, next(), 1); break;
      case '--guest-size': o.guestSizes.dataMiB = int(a, next(), 1); break;
      case '--out': o.out = next() ?? null; break;
      case '--report': o.report = next() ?? null; break;
      case '--one-cpu': o.oneCpu = true; break;
      case '-h': case '--help': o.help = true; break;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  if (o.oneCpu) {
    const other = (o.workloads ?? []).filter((w) => !ONE_CPU_ROWS.includes(w));
    if (other.length) throw new Error(`--one-cpu runs only the metadata rows (${ONE_CPU_ROWS.join(',')}), not ${other.join(',')}`);
    if (o.guestOnly) throw new Error('--one-cpu runs no guest rows');
    o.workloads ??= [...ONE_CPU_ROWS];
    o.guest = false;
    o.profile = false;
  }
  return o;
}
