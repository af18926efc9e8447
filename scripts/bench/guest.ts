// The guest rows of `npm run bench`: vfsd and the C virtiofsd as vhost-user-fs backends of one
// QEMU guest (two virtio-fs devices), the same workloads run inside the guest on both mounts in
// alternation. TCG emulates the guest CPU in software, so absolute rates say little; the ratio
// vfsd / virtiofsd on the same guest, workload and moment is the result.
//
// The load generators are ours: meta.c (the /dev/fuse metadata rows' driver) and io.c (psync
// sequential and random I/O: Debian's fio is dynamic with 60-odd libraries), both compiled with
// `gcc -static` at bench time and shipped in the initramfs overlay next to the script.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bootGuest, buildGuest, spawnServer, ServerHandle, VIRTIOFSD, GuestRun } from '../../test/helpers/guest';
import { onAbnormalExit } from '../../test/helpers/reaper';
import { guestScript, GUEST_META_ROWS, GUEST_DATA_ROWS, metaDirName, DATA_DIR, BIG } from './guest-script';
import { onCleanup, runOk, forceUnmount } from './proc';
import { rmrf, meta } from './drivers';
import { repoRoot, NOFILE } from './systems';
import type { Row } from './report';

export interface GuestSizes {
  reps: number;
  files: number;
  readdirPasses: number;
  dataMiB: number;
  randSeconds: number;
}

/** What the JSON keeps about the guest section besides its rows. */
export interface GuestInfo {
  kernel: string | null;
  memoryMiB: number;
  sizes: GuestSizes;
  servers: Record<string, string>;
  bootMs: number | null;
  durationMs: number | null;
  error?: string;
  /** The end of the console when something failed: the guest's own words. */
  consoleTail?: string;
}

export interface GuestResult {
  rows: Row[];
  info: GuestInfo;
}

/** Column ids: vfsd shares the /dev/fuse rows' vfsd column; the C daemon has its own. */
export const GUEST_SERVERS = ['vfsd', 'virtiofsd'] as const;
export const GUEST_BASE = 'virtiofsd';

const ROW_META: Record<string, { label: string; unit: Row['unit'] }> = {
  create: { label: 'guest: create N empty files', unit: 'ops/s' },
  stat: { label: 'guest: stat N files (cold)', unit: 'ops/s' },
  openclose: { label: 'guest: open+close N times', unit: 'ops/s' },
  readdir: { label: 'guest: readdir of N entries', unit: 'entries/s' },
  unlink: { label: 'guest: unlink N files', unit: 'ops/s' },
  seqwrite: { label: 'guest: seq write 1 MiB', unit: 'MiB/s' },
  seqread: { label: 'guest: seq read 1 MiB', unit: 'MiB/s' },
  randread: { label: 'guest: rand read 4 KiB', unit: 'IOPS' },
};

export const GUEST_ROW_IDS = [...GUEST_META_ROWS.map((r) => r.id), ...GUEST_DATA_ROWS].map((id) => `guest-${id}`);

const GUEST_MEMORY_MIB = 1024;

/** Compile a bench driver statically for the guest (it has no libc of its own). */
async function buildStatic(name: string, bin: string): Promise<string> {
  const exe = path.join(bin, `${name}-static`);
  await runOk('gcc', ['-static', '-O2', '-s', '-Wall', '-o', exe, path.join(repoRoot(), 'scripts/bench', `${name}.c`)],
    { timeoutMs: 120_000 });
  return exe;
}

function serverCommand(name: string, socket: string, dir: string): string[] {
  const limit = ['prlimit', `--nofile=${NOFILE}:${NOFILE}`, '--'];
  if (name === 'vfsd') {
    return [...limit, process.execPath, path.join(repoRoot(), 'dist/src/cli/main.js'),
      `--socket-path=${socket}`, `--shared-dir=${dir}`, '--cache=auto'];
  }
  return [...limit, VIRTIOFSD, `--socket-path=${socket}`, '-o', `source=${dir}`, '-o', 'cache=auto', '-o', 'no_xattr'];
}

