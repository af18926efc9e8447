// `npm run bench`: vfsd against the native directory and its peers, same workloads, one run.
// The source is a fresh tmpfs; every cell (repetition × workload × system) gets its own fresh
// mount; systems alternate within each repetition (rotated order) because the machine is shared
// and noisy, and the table reports medians and ratios to native. See scripts/bench/README.md.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseBenchArgs, USAGE, BenchOptions } from './options';
import { allSystems, repoRoot, System, NOFILE, vfsd } from './systems';
import { allWorkloads, prepareData, Workload, Ctx } from './workloads';
import { buildMeta, fioVersion, rmrf } from './drivers';
import { installSignalCleanup, cleanupAll, onCleanup, isInterrupted, forceUnmount, run, runOk } from './proc';
import { Row, SystemInfo, MemoryResult, median, ratio, targets, render, BenchJson } from './report';
import { measureMemory, MemoryPlan } from './memory';
import { profileStat, ProfileResult } from './profile';

const TMP_PREFIX = 'vfsd-bench-';
/** After this many failed starts without one success, a system's remaining cells are skipped. */
const MAX_START_FAILURES = 2;

function log(msg: string): void {
  process.stderr.write(msg + '\n');
}

/** Mounts and dirs of an earlier bench that was SIGKILLed (its pid is gone) are removed. */
async function removeStale(): Promise<void> {
  for (const name of fs.readdirSync(os.tmpdir())) {
    const m = new RegExp(`^${TMP_PREFIX}(\\d+)$`).exec(name);
    if (!m) continue;
    if (benchAlive(Number(m[1]))) continue; // another bench is running: not ours to touch
    const dir = path.join(os.tmpdir(), name);
    await forceUnmount(path.join(dir, 'mnt'));
    await forceUnmount(path.join(dir, 'src'));
    rmrf(dir);
  }
}

/** A live (not zombie) node process with bench/main.js on its command line. */
function benchAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/^\d+ \(.*\) Z/.test(stat)) return false;
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('bench/main');
  } catch {
    return false;
  }
}

interface Layout { tmp: string; src: string; mnt: string; bin: string }

