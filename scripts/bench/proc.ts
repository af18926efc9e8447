// Child processes and cleanup for the bench: every process we start and every mount we make is
// registered here, so a failure, an exception or Ctrl-C still stops and unmounts all of it.
import { spawn, ChildProcess, SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const live = new Set<ChildProcess>();
const cleanups: Array<() => Promise<void> | void> = [];
let interrupted = false;

/** True once SIGINT/SIGTERM arrived: loops stop starting new work. */
export function isInterrupted(): boolean {
  return interrupted;
}

let cpuPin: number | null = null;

/** From now on every server and load generator runs on this CPU only (bench --one-cpu). */
export function pinToCpu(cpu: number): void {
  cpuPin = cpu;
}

/** cmd and args, run under `taskset -c CPU` when pinToCpu asked for it. */
export function pinned(cmd: string, args: string[]): [string, string[]] {
  return cpuPin === null ? [cmd, args] : ['taskset', ['-c', String(cpuPin), cmd, ...args]];
}

/** Spawn and remember a long-lived child (a server); it is killed by cleanupAll if still alive. */
export function track(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  return child;
}

/** Run a command to completion, capturing its output; a timeout kills it (SIGKILL). */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = track(cmd, args, { cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = opts.timeoutMs ? setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, opts.timeoutMs) : null;
    child.once('error', (e) => {
      if (timer) clearTimeout(timer);
      resolve({ code: null, signal: null, stdout, stderr: stderr + String(e.message), timedOut });
    });
    child.once('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** Run and insist on exit status 0; the error carries the command's stderr. */
export async function runOk(cmd: string, args: string[], opts: { timeoutMs?: number; cwd?: string } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    const why = r.timedOut ? `timed out after ${opts.timeoutMs} ms` : `exit ${r.code ?? r.signal}`;
    // The cause first: callers shorten messages, and the command line is long.
    throw new Error(`${why}: ${r.stderr.trim().slice(-300) || '(no stderr)'} [${cmd} ${args.join(' ')}]`);
  }
  return r.stdout;
}

/** Wait until a child has exited, or the timeout passed; true if it exited. */
export function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => { child.off('exit', onExit); resolve(false); }, timeoutMs);
    const onExit = () => { clearTimeout(timer); resolve(true); };
    child.once('exit', onExit);
  });
}

/** Register an undo step (unmount, remove a temp dir); returns its deregistration. */
export function onCleanup(fn: () => Promise<void> | void): () => void {
  cleanups.push(fn);
  return () => {
    const i = cleanups.lastIndexOf(fn);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

/** Undo everything still registered, newest first, then kill any child left. Never throws. */
export async function cleanupAll(): Promise<void> {
  while (cleanups.length) {
    const fn = cleanups.pop()!;
    try {
      await fn();
    } catch (e) {
      process.stderr.write(`bench cleanup: ${(e as Error).message}\n`);
    }
  }
  for (const child of live) child.kill('SIGKILL');
}

/** Ctrl-C and SIGTERM: stop, clean up, exit 130/143. A second signal while cleaning is ignored. */
export function installSignalCleanup(): void {
  const handler = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\nbench: ${sig}, stopping servers and unmounting...\n`);
    void cleanupAll().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

/** Mount points currently in our mount namespace (octal escapes of mountinfo decoded). */
export function mountPoints(): string[] {
  const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  return text.split('\n').filter(Boolean).map((line) =>
    line.split(' ')[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

export function isMounted(dir: string): boolean {
  return mountPoints().includes(dir);
}

/** Detach a mount even if its server is gone or hung (lazy: busy users finish on the old tree). */
export async function forceUnmount(dir: string): Promise<void> {
  if (!isMounted(dir)) return;
  if (process.geteuid?.() === 0) await run('umount', ['-l', dir], { timeoutMs: 10_000 });
  else await run('fusermount3', ['-u', '-z', dir], { timeoutMs: 10_000 });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
