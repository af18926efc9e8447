// The systems compared by `npm run bench`. One small interface: prepare once (build a peer, or
// say why it cannot run here), then start(src, mnt) per measurement, which returns a handle whose
// stop() always leaves no process and no mount behind.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { track, pinned, onCleanup, waitExit, isMounted, forceUnmount, runOk, sleep } from './proc';

export interface Mounted {
  /** Where the workload runs: the mount point, or the source itself for `native`. */
  root: string;
  /** The server process (for RSS), or null. */
  pid: number | null;
  /** Spawn to the first answered stat() of the mount root, in ms; null for native. */
  startupMs: number | null;
  /** What the server said about itself (vfsd: whether FUSE passthrough was negotiated). */
  notes(): Record<string, unknown>;
  /** Null while the server runs; otherwise how it ended (a crash mid-run fails the cell). */
  died(): string | null;
  stop(): Promise<void>;
}

export interface System {
  id: string;
  label: string;
  /** Runs only on rows that ask for it (the --cache never variants serve the stat row). */
  cacheNever: boolean;
  /** Runs only on rows whose workload names it (Workload.systems): a control for those rows. */
  namedOnly?: boolean;
  /** Runs only on these rows (by workload id): a peer that only explains some rows. */
  onlyRows?: string[];
  /** Once per run: null when usable, else the reason it is skipped on this machine. */
  prepare(bin: string): Promise<string | null>;
  start(src: string, mnt: string): Promise<Mounted>;
}

const READY_TIMEOUT_MS = 15_000;
/**
 * Servers keep one O_PATH fd per looked-up inode (vfsd's default, and passthrough_ll's only
 * mode) and neither raises its own fd limit, so every server starts under `prlimit` with the soft
 * limit raised to the hard one: the same for all, so no system is favoured. (A container without
 * CAP_SYS_RESOURCE cannot go beyond the hard limit.)
 */
export const NOFILE = hardNofile();

function hardNofile(): number {
  const m = /^Max open files\s+\S+\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  return m && m[1] !== 'unlimited' ? Number(m[1]) : 1_048_576;
}
const STOP_TIMEOUT_MS = 5_000;

/** Repo root from dist/scripts/bench (compiled) or scripts/bench (ts-node): the dir with package.json. */
export function repoRoot(): string {
  let d = __dirname;
  while (!fs.existsSync(path.join(d, 'package.json'))) {
    const up = path.dirname(d);
    if (up === d) throw new Error('package.json not found above ' + __dirname);
    d = up;
  }
  return d;
}

export const native: System = {
  id: 'native', label: 'native', cacheNever: false,
  prepare: async () => null,
  start: async (src) => ({
    root: src, pid: null, startupMs: null, notes: () => ({}), died: () => null, stop: async () => {},
  }),
};

/** Stderr of a server: the first lines (startup facts) and a rolling tail (why it died). */
class StderrLog {
  head = '';
  tail = '';
  constructor(child: ChildProcess) {
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (this.head.length < 16_384) this.head += d;
      this.tail = (this.tail + d).slice(-2_000);
    });
  }
}

/**
 * Start a FUSE server process and wait until the mount answers: the mount point's st_dev changes
 * once mount(2) happened, and stat() returns only after the server answered INIT and GETATTR.
 */