/** Temp dir on disk for binaries and the mount point; the source on its own tmpfs. */
async function makeLayout(o: BenchOptions): Promise<Layout> {
  const tmp = path.join(os.tmpdir(), TMP_PREFIX + process.pid);
  fs.mkdirSync(tmp, { recursive: true });
  onCleanup(() => rmrf(tmp));
  const l = { tmp, src: path.join(tmp, 'src'), mnt: path.join(tmp, 'mnt'), bin: path.join(tmp, 'bin') };
  for (const d of [l.src, l.mnt, l.bin]) fs.mkdirSync(d);
  const sizeMiB = o.sizes.dataMiB * 2 + 1024;
  await runOk('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, 'vfsd-bench', l.src]);
  onCleanup(() => forceUnmount(l.src));
  return l;
}

async function machine(): Promise<Record<string, unknown>> {
  const root = repoRoot();
  const git = async (args: string[]) => (await run('git', ['-C', root, ...args])).stdout.trim();
  const fuse3 = await run('pkg-config', ['--modversion', 'fuse3']);
  return {
    hostname: os.hostname(), kernel: os.release(), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model,
    memMiB: Math.round(os.totalmem() / 1048576), node: process.version, fio: await fioVersion(),
    libfuse3: fuse3.code === 0 ? fuse3.stdout.trim() : 'missing', uid: process.geteuid?.(),
    vfsdCommit: await git(['rev-parse', 'HEAD']), vfsdDirty: (await git(['status', '--porcelain', '--', 'src', 'native'])) !== '',
    loadavgStart: os.loadavg(),
  };
}

/** The system order of one repetition: rotated so no system always runs first or last. */
function rotate<T>(xs: T[], by: number): T[] {
  const k = xs.length ? by % xs.length : 0;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

async function main(): Promise<number> {
  let o: BenchOptions;
  try {
    o = parseBenchArgs(process.argv.slice(2));
  } catch (e) {
    log(`bench: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (o.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (o.report) {
    process.stdout.write(render(JSON.parse(fs.readFileSync(o.report, 'utf8')) as BenchJson));
    return 0;
  }
  if (process.geteuid?.() !== 0) {
    log('bench: needs root (tmpfs source, FUSE mounts, passthrough)');
    return 1;
  }
  installSignalCleanup();
  const started = Date.now();
  await removeStale();
  const L = await makeLayout(o);
  const mach = await machine();
  const ctx: Ctx = { metaExe: await buildMeta(L.bin), sizes: o.sizes };

  // Systems: prepare each once (build peers); a skip is a reported row, not an abort.
  const systems = allSystems().filter((s) => s.id === 'native' || !o.systems || o.systems.includes(s.id));
  const info = new Map<string, SystemInfo & { startFailures: number; successes: number }>();
  for (const s of systems) {
    const reason = await s.prepare(L.bin);
    info.set(s.id, { id: s.id, label: s.label, status: reason ? 'skipped' : 'ok', reason: reason ?? undefined, startupMs: [], notes: {}, startFailures: 0, successes: 0 });
    if (reason) log(`${s.label}: ${reason}`);
  }
  const usable = systems.filter((s) => info.get(s.id)!.status === 'ok');
  const workloads = allWorkloads().filter((w) => !o.workloads || o.workloads.includes(w.id));
  const rows = new Map<string, Row>(workloads.map((w) => [w.id, { id: w.id, label: w.label, unit: w.unit, cells: {} }]));

  if (workloads.some((w) => w.kind === 'data')) await prepareData(L.src, ctx);

  const cell = async (sys: System, w: Workload, rep: number) => {
    const si = info.get(sys.id)!;
    const c = (rows.get(w.id)!.cells[sys.id] ??= { samples: [], errors: [] });
    if (si.status === 'failed') return;
    try {
      await w.setup(L.src, ctx);
      let m;
      try {
        m = await sys.start(L.src, L.mnt);
      } catch (e) {
        si.startFailures++;
        if (si.successes === 0 && si.startFailures >= MAX_START_FAILURES) {
          si.status = 'failed';
          si.reason = `failed to start: ${(e as Error).message.slice(0, 300)}`;
        }
        throw e;
      }
      si.successes++;
      if (m.startupMs !== null) si.startupMs.push(m.startupMs);
      try {
        const v = await w.run(m.root, ctx);
        const died = m.died();
        if (died) throw new Error(`server ${died}`);
        c.samples.push(v);
        Object.assign(si.notes, m.notes());
        log(`[${rep + 1}/${o.reps}] ${w.id.padEnd(10)} ${sys.id.padEnd(14)} ${v.toFixed(1)} ${w.unit}`);
      } finally {
        await m.stop();
      }
    } catch (e) {
      const msg = (e as Error).message.slice(0, 400);
      c.errors.push(msg);
      log(`[${rep + 1}/${o.reps}] ${w.id.padEnd(10)} ${sys.id.padEnd(14)} FAILED: ${msg}`);
    } finally {
      await w.teardown(L.src, ctx);
    }
  };

  for (let rep = 0; rep < o.reps && !isInterrupted(); rep++) {
    for (const w of workloads) {
      const here = usable.filter((s) => w.cacheNever || !s.cacheNever);
      for (const s of rotate(here, rep + workloads.indexOf(w))) {
        if (isInterrupted()) break;
        await cell(s, w, rep);
      }
    }
  }

  // Memory: 100k inodes need 100k fds in fd-per-inode mode, beyond the hard limit a container
  // may have; vfsd's file-handle mode (vfsd-fh) needs none. Fd-per-inode servers look up as many
  // as the limit allows, and the table shows KiB per inode so the counts stay comparable.
  let memory: MemoryResult[] = [];
  const fdBound = Math.max(1000, NOFILE - 2000);
  const memPlan: MemoryPlan[] = [];
  if (usable.some((s) => s.id === 'vfsd')) {
    memPlan.push({ system: vfsd({ id: 'vfsd-fh', label: 'vfsd fh', args: ['--inode-file-handles', 'prefer'] }), files: o.memFiles });
    memPlan.push({ system: usable.find((s) => s.id === 'vfsd')!, files: Math.min(o.memFiles, fdBound) });
  }
  const lf = usable.find((s) => s.id === 'libfuse');
  if (lf) memPlan.push({ system: lf, files: Math.min(o.memFiles, fdBound) });
  if (!isInterrupted() && memPlan.length) {
    log(`memory: ${memPlan.map((p) => `${p.system.id} stat of ${p.files} files`).join(', ')}`);
    memory = await measureMemory(memPlan, L.src, L.mnt, ctx.metaExe);
  }

  let profile: ProfileResult | { error: string } | null = null;
  if (o.profile && !isInterrupted() && usable.some((s) => s.id === 'vfsd-never')) {
    log(`profile: vfsd --cache never under --cpu-prof, stat of ${Math.min(o.profileFiles, fdBound)} files`);
    try {
      profile = await profileStat(L.src, L.mnt, L.tmp, ctx.metaExe, Math.min(o.profileFiles, fdBound));
    } catch (e) {
      profile = { error: (e as Error).message };
    }
  }

  await cleanupAll();
  if (isInterrupted()) return 130;

  const sysInfo: SystemInfo[] = [...info.values()].map(({ startFailures, successes, ...s }) => s);
  const rowList = [...rows.values()];
  const tg = targets(rowList, memory, sysInfo);
  const duration = (Date.now() - started) / 1000;

  const json: BenchJson = {
    version: 1,
    timestamp: new Date().toISOString(),
    durationSec: duration,
    quick: o.quick,
    options: { reps: o.reps, ...o.sizes, memFiles: o.memFiles },
    machine: { ...mach, loadavgEnd: os.loadavg() },
    method: METHOD,
    systems: sysInfo,
    rows: rowList.map((r) => ({
      ...r,
      cells: Object.fromEntries(Object.entries(r.cells).map(([id, c]) => [id, {
        median: median(c.samples), ratioToNative: id === 'native' ? 1 : ratio(r, id), samples: c.samples, errors: c.errors,
      }])),
    })),
    memory,
    targets: tg,
    profile,
  };
  process.stdout.write(render(json));
  const file = o.out ?? path.join(repoRoot(), 'bench-results', 'latest.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(json, null, 2) + '\n');
  log(`wrote ${file}`);
  return sysInfo.some((s) => s.status === 'failed') ? 1 : 0;
}

const METHOD = [
  'source: a fresh tmpfs mounted for the run; native = that directory itself',
  'every cell (repetition x workload x system) runs on a fresh mount: no FUSE page or dentry cache carries over, and the tmpfs source cannot be dropped (it is memory), so no drop_caches is needed',
  'per repetition and row the system order is rotated; tables show medians over repetitions',
  'metadata rows: scripts/bench/meta.c (compiled at run time), names relative to a dir fd; files are created on the source before the mount (untimed)',
  'stat row: fstatat of N files never looked up before; vfsd-never/libfuse-never run it with cache=never (entry/attr timeout 0)',
  'openclose: openat(O_RDONLY)+close of one file N times',
  'readdir: open+getdents64 (64 KiB buffer) to the end+close of an N-entry dir, repeated; rate = entries/s',
  'data rows: fio psync, buffered (direct=0); seq rows one pass over the file, seq write ends with fsync; rand rows read each 4 KiB block at most once in random order, capped at randSeconds; 4 jobs each read their own quarter of the file',
  `servers run under prlimit --nofile=${NOFILE} (soft = hard limit; neither vfsd nor passthrough_ll raises its own, both keep one fd per inode by default)`,
  'memory: RSS (/proc/PID/status VmRSS) 1 s after the mount is ready, and 1 s after fstatat of F never-seen files (one LOOKUP each; the kernel keeps the dentries, so the server keeps every inode); vfsd-fh = vfsd --inode-file-handles prefer, the only mode that can hold 100k inodes under a 20k fd limit',
  'libfuse = Debian\'s example/passthrough_ll.c compiled at run time, multithreaded (default), -o cache=auto|never',
];

main().then((code) => process.exit(code), async (e) => {
  log(`bench: ${(e as Error).stack ?? e}`);
  await cleanupAll();
  process.exit(1);
});