/** Why the guest rows cannot run here, or null. */
export function guestUnavailableReason(): string | null {
  if (!fs.existsSync(path.join(repoRoot(), 'dist/src/cli/main.js'))) return 'vfsd not built (npm run build)';
  if (!fs.existsSync(VIRTIOFSD)) return `${VIRTIOFSD} missing (package qemu-system-common)`;
  if (spawnSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' }).status !== 0) return 'qemu-system-x86_64 missing (package qemu-system-x86)';
  if (spawnSync('gcc', ['--version'], { stdio: 'ignore' }).status !== 0) return 'gcc missing (static drivers for the guest)';
  return null;
}

/**
 * Runs the guest rows. `tmp` is the bench's scratch dir; the shares live on a tmpfs of their own
 * under it, so the data files are memory on the host and reads measure the server, not a disk.
 */
export async function runGuestBench(o: {
  tmp: string; bin: string; hostMeta: string; sizes: GuestSizes; rows: string[]; log: (s: string) => void;
  /** The bench's own mounts, detached too if a signal ends the process during the guest run. */
  signalUnmounts: string[];
}): Promise<GuestResult> {
  const s = o.sizes;
  const info: GuestInfo = { kernel: null, memoryMiB: GUEST_MEMORY_MIB, sizes: s, servers: {}, bootMs: null, durationMs: null };
  const rowIds = o.rows;
  const rows: Row[] = rowIds.map((id) => ({
    id: `guest-${id}`, label: ROW_META[id].label, unit: ROW_META[id].unit, base: GUEST_BASE,
    cells: Object.fromEntries(GUEST_SERVERS.map((sv) => [sv, { samples: [] as number[], errors: [] as string[] }])),
  }));
  const byId = new Map(rows.map((r) => [r.id.slice('guest-'.length), r]));
  const failAll = (why: string) => {
    info.error = why;
    for (const r of rows) for (const c of Object.values(r.cells)) if (!c.samples.length && !c.errors.length) c.errors.push(why);
  };

  const why = guestUnavailableReason();
  if (why) {
    failAll(why);
    return { rows, info };
  }

  const root = path.join(o.tmp, 'guest');
  const src = path.join(root, 'src');
  fs.mkdirSync(src, { recursive: true });
  const dataMiB = rowIds.some((r) => (GUEST_DATA_ROWS as readonly string[]).includes(r)) ? s.dataMiB : 0;
  // Per share: the read file, one written file at a time, the metadata dirs (empty files).
  await runOk('mount', ['-t', 'tmpfs', '-o', `size=${dataMiB * 4 + 512}m,mode=0755`, 'vfsd-bench-guest', src]);
  // A signal ends the process through the guest harness's reaper (it kills QEMU and the servers
  // synchronously, then exits), before the bench's async cleanup could run: unmount here too.
  const unReap = onAbnormalExit(() => {
    for (const m of [src, ...o.signalUnmounts]) spawnSync('umount', ['-l', m]);
  });
  const unClean = onCleanup(async () => { await forceUnmount(src); });
  const servers: ServerHandle[] = [];
  try {
    o.log('guest: building the guest image and the static drivers');
    const img = buildGuest();
    info.kernel = img.kernelVersion;
    const metaExe = await buildStatic('meta', o.bin);
    const ioExe = await buildStatic('io', o.bin);

    for (const sv of GUEST_SERVERS) {
      const d = path.join(src, sv, DATA_DIR);
      fs.mkdirSync(d, { recursive: true });
      // The same bytes for both servers (io.c's fixed generator), laid out before any server runs.
      if (dataMiB) await runOk(ioExe, ['seqwrite', path.join(d, BIG), String(dataMiB), '1048576'], { timeoutMs: 120_000 });
    }
    const prefill = (row: string) => {
      const r = GUEST_META_ROWS.find((x) => x.id === row);
      return !r || r.prefill === 'none' ? 0 : r.prefill === 'one' ? 1 : s.files;
    };
    // Each metadata row gets fresh directories, made while the guest waits at VFSD-SYNC: never
    // looked up by the guest, so every stat is a LOOKUP. The previous row's dirs go first.
    const made: string[] = [];
    const onSync = async (name: string) => {
      const m = /^prep-(\w+)-(\d+)$/.exec(name);
      if (!m) throw new Error(`unexpected sync ${name}`);
      for (const d of made.splice(0)) rmrf(d);
      for (const sv of GUEST_SERVERS) {
        const d = path.join(src, sv, metaDirName(m[1], Number(m[2])));
        fs.mkdirSync(d);
        made.push(d);
        const n = prefill(m[1]);
        if (n) await meta(o.hostMeta, 'create', d, n);
      }
    };

    const sockDir = path.join(root, 'sock');
    fs.mkdirSync(sockDir, { recursive: true });
    for (const sv of GUEST_SERVERS) {
      const sock = path.join(sockDir, `${sv}.sock`);
      const [cmd, ...args] = serverCommand(sv, sock, path.join(src, sv));
      info.servers[sv] = [cmd, ...args].join(' ');
      servers.push(await spawnServer(sv, cmd, args, sock));
    }
    const pids = new Map(servers.map((h) => [h.name, h.pid]));
    const col = new Collector(s.reps, (name) => cpuSeconds(pids.get(name)));

    const script = guestScript({ servers: [GUEST_SERVERS[0], GUEST_SERVERS[1]], reps: s.reps, files: s.files,
      readdirPasses: s.readdirPasses, dataMiB, randSeconds: s.randSeconds, rows: rowIds });
    // Generous: TCG is slow and this machine is shared; a guest that hangs still ends here.
    const timeoutMs = 20 * 60_000;
    o.log(`guest: booting with ${GUEST_SERVERS.join(' and ')} (${s.reps} reps, ${s.files} files, ${dataMiB} MiB)`);
    const run: GuestRun = await bootGuest({
      socketPath: path.join(sockDir, `${GUEST_SERVERS[0]}.sock`), tag: GUEST_SERVERS[0],
      extraShares: [{ socketPath: path.join(sockDir, `${GUEST_SERVERS[1]}.sock`), tag: GUEST_SERVERS[1] }],
      script, timeoutMs, memoryMiB: GUEST_MEMORY_MIB,
      extraFiles: [{ name: 'vfsd/meta', data: fs.readFileSync(metaExe) }, { name: 'vfsd/io', data: fs.readFileSync(ioExe) }],
      onSync,
      onLine: (line) => {
        const msg = col.line(line);
        if (msg) o.log(msg);
      },
    });
    info.bootMs = run.bootMs;
    info.durationMs = run.durationMs;
    col.fill(byId);
    const bad = run.results.filter((r) => !r.ok);
    if (bad.length) {
      info.error = bad.map((r) => `${r.name}: ${r.detail}`).join('; ').slice(0, 600);
      info.consoleTail = run.console.slice(-3000);
      for (const r of rows) for (const c of Object.values(r.cells)) if (!c.samples.length && !c.errors.length) c.errors.push(info.error);
    }
    for (const sv of servers) {
      const text = sv.log();
      if (/panic|segfault|Aborted|uncaught/i.test(text)) info.error = `${info.error ?? ''} ${sv.name} log: ${text.slice(-500)}`.trim();
    }
  } catch (e) {
    failAll((e as Error).message.slice(0, 600));
  } finally {
    for (const sv of servers) await sv.stop();
    await forceUnmount(src);
    unClean();
    unReap();
    rmrf(root);
  }
  return { rows, info };
}

interface DriverJson { op: string; n?: number; ns: number; entries?: number; ops?: number; bytes?: number }

/** Work done by one driver run, in the unit of the row's rate (ops, entries, MiB, I/Os). */
function work(row: string, j: DriverJson): number {
  if (row === 'readdir') return j.entries ?? 0;
  if (row === 'seqwrite' || row === 'seqread') return (j.bytes ?? 0) / 1048576;
  if (row === 'randread') return j.ops ?? 0;
  return j.n ?? 0;
}

/**
 * User + system CPU time of a server, in seconds (null if gone): the process with all its threads
 * (exited ones included) and its descendants. The C virtiofsd forks into its sandbox once QEMU
 * connects and the parent only waits, so the child is where the work is.
 */
function cpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  const own = processCpu(pid);
  if (own === null) return null;
  return own + childrenOf(pid).reduce((sum, c) => sum + (cpuSeconds(c) ?? 0), 0);
}