export async function startDaemon(cmd: string, args: string[], mnt: string, parse: (log: StderrLog) => Record<string, unknown>): Promise<Mounted> {
  if (isMounted(mnt)) throw new Error(`${mnt} is still mounted`);
  const devBefore = fs.statSync(mnt).dev;
  const t0 = process.hrtime.bigint();
  const child = track(...pinned('prlimit', [`--nofile=${NOFILE}:${NOFILE}`, '--', cmd, ...args]));
  const log = new StderrLog(child);
  child.stdout?.resume();
  let spawnError: Error | null = null;
  child.once('error', (e) => { spawnError = e; });
  let stopped = false;
  const died = (): string | null => {
    if (spawnError) return String((spawnError as Error).message);
    if (child.exitCode === null && child.signalCode === null) return null;
    return `exited (${child.exitCode ?? child.signalCode}): ${log.tail.trim().split('\n').slice(-3).join(' | ')}`;
  };
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    unregister();
    if (died() === null) child.kill('SIGTERM');
    const exited = await waitExit(child, STOP_TIMEOUT_MS);
    await forceUnmount(mnt); // a server that crashed or hung leaves its mount: detach it
    if (!exited) {
      child.kill('SIGKILL');
      await waitExit(child, STOP_TIMEOUT_MS);
    }
  };
  const unregister = onCleanup(stop);

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const why = died();
    if (why) {
      await stop();
      throw new Error(`${path.basename(cmd)} ${why}`);
    }
    const st = await statWithin(mnt, Math.max(1, deadline - Date.now()));
    if (st && st.dev !== devBefore) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${path.basename(cmd)}: mount not ready after ${READY_TIMEOUT_MS} ms: ${log.tail.trim().slice(-300)}`);
    }
    await sleep(2);
  }
  const startupMs = Number(process.hrtime.bigint() - t0) / 1e6;
  return { root: mnt, pid: child.pid ?? null, startupMs, notes: () => parse(log), died, stop };
}

/** stat() that gives up (null) after ms: a hung server must not hang the bench. */
function statWithin(p: string, ms: number): Promise<fs.Stats | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms);
    fs.promises.stat(p).then((st) => { clearTimeout(timer); resolve(st); }, () => { clearTimeout(timer); resolve(null); });
  });
}

/** vfsd's JSON log lines: `session initialised` (protocol, passthrough), `fuse transport`. */
function vfsdNotes(log: StderrLog): Record<string, unknown> {
  const notes: Record<string, unknown> = {};
  for (const line of log.head.split('\n')) {
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (o.msg === 'session initialised') Object.assign(notes, { protocol: o.protocol, passthrough: o.passthrough });
      if (typeof o.msg === 'string' && o.msg.startsWith('fuse transport')) notes.transport = o.transport;
    } catch { /* not JSON: ignore */ }
  }
  return notes;
}

export interface VfsdOptions {
  id: string;
  label: string;
  args: string[];
  cacheNever?: boolean;
  namedOnly?: boolean;
  /** Extra node flags (the profiler uses --cpu-prof). */
  nodeFlags?: string[];
}

export function vfsd(o: VfsdOptions): System {
  const cli = path.join(repoRoot(), 'dist/src/cli/main.js');
  return {
    id: o.id, label: o.label, cacheNever: o.cacheNever ?? false, namedOnly: o.namedOnly,
    prepare: async () => {
      if (!fs.existsSync(cli)) return `not built: ${cli} missing (npm run build)`;
      if (!fs.existsSync('/dev/fuse')) return '/dev/fuse missing';
      return null;
    },
    start: (src, mnt) => startDaemon(process.execPath,
      [...(o.nodeFlags ?? []), cli, '--shared-dir', src, '--mount', mnt, ...o.args], mnt, vfsdNotes),
  };
}

const ENABLE_URING = '/sys/module/fuse/parameters/enable_uring';

/**
 * vfsd over FUSE io_uring (--fuse-transport uring). The fuse module's enable_uring is global, so
 * it is Y only while the server mounts (the kernel checks it at INIT and at the ring's
 * registration, both done once the mount answers), then put back as found.
 */
export function vfsdUring(o: VfsdOptions): System {
  const base = vfsd({ ...o, args: [...o.args, '--fuse-transport', 'uring'] });
  return {
    ...base,
    prepare: async (bin) => (await base.prepare(bin)) ?? (fs.existsSync(ENABLE_URING) ? null : `${ENABLE_URING} missing: no FUSE over io_uring in this kernel`),
    start: async (src, mnt) => {
      const found = fs.readFileSync(ENABLE_URING, 'utf8').trim();
      fs.writeFileSync(ENABLE_URING, 'Y');
      try {
        return await base.start(src, mnt);
      } finally {
        fs.writeFileSync(ENABLE_URING, found);
      }
    },
  };
}

/** The /dev/fuse metadata rows (scripts/bench/workloads.ts). */
export const META_ROWS = ['create', 'stat', 'openclose', 'readdir', 'unlink'] as const;

const PASSTHROUGH_LL_C = '/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c';

/**
 * libfuse's low-level passthrough example, compiled at bench time from the source Debian ships
 * (libfuse3-dev). Its default is the multithreaded loop (max_threads 10); cache=never|auto|always
 * sets the same entry/attr timeouts as vfsd's modes (0, 1 s, 1 day).
 */
export function libfuse(o: { id: string; label: string; cache: 'never' | 'auto' | 'always'; extra?: string[]; onlyRows?: string[] }): System {
  let exe = '';
  return {
    id: o.id, label: o.label, cacheNever: o.cache === 'never', onlyRows: o.onlyRows,
    prepare: async (bin) => {
      exe = path.join(bin, 'passthrough_ll');
      if (fs.existsSync(exe)) return null;
      if (!fs.existsSync(PASSTHROUGH_LL_C)) return `${PASSTHROUGH_LL_C} missing (Debian package libfuse3-dev)`;
      try {
        const flags = (await runOk('pkg-config', ['--cflags', '--libs', 'fuse3'])).trim().split(/\s+/);
        await runOk('cc', ['-O2', '-Wall', '-o', exe, PASSTHROUGH_LL_C, ...flags], { timeoutMs: 120_000 });
      } catch (e) {
        return `build failed: ${(e as Error).message}`;
      }
      return null;
    },
    start: (src, mnt) => startDaemon(exe, ['-f', '-o', `source=${src}`, '-o', `cache=${o.cache}`, ...(o.extra ?? []), mnt], mnt, () => ({})),
  };
}

/** A peer that cannot run here: it stays in the report as a row with its reason. */
export function skipped(id: string, label: string, reason: string): System {
  return {
    id, label, cacheNever: false,
    prepare: async () => reason,
    start: async () => { throw new Error(reason); },
  };
}

export const FUSE_NATIVE_REASON =
  'skipped: fuse-native@2.2.6 cannot be installed without downloading binaries: its tarball ships ' +
  'prebuilds (linux-x64/node.napi.node, libfuse.so) and its dependency fuse-shared-library-linux ships a ' +
  'prebuilt libfuse.so; a source build needs libfuse 2 headers (Debian libfuse-dev, not installed) ' +
  'and a patched binding.gyp to link the system libfuse.so.2';

/** Every /dev/fuse system of a full run, in column order (the C virtiofsd is the guest rows'
 *  column: scripts/bench/guest.ts). */
export function allSystems(): System[] {
  return [
    native,
    vfsd({ id: 'vfsd', label: 'vfsd', args: [] }),
    vfsd({ id: 'vfsd-nopt', label: 'vfsd no-pt', args: ['--no-passthrough'] }),
    libfuse({ id: 'libfuse', label: 'libfuse ll', cache: 'auto' }),
    vfsd({ id: 'vfsd-never', label: 'vfsd never', args: ['--cache', 'never'], cacheNever: true }),
    vfsdUring({ id: 'vfsd-uring', label: 'vfsd uring', args: [] }),
    vfsdUring({ id: 'vfsd-uring-never', label: 'vfsd uring never', args: ['--cache', 'never'], cacheNever: true }),
    libfuse({ id: 'libfuse-never', label: 'libfuse never', cache: 'never' }),
    // passthrough_ll mounts without default_permissions; vfsd must mount with it (the kernel checks
    // every path walk through cached dentries), which costs one GETATTR of the parent per create
    // and unlink (the kernel drops the parent's attributes after each) and per stat with
    // timeouts 0. These two columns pay the same: the like-for-like peer of the metadata rows.
    libfuse({ id: 'libfuse-dp', label: 'libfuse dp', cache: 'auto', extra: ['-o', 'default_permissions'], onlyRows: [...META_ROWS] }),
    libfuse({ id: 'libfuse-never-dp', label: 'libfuse never dp', cache: 'never', extra: ['-o', 'default_permissions'], onlyRows: ['stat'] }),
    // The head-of-line rows' controls: everything served inline on the event loop; and every
    // write relayed through vfsd (without FUSE passthrough, --cache never is direct I/O through us).
    vfsd({ id: 'vfsd-never-inline', label: 'vfsd never inline', args: ['--cache', 'never', '--thread-pool-size', '0'], cacheNever: true, namedOnly: true }),
    vfsd({ id: 'vfsd-never-nopt', label: 'vfsd never no-pt', args: ['--cache', 'never', '--no-passthrough'], cacheNever: true, namedOnly: true }),
    skipped('fuse-native', 'fuse-native', FUSE_NATIVE_REASON),
  ];
}
