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
import { buildDriver, fioVersion, rmrf } from './drivers';
import { installSignalCleanup, pinToCpu, cleanupAll, onCleanup, isInterrupted, forceUnmount, run, runOk } from './proc';
import { Row, SystemInfo, MemoryResult, median, ratio, rowRatio, targets, render, BenchJson } from './report';
import { measureMemory, MemoryPlan } from './memory';
import { profileStat, ProfileResult } from './profile';
import { runGuestBench, GUEST_ROW_IDS, GuestInfo } from './guest';
import { SLOW_MOUNT } from './slow-source';
import { DISK_PARENT, DISK_PREFIX } from './head-of-line';

const TMP_PREFIX = 'vfsd-bench-';
/** After this many failed starts without one success, a system's remaining cells are skipped. */
const MAX_START_FAILURES = 2;

function log(msg: string): void {
  process.stderr.write(msg + '\n');
}

/** Mounts and dirs of an earlier bench that was SIGKILLed (its pid is gone) are removed: the
 *  temp dir (server mount, tmpfs source, slow source) and the head-of-line disk dir. */
async function removeStale(): Promise<void> {
  const places: Array<[string, string, string[]]> = [
    [os.tmpdir(), TMP_PREFIX, ['mnt', SLOW_MOUNT, 'src']],
    [DISK_PARENT, DISK_PREFIX, ['disk']],
  ];
  for (const [parent, prefix, mounts] of places) {
    for (const name of fs.existsSync(parent) ? fs.readdirSync(parent) : []) {
      const m = new RegExp(`^${prefix}(\\d+)$`).exec(name);
      if (!m) continue;
      if (benchAlive(Number(m[1]))) continue; // another bench is running: not ours to touch
      const dir = path.join(parent, name);
      for (const mp of mounts) await forceUnmount(path.join(dir, mp));
      rmrf(dir);
    }
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
  if (o.oneCpu) pinToCpu(0);
  const started = Date.now();
  await removeStale();
  const L = await makeLayout(o);
  const mach = await machine();
  const ctx: Ctx = { metaExe: await buildDriver(L.bin, 'meta'), ioExe: await buildDriver(L.bin, 'io'), sizes: o.sizes, tmp: L.tmp, bin: L.bin };

  // Systems: prepare each once (build peers); a skip is a reported row, not an abort.
  const systems = o.guestOnly ? [] : allSystems().filter((s) => s.id === 'native' || !o.systems || o.systems.includes(s.id));
  const info = new Map<string, SystemInfo & { startFailures: number; successes: number }>();
  for (const s of systems) {
    const reason = await s.prepare(L.bin);
    info.set(s.id, { id: s.id, label: s.label, status: reason ? 'skipped' : 'ok', reason: reason ?? undefined, startupMs: [], notes: {}, startFailures: 0, successes: 0 });
    if (reason) log(`${s.label}: ${reason}`);
  }
  const usable = systems.filter((s) => info.get(s.id)!.status === 'ok');
  const workloads = o.guestOnly ? [] : allWorkloads().filter((w) => !o.workloads || o.workloads.includes(w.id));
  const rowSpecs = (w: Workload) => w.rows ?? [{ id: w.id, label: w.label }];
  const rows = new Map<string, Row>(workloads.flatMap((w) => rowSpecs(w).map((r): [string, Row] =>
    [r.id, { id: r.id, label: r.label, unit: w.unit, ...(r.baseRow ? { baseRow: r.baseRow } : {}), cells: {} }])));
  // Which systems a workload runs on: the ones it names, else the default set (a cache-never
  // system only on cache-never rows; a namedOnly control never).
  const runsOn = (w: Workload, s: System) => (!s.onlyRows || s.onlyRows.includes(w.id)) &&
    (w.systems ? w.systems.includes(s.id) : !s.namedOnly && (w.cacheNever || !s.cacheNever));

  if (workloads.some((w) => w.kind === 'data')) await prepareData(L.src, ctx);

  const cell = async (sys: System, w: Workload, rep: number) => {
    const si = info.get(sys.id)!;
    const cs = rowSpecs(w).map((r) => (rows.get(r.id)!.cells[sys.id] ??= { samples: [], errors: [] }));
    if (si.status === 'failed') return;
    let src = L.src;
    try {
      src = w.source ? await w.source(ctx) : L.src;
      await w.setup(src, ctx);
      let m;
      try {
        m = await sys.start(src, L.mnt);
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
        if (w.warmup) await w.warmup(m.root, ctx);
        const v = await w.run(m.root, ctx);
        const died = m.died();
        if (died) throw new Error(`server ${died}`);
        const values = typeof v === 'number' ? { [w.id]: v } : v;
        for (const [id, x] of Object.entries(values)) rows.get(id)!.cells[sys.id].samples.push(x);
        Object.assign(si.notes, m.notes());
        const shown = Object.values(values).map((x) => x.toFixed(1)).join(' / ');
        log(`[${rep + 1}/${o.reps}] ${w.id.padEnd(10)} ${sys.id.padEnd(14)} ${shown} ${w.unit}`);
      } finally {
        await m.stop();
      }
    } catch (e) {
      const msg = (e as Error).message.slice(0, 400);
      for (const c of cs) c.errors.push(msg);
      log(`[${rep + 1}/${o.reps}] ${w.id.padEnd(10)} ${sys.id.padEnd(14)} FAILED: ${msg}`);
    } finally {
      await w.teardown(src, ctx);
    }
  };

  for (let rep = 0; rep < o.reps && !isInterrupted(); rep++) {
    for (const w of workloads) {
      const here = usable.filter((s) => runsOn(w, s));
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
  if (!isInterrupted() && memPlan.length && !o.guestOnly && !o.oneCpu) {
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

  // virtio-fs: one guest, both servers; its rows join the table with the C virtiofsd as base.
  const guestRowIds = GUEST_ROW_IDS.filter((id) => !o.workloads || o.workloads.includes(id)).map((id) => id.slice('guest-'.length));
  const guestWanted = o.guest && guestRowIds.length > 0 && (!o.systems || o.systems.includes('vfsd') || o.systems.includes('virtiofsd'));
  let guest: GuestInfo | null = null;
  const guestRows: Row[] = [];
  if (guestWanted && !isInterrupted()) {
    const g = await runGuestBench({ tmp: L.tmp, bin: L.bin, hostMeta: ctx.metaExe, sizes: o.guestSizes, rows: guestRowIds, log, signalUnmounts: [L.src] });
    guest = g.info;
    guestRows.push(...g.rows);
    const ran = g.rows.some((r) => Object.values(r.cells).some((c) => c.samples.length));
    if (!info.has('vfsd')) info.set('vfsd', { id: 'vfsd', label: 'vfsd', status: 'ok', startupMs: [], notes: {}, startFailures: 0, successes: 0 });
    info.set('virtiofsd', { id: 'virtiofsd', label: 'C virtiofsd', status: ran ? 'ok' : 'failed', reason: ran ? undefined : g.info.error,
      startupMs: [], notes: {}, startFailures: 0, successes: 0 });
  } else {
    info.set('virtiofsd', { id: 'virtiofsd', label: 'C virtiofsd', status: 'skipped', startupMs: [], notes: {}, startFailures: 0, successes: 0,
      reason: o.guest ? 'no guest rows selected (--systems/--workloads)' : 'guest rows off (--no-guest)' });
  }

  await cleanupAll();
  if (isInterrupted()) return 130;

  const sysInfo: SystemInfo[] = [...info.values()].map(({ startFailures, successes, ...s }) => s);
  const rowList = [...rows.values(), ...guestRows];
  const tg = targets(rowList, memory, sysInfo);
  const duration = (Date.now() - started) / 1000;

  const json: BenchJson = {
    version: 1,
    timestamp: new Date().toISOString(),
    durationSec: duration,
    quick: o.quick,
    options: { reps: o.reps, ...o.sizes, memFiles: o.memFiles, ...(o.oneCpu ? { oneCpu: true } : {}) },
    machine: { ...mach, loadavgEnd: os.loadavg() },
    method: METHOD,
    systems: sysInfo,
    rows: rowList.map((r) => ({
      ...r,
      cells: Object.fromEntries(Object.entries(r.cells).map(([id, c]) => [id, {
        median: median(c.samples), ratioToNative: id === 'native' ? 1 : ratio(r, id),
        ...(r.base ? { ratioToBase: id === r.base ? 1 : ratio(r, id, r.base) } : {}),
        ...(r.baseRow ? { ratioToBaseRow: rowRatio(r, rows.get(r.baseRow), id) } : {}), samples: c.samples, errors: c.errors,
        ...(c.cpuUs ? { cpuUs: c.cpuUs } : {}),
      }])),
    })),
    memory,
    guest,
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
  'metadata rows: each cell starts a fresh server and runs the same operation on 2000 other files, untimed, before the timed run: a server in its steady state (vfsd\'s JIT warm), not its first second',
  'libfuse dp / libfuse never dp: passthrough_ll with -o default_permissions, as vfsd mounts (one GETATTR of the parent more per create, unlink and never-stat than plain passthrough_ll): the like-for-like peer of the metadata rows',
  'stat row: fstatat of N files never looked up before; vfsd-never/libfuse-never run it with cache=never (entry/attr timeout 0)',
  'openclose: openat(O_RDONLY)+close of one file N times',
  'readdir: open+getdents64 (64 KiB buffer) to the end+close of an N-entry dir, repeated; rate = entries/s',
  'data rows: fio psync, buffered (direct=0); seq rows one pass over the file, seq write ends with fsync; rand rows read each 4 KiB block at most once in random order, capped at randSeconds; 4 jobs each read their own quarter of the file',
  `servers run under prlimit --nofile=${NOFILE} (soft = hard limit; neither vfsd nor passthrough_ll raises its own, both keep one fd per inode by default)`,
  'memory: RSS (/proc/PID/status VmRSS) 1 s after the mount is ready, and 1 s after fstatat of F never-seen files (one LOOKUP each; the kernel keeps the dentries, so the server keeps every inode); vfsd-fh = vfsd --inode-file-handles prefer, the only mode that can hold 100k inodes under a 20k fd limit',
  'libfuse = Debian\'s example/passthrough_ll.c compiled at run time, multithreaded (default), -o cache=auto|never',
  'slow-source rows: slow-source.c (our libfuse low-level server, multithreaded) serves d0..d7 x 100 empty files, every LOOKUP/GETATTR/ACCESS/OPENDIR/READDIR/OPEN sleeps 2 ms, timeouts 0; exported by each cache-never server (native = the mount itself); meta stat clients (1, then 8 on distinct dirs) share one CLOCK_MONOTONIC window; the 8-client row\'s ratio is to the same system\'s 1-client row',
  'head-of-line rows: a dir on ext4 under /var/tmp exported by each cache-never server (vfsd-never-inline = --thread-pool-size 0; vfsd-never-nopt = --no-passthrough, every write relayed through vfsd); one meta stat loop over 100 files alone, beside an io.c loop of 1 MiB pwrite+fsync, beside 4 KiB pwrite+fsync (same window for both processes); each writer also alone; ratio = beside / alone of the same system (stat rate, and the writer\'s write+fsync per second)',
  'guest rows: one QEMU/TCG guest (the acceptance guest, 1 vCPU) with two vhost-user-fs devices, vfsd and /usr/lib/qemu/virtiofsd, both cache=auto, xattr off, each on its own dir of one host tmpfs; rows alternate between the two mounts (order flipped per row and repetition); ratio = vfsd / virtiofsd',
  'guest metadata rows: meta.c compiled with gcc -static and shipped in the initramfs; each row gets fresh dirs laid out by the host while the guest waits (never looked up: a cold stat is a LOOKUP each); the guest drops its caches (echo 3 > drop_caches) before every cell',
  'guest data rows: io.c (static, psync, buffered): 1 MiB sequential write of a new file ending with fsync, 1 MiB sequential read and 4 KiB random read (each block at most once, time-capped) of a host-written file, caches dropped before each',
];

main().then((code) => process.exit(code), async (e) => {
  log(`bench: ${(e as Error).stack ?? e}`);
  await cleanupAll();
  process.exit(1);
});