function processCpu(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
  } catch {
    return [];
  }
}
/** USER_HZ: Linux reports /proc times in 1/100 s on every architecture we run on. */
const CLOCK_TICKS = 100;

interface Sample { rate: number; cpuUs: number | null }

/**
 * Reads the guest's console lines as they arrive: a `bench-start` line snapshots the server's
 * CPU time, the matching result line turns it into CPU per unit of work. Results are kept by
 * repetition so the paired ratio compares the two runs that were back to back.
 */
class Collector {
  private readonly samples = new Map<string, Sample>();
  private readonly errors = new Map<string, string[]>();
  private readonly cpuAtStart = new Map<string, number | null>();

  constructor(private readonly reps: number, private readonly cpu: (server: string) => number | null) {}

  /** Returns a progress line for the log, or null. */
  line(line: string): string | null {
    const m = /^VFSD-DATA (bench|bench-start|bench-error) (\S+) (\S+) (\d+) ?(.*)$/.exec(line);
    if (!m) return null;
    const [, kind, server, row, rep, rest] = m;
    const key = `${row} ${server} ${rep}`;
    const head = `[guest ${rep}/${this.reps}] ${row.padEnd(10)} ${server.padEnd(10)}`;
    if (kind === 'bench-start') {
      this.cpuAtStart.set(key, this.cpu(server));
      return null;
    }
    if (kind === 'bench-error') {
      this.errors.set(`${row} ${server}`, [...(this.errors.get(`${row} ${server}`) ?? []), rest.slice(0, 300)]);
      return `${head} FAILED: ${rest}`;
    }
    let j: DriverJson;
    try {
      j = JSON.parse(rest) as DriverJson;
    } catch {
      this.errors.set(`${row} ${server}`, [...(this.errors.get(`${row} ${server}`) ?? []), `unparsable: ${rest.slice(0, 200)}`]);
      return `${head} unparsable: ${rest}`;
    }
    const units = work(row, j);
    const rate = units / (j.ns / 1e9);
    const c0 = this.cpuAtStart.get(key);
    const c1 = this.cpu(server);
    const cpuUs = c0 == null || c1 === null || units <= 0 ? null : Math.round(((c1 - c0) * 1e7) / units) / 10;
    this.samples.set(key, { rate, cpuUs });
    return `${head} ${rate.toFixed(1)} ${ROW_META[row]?.unit ?? ''}` + (cpuUs === null ? '' : `  (server CPU ${cpuUs.toFixed(0)} µs/unit)`);
  }

  fill(rows: Map<string, Row>): void {
    for (const [id, r] of rows) {
      const paired: number[] = [];
      for (let rep = 1; rep <= this.reps; rep++) {
        const got = GUEST_SERVERS.map((sv) => this.samples.get(`${id} ${sv} ${rep}`));
        got.forEach((x, i) => {
          if (!x) return;
          const c = r.cells[GUEST_SERVERS[i]];
          c.samples.push(x.rate);
          if (x.cpuUs !== null) (c.cpuUs ??= []).push(x.cpuUs);
        });
        const [a, b] = got;
        if (a && b && b.rate > 0) paired.push(a.rate / b.rate);
      }
      r.pairedRatios = paired;
      for (const sv of GUEST_SERVERS) r.cells[sv].errors.push(...(this.errors.get(`${id} ${sv}`) ?? []));
    }
  }
}
