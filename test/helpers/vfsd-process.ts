// Runs the real `vfsd` command as a child process on a fresh temporary export and mount point, the
// way a user would, so integration tests see exactly what the CLI does. Because the server lives
// in another process, the test process may use synchronous fs calls on the mount freely.
//
//   const v = await startVfsd(t, { args: ['--xattr'], prepare: (src) => fs.writeFileSync(...) });
//   ... v.src (host side), v.mnt (through vfsd) ...
//   await v.stop();           // SIGTERM, wait for exit; unmounts by force if vfsd did not
//
// startVfsd registers stop() and the removal of the temp tree as t.teardown, so a failing test
// never leaves a mount or a process behind.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { C, sys } from '../../src/native/sys';
import { isMounted, mountPoints } from './mountinfo';
import { servedTransport, withEnableUring } from './fuse-uring';

/** dist/test/helpers/vfsd-process.js -> dist/src/cli/main.js */
export const CLI = path.resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');

export interface StartOptions {
  /** extra command-line arguments after --shared-dir SRC --mount MNT */
  args?: string[];
  /** fills the export before vfsd starts (host side, as root) */
  prepare?: (src: string) => void;
  /** export this directory instead of a fresh one (it is not removed at teardown) */
  sharedDir?: string;
  /** milliseconds to wait for the mount to appear */
  timeoutMs?: number;
  /** 'uring': serve over FUSE io_uring (--fuse-transport uring), with the fuse module's
   *  enable_uring set to Y only until the ring is registered (./fuse-uring.ts) */
  fuseTransport?: 'uring';
  /** added to the environment vfsd inherits */
  env?: Record<string, string>;
  /** a command vfsd is run under, e.g. ['prlimit', '--nofile=1024:1024', '--'] */
  prefix?: string[];
}

export interface VfsdProcess {
  /** temp directory holding src/ and mnt/ (mode 0755 so other uids can reach both) */
  base: string;
  /** the export, as the host sees it */
  src: string;
  /** the vfsd mount point */
  mnt: string;
  child: ChildProcess;
  /** everything vfsd wrote to stdout and stderr so far */
  log(): string;
  /** the exit code once it exited (null while running or if killed by a signal) */
  exitCode(): number | null;
  /** SIGTERM, wait for the exit (SIGKILL after a while), force-unmount if still mounted.
   *  Resolves to the exit code (null if it had to be killed). Idempotent. */
  stop(): Promise<number | null>;
}

interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

/** Fresh temp dir under /tmp, traversable by every uid (tests run children as other users). */
export function tempBase(prefix = 'vfsd-it-'): string {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(base, 0o755);
  return base;
}

/** Unmounts everything at or below `dir`, deepest first (lazy: a busy mount still goes away). */
export function unmountTree(dir: string): void {
  const root = path.resolve(dir);
  const points = mountPoints()
    .filter((p) => p === root || p.startsWith(root + '/'))
    .sort((a, b) => b.length - a.length);
  for (const p of points) sys.umount2(p, C.MNT_DETACH);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function startVfsd(t: Teardown, opts: StartOptions = {}): Promise<VfsdProcess> {
  if (opts.fuseTransport === 'uring') {
    const { fuseTransport: _, ...rest } = opts;
    const started = await withEnableUring('Y', async () => {
      const v = await startVfsd(t, { ...rest, args: [...(rest.args ?? []), '--fuse-transport', 'uring'] });
      // The ring is registered right after INIT, which the mount's first access triggers.
      fs.statSync(v.mnt);
      const deadline = Date.now() + (opts.timeoutMs ?? 20000);
      while (!servedTransport(v.log()) && v.exitCode() === null && Date.now() < deadline) await sleep(20);
      return v;
    });
    return started.result;
  }
  const base = tempBase();
  const src = opts.sharedDir ?? path.join(base, 'src');
  const mnt = path.join(base, 'mnt');
  if (!opts.sharedDir) {
    fs.mkdirSync(src);
    fs.chmodSync(src, 0o755);
  }
  fs.mkdirSync(mnt);
  let out = '';
  let code: number | null = null;
  let exited = false;
  let child: ChildProcess | null = null;
  let stopping: Promise<number | null> | null = null;

  const cleanup = async () => {
    if (child) await stop();
    unmountTree(mnt);
    if (!opts.sharedDir) unmountTree(src);
    fs.rmSync(base, { recursive: true, force: true });
  };
  t.teardown(cleanup);

  opts.prepare?.(src);
  const argv = [process.execPath, CLI, '--shared-dir', src, '--mount', mnt, ...(opts.args ?? [])];
  // prlimit execs the command: the child's pid is vfsd's.
  const cmd = [...(opts.prefix ?? []), ...argv];
  child = spawn(cmd[0], cmd.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ? { ...process.env, ...opts.env } : undefined,
  });
  const exitPromise = new Promise<void>((resolve) => {
    child!.on('exit', (c) => {
      code = c;
      exited = true;
      resolve();
    });
  });
  child.stdout!.on('data', (d) => { out += d.toString(); });
  child.stderr!.on('data', (d) => { out += d.toString(); });

  function stop(): Promise<number | null> {
    if (stopping) return stopping;
    stopping = (async () => {
      if (!exited) {
        child!.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<boolean>((r) => { timer = setTimeout(() => r(true), 15000); });
        const killed = await Promise.race([exitPromise.then(() => false), late]);
        clearTimeout(timer);
        if (killed) {
          child!.kill('SIGKILL');
          await exitPromise;
        }
      }
      // vfsd normally unmounts itself; if it died or hung, never leave the mount behind.
      if (isMounted(mnt)) sys.umount2(mnt, C.MNT_DETACH);
      return code;
    })();
    return stopping;
  }

  const deadline = Date.now() + (opts.timeoutMs ?? 20000);
  while (!isMounted(mnt)) {
    if (exited) throw new Error(`vfsd exited (${code}) before mounting:\n${out}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`vfsd did not mount ${mnt} in time:\n${out}`);
    }
    await sleep(20);
  }
  return { base, src, mnt, child, log: () => out, exitCode: () => code, stop };
}

/** The request counts vfsd logs when it unmounts (only after stop()), e.g. { READDIRPLUS: 12 }. */
export function requestCounts(log: string): Record<string, number> {
  for (const line of log.split('\n').reverse()) {
    if (!line.includes('"unmounted"')) continue;
    try {
      return (JSON.parse(line).requests as Record<string, number>) ?? {};
    } catch {
      return {};
    }
  }
  return {};
}

/** What vfsd logged when the kernel's INIT was answered ("session initialised": passthrough,
 *  posixAcl, killprivV2, ...), or {} when no such line is in the log. */
export function sessionInit(log: string): Record<string, unknown> {
  const line = log.split('\n').find((l) => l.includes('"session initialised"'));
  return line ? JSON.parse(line) as Record<string, unknown> : {};
}

/** A vfsd command started as is (no mount, no waiting), its stdout+stderr gathered. */
export interface LoggedRun {
  child: ChildProcess;
  exit: Promise<number | null>;
  log: () => string;
}

/**
 * Starts `vfsd args...`. `plain`: without the NODE_OPTIONS loaders tap injects into every child
 * (they start threads and the libuv pool before main() runs), as a VM manager would start it.
 */
export function spawnVfsd(args: string[], plain = false, wrapper: string[] = []): LoggedRun {
  // wrapper (e.g. setpriv as another user) and env exec in place: child.pid is vfsd's pid.
  const argv = [...wrapper, ...(plain ? ['/usr/bin/env', '-u', 'NODE_OPTIONS'] : []), process.execPath, CLI, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exit, log: () => log };
}
