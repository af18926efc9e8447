// Boots the acceptance guest (scripts/guest/build-guest.sh) in QEMU against a vhost-user-fs server
// and collects what the guest reports on its serial console. See scripts/guest/init for the
// console protocol (VFSD-BOOTED / RESULT / DATA / SYNC / DONE).
//
// The server side is pluggable: a ServerLauncher starts anything that listens on a vhost-user
// socket. startVirtiofsd is the C daemon Debian ships; vfsd gets its own launcher the same way.

import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { onAbnormalExit } from './reaper';

/** One check as the guest (or the host judging guest data) reports it. */
export interface GuestCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface GuestImage {
  dir: string;
  kernel: string;
  initrd: string;
  kernelVersion: string;
}

export interface BootOptions {
  /** vhost-user socket the server listens on. */
  socketPath: string;
  /** virtio-fs tag (no spaces). */
  tag: string;
  /** More vhost-user-fs devices on the same guest (e.g. one server per policy in one boot); the
   *  guest script mounts them itself with `mount -t virtiofs TAG DIR`. */
  extraShares?: { socketPath: string; tag: string }[];
  /** Shell text sourced in the guest after /lib/vfsd-lib.sh; embedded into the initramfs. */
  script?: string;
  /** More files for the embedded overlay, next to the script (needs `script`): name is relative
   *  to the guest's / inside a directory the base image has (e.g. `vfsd/meta`); mode defaults to
   *  0755. The bench ships its static load generators this way. */
  extraFiles?: { name: string; data: Buffer; mode?: number }[];
  /** Instead of `script`: a script inside the share (path relative to the share root); the guest
   *  mounts the share before running it. */
  scriptInShare?: string;
  /** Hard limit for the whole boot; QEMU is killed when it passes. Default 240 s. */
  timeoutMs?: number;
  extraKernelArgs?: string[];
  memoryMiB?: number;
  /** Called when the guest prints `VFSD-SYNC name`; the guest waits until it resolves. */
  onSync?: (name: string) => Promise<void> | void;
  /** Every console line as it arrives (debugging). */
  onLine?: (line: string) => void;
  /** The QEMU process right after it was spawned (the fault tests kill it mid-request). */
  onQemu?: (qemu: ChildProcess) => void;
}

export interface GuestRun {
  /** VFSD-RESULT lines, plus `guest/completed` (the script ran to VFSD-DONE in time) and a
   *  `host/sync-NAME` failure for an onSync that threw. */
  results: GuestCheck[];
  /** VFSD-DATA lines by channel, without the marker and channel. */
  data: Map<string, string[]>;
  console: string;
  /** The rc of VFSD-DONE; null if the guest never got there. */
  exitCode: number | null;
  timedOut: boolean;
  durationMs: number;
  /** Milliseconds from QEMU start to VFSD-BOOTED, null if never booted. */
  bootMs: number | null;
  /** The guest's own uptime (s) when /init started: the rest of bootMs is QEMU and firmware. */
  guestUptimeAtBoot: number | null;
}

// ---------------------------------------------------------------------------------------------
// Paths and the guest image

export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'scripts'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no repository root above ${__dirname}`);
    dir = up;
  }
}

let cachedImage: GuestImage | undefined;

/** Builds (or finds in the cache) the guest kernel and initramfs. Synchronous: it runs once per
 *  test process, before anything else is started. */
export function buildGuest(): GuestImage {
  if (cachedImage) return cachedImage;
  const script = path.join(repoRoot(), 'scripts', 'guest', 'build-guest.sh');
  const r = spawnSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 });
  if (r.status !== 0) throw new Error(`build-guest.sh failed (${r.status ?? r.signal}): ${r.stderr}`);
  const dir = r.stdout.trim().split('\n').pop() ?? '';
  const img: GuestImage = {
    dir,
    kernel: path.join(dir, 'vmlinuz'),
    initrd: path.join(dir, 'initrd.gz'),
    kernelVersion: fs.readFileSync(path.join(dir, 'kernel-version'), 'utf8').trim(),
  };
  for (const f of [img.kernel, img.initrd]) if (!fs.existsSync(f)) throw new Error(`guest artifact missing: ${f}`);
  cachedImage = img;
  return img;
}

// ---------------------------------------------------------------------------------------------
// Data both sides can generate: the same keystream as `vfsd-probe gen SIZE SEED`

export function genBytes(size: number, seed: number): Buffer {
  const buf = Buffer.alloc(size);
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    if (i + 4 <= size) buf.writeUInt32LE(x, i);
    else for (let j = 0; i + j < size; j++) buf[i + j] = (x >>> (8 * j)) & 0xff;
  }
  return buf;
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256File(file: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Embedding a script: a second (gzipped newc cpio) archive appended to the base initramfs.
// The kernel unpacks concatenated archives in order, so /vfsd/test.sh lands in the same rootfs.

function cpioNewc(files: { name: string; mode: number; data: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 0x7000;
  const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const entry = (name: string, mode: number, data: Buffer) => {
    const fields = [ino++, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, Buffer.byteLength(name) + 1, 0];
    const header = '070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join('');
    const head = Buffer.concat([Buffer.from(header + name + '\0', 'latin1')]);
    parts.push(head, pad4(head.length), data, pad4(data.length));
  };
  for (const f of files) entry(f.name, f.mode, f.data);
  entry('TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}

function initrdWithScript(baseInitrd: string, script: string, outFile: string,
  extra: { name: string; data: Buffer; mode?: number }[] = []): void {
  const base = fs.readFileSync(baseInitrd);
  const overlay = gzipSync(cpioNewc([
    { name: 'vfsd/test.sh', mode: 0o100755, data: Buffer.from(script) },
    ...extra.map((f) => ({ name: f.name, mode: 0o100000 | (f.mode ?? 0o755), data: f.data })),
  ]));
  fs.writeFileSync(outFile, Buffer.concat([base, Buffer.alloc((4 - (base.length % 4)) % 4), overlay]));
}

// ---------------------------------------------------------------------------------------------
// Booting

const MARKER = /VFSD-(BOOTED|RESULT|DATA|SYNC|DONE)(?: (.*))?$/;
const ANSI = /\x1b(?:\[[0-9;?]*[A-Za-z]|c)/g;

export function qemuBinary(): string {
  return process.env.VFSD_QEMU ?? 'qemu-system-x86_64';
}

/** What a guest boots with: the kernel, the initramfs (with the embedded script, written into
 *  `tmp`) and the kernel command line. bootGuest hands them to QEMU, the libvirt tests to a
 *  domain's direct kernel boot. */
export interface BootFiles {
  kernel: string;
  initrd: string;
  append: string;
}

export function prepareBoot(o: Omit<BootOptions, 'socketPath'>, tmp: string): BootFiles {
  if ((o.script === undefined) === (o.scriptInShare === undefined)) {
    throw new Error('bootGuest: give exactly one of script and scriptInShare');
  }
  if (o.extraFiles?.length && o.script === undefined) throw new Error('bootGuest: extraFiles need script');
  const img = buildGuest();
  let initrd = img.initrd;
  let scriptArg: string;
  if (o.script !== undefined) {
    initrd = path.join(tmp, 'initrd.gz');
    initrdWithScript(img.initrd, o.script, initrd, o.extraFiles);
    scriptArg = 'embedded';
  } else {
    scriptArg = `share:${o.scriptInShare}`;
  }
  const append = [
    'console=ttyS0',
    'panic=-1',
    'quiet',
    'loglevel=3',
    `vfsd.tag=${o.tag}`,
    `vfsd.script=${scriptArg}`,
    ...(o.extraKernelArgs ?? []),
  ].join(' ');
  return { kernel: img.kernel, initrd, append };
}

export async function bootGuest(o: BootOptions): Promise<GuestRun> {
  for (const tag of [o.tag, ...(o.extraShares ?? []).map((x) => x.tag)]) {
    if (/[\s,]/.test(tag)) throw new Error(`bootGuest: tag must not contain spaces or commas: ${tag}`);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-guest-'));
  try {
    const boot = prepareBoot(o, tmp);
    const mem = o.memoryMiB ?? 512;
    const args = [
      '-machine', `q35,accel=${process.env.VFSD_GUEST_ACCEL ?? 'tcg'}`,
      '-m', `${mem}M`,
      '-object', `memory-backend-memfd,id=mem,size=${mem}M,share=on`,
      '-numa', 'node,memdev=mem',
      '-chardev', `socket,id=c0,path=${o.socketPath}`,
      '-device', `vhost-user-fs-pci,chardev=c0,tag=${o.tag}`,
      ...(o.extraShares ?? []).flatMap((x, i) => [
        '-chardev', `socket,id=c${i + 1},path=${x.socketPath}`,
        '-device', `vhost-user-fs-pci,chardev=c${i + 1},tag=${x.tag}`,
      ]),
      '-kernel', boot.kernel,
      '-initrd', boot.initrd,
      '-append', boot.append,
      '-nic', 'none',
      '-nographic',
      '-no-reboot',
      // Extra QEMU arguments for debugging (e.g. "-d guest_errors"), split on spaces.
      ...(process.env.VFSD_QEMU_EXTRA?.split(' ').filter(Boolean) ?? []),
    ];
    return await runQemu(args, o);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export function newGuestRun(): GuestRun {
  return { results: [], data: new Map(), console: '', exitCode: null, timedOut: false, durationMs: 0, bootMs: null, guestUptimeAtBoot: null };
}

/**
 * The console protocol, read line by line into a GuestRun: from QEMU's stdout (runQemu) or from
 * the serial log file libvirt writes (test/helpers/libvirt.ts). `onSync` gets each VFSD-SYNC
 * name; only a console the host can write to can answer it.
 */
export class ConsoleReader {
  private pending = '';

  constructor(
    private readonly run: GuestRun,
    private readonly started: number,
    private readonly onSync?: (name: string) => void,
    private readonly onLine?: (line: string) => void,
  ) {}

  feed(chunk: string): void {
    this.run.console += chunk;
    this.pending += chunk;
    let i: number;
    while ((i = this.pending.indexOf('\n')) >= 0) {
      const line = this.pending.slice(0, i).replace(/\r/g, '').replace(ANSI, '');
      this.pending = this.pending.slice(i + 1);
      this.onLine?.(line);
      if (process.env.VFSD_GUEST_DEBUG) process.stderr.write(`[guest] ${line}\n`);
      const m = MARKER.exec(line);
      if (m) this.onMarker(m[1], m[2] ?? '');
    }
  }

  /** The last line, if it had no newline. */
  flush(): void {
    if (this.pending) this.feed('\n');
  }

  private onMarker(kind: string, rest: string): void {
    const run = this.run;
    switch (kind) {
      case 'BOOTED':
        run.bootMs = Date.now() - this.started;
        run.guestUptimeAtBoot = Number.parseFloat(rest);
        break;
      case 'RESULT': {
        const m = /^(\S+) (\S+) ?(.*)$/.exec(rest);
        if (m) run.results.push({ name: m[1], ok: m[2] === 'PASS', detail: m[3].trim() });
        break;
      }
      case 'DATA': {
        const sp = rest.indexOf(' ');
        const ch = sp < 0 ? rest : rest.slice(0, sp);
        const line = sp < 0 ? '' : rest.slice(sp + 1);
        if (!run.data.has(ch)) run.data.set(ch, []);
        run.data.get(ch)!.push(line);
        break;
      }
      case 'SYNC':
        this.onSync?.(rest.trim());
        break;
      case 'DONE':
        run.exitCode = Number.parseInt(rest, 10);
        break;
    }
  }
}

/** Adds `guest/completed`: the script ran to VFSD-DONE before the deadline. */
export function finishRun(run: GuestRun, started: number, timeoutMs: number, exitStatus: string): void {
  run.durationMs = Date.now() - started;
  const completed = run.exitCode !== null && !run.timedOut;
  run.results.push({
    name: 'guest/completed',
    ok: completed,
    detail: completed
      ? `rc=${run.exitCode} boot=${run.bootMs}ms (kernel ${run.guestUptimeAtBoot}s) total=${run.durationMs}ms`
      : run.timedOut
        ? `guest killed after ${timeoutMs} ms`
        : `guest exited (${exitStatus}) before VFSD-DONE`,
  });
}

async function runQemu(args: string[], o: BootOptions): Promise<GuestRun> {
  const started = Date.now();
  const run = newGuestRun();
  const child: ChildProcess = spawn(qemuBinary(), args, { stdio: ['pipe', 'pipe', 'pipe'] });
  o.onQemu?.(child);
  const unregister = onAbnormalExit(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  child.stdin?.on('error', () => {
    // QEMU gone while we answer a sync: the exit handler reports it.
  });
  let syncChain: Promise<void> = Promise.resolve();
  const onSync = (name: string) => {
    syncChain = syncChain.then(async () => {
      try {
        await o.onSync?.(name);
      } catch (e) {
        run.results.push({ name: `host/sync-${name}`, ok: false, detail: String((e as Error)?.stack ?? e) });
      }
      child.stdin?.write(`VFSD-GO ${name}\n`);
    });
  };
  const reader = new ConsoleReader(run, started, onSync, o.onLine);
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (d: string) => reader.feed(d));
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    run.console += d;
  });
  const timeoutMs = o.timeoutMs ?? 240_000;
  const timer = setTimeout(() => {
    run.timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', () => resolve());
    });
    await syncChain;
  } finally {
    clearTimeout(timer);
    unregister();
  }
  reader.flush();
  finishRun(run, started, timeoutMs, String(child.exitCode ?? child.signalCode));
  return run;
}

/** Writes `scriptText` into the share at `relPath` and boots a guest that runs it from there. */
export async function runGuestScriptFromShare(
  sharedDir: string,
  relPath: string,
  scriptText: string,
  opts: Omit<BootOptions, 'script' | 'scriptInShare'>,
): Promise<GuestRun> {
  const file = path.join(sharedDir, relPath);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, scriptText, { mode: 0o755 });
  return bootGuest({ ...opts, scriptInShare: relPath });
}

// ---------------------------------------------------------------------------------------------
// Servers

export interface ServerOptions {
  sharedDir: string;
  socketPath: string;
  announceSubmounts?: boolean;
  xattr?: boolean;
  extraArgs?: string[];
}

export interface ServerHandle {
  name: string;
  /** Ends the server (SIGTERM, then SIGKILL) unless it already exited; removes the socket. */
  stop(): Promise<void>;
  /** Everything it printed so far. */
  log(): string;
  /** The server's process id (the bench reads its CPU time). */
  pid?: number;
}

export type ServerLauncher = (opts: ServerOptions) => Promise<ServerHandle>;

/** Starts a server process and resolves once its vhost-user socket exists. Reusable by any
 *  launcher whose server listens on --socket-path. */
export async function spawnServer(
  name: string,
  command: string,
  args: string[],
  socketPath: string,
  readyTimeoutMs = 20_000,
): Promise<ServerHandle> {
  fs.rmSync(socketPath, { force: true });
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.once('error', (e) => (output += `\nspawn error: ${e.message}\n`));
  const alive = () => child.exitCode === null && child.signalCode === null && child.pid !== undefined;
  const unregister = onAbnormalExit(() => {
    if (alive()) child.kill('SIGKILL');
  });
  const stop = async () => {
    if (alive()) {
      child.kill('SIGTERM');
      const t = setTimeout(() => alive() && child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    } else if (child.pid !== undefined) {
      await exited;
    }
    unregister();
    fs.rmSync(socketPath, { force: true });
  };
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    let isSocket = false;
    try {
      isSocket = fs.statSync(socketPath).isSocket();
    } catch {
      // not there yet
    }
    if (isSocket) break;
    if (!alive() || Date.now() > deadline) {
      await stop();
      throw new Error(`${name} did not listen on ${socketPath}: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { name, stop, log: () => output, pid: child.pid };
}

export const VIRTIOFSD = process.env.VFSD_VIRTIOFSD ?? '/usr/lib/qemu/virtiofsd';

/** The C virtiofsd from Debian's qemu-system-common (QEMU 7.2). */
export const startVirtiofsd: ServerLauncher = (o) => {
  const args = [`--socket-path=${o.socketPath}`, '-o', `source=${o.sharedDir}`, '-o', 'cache=auto'];
  if (o.announceSubmounts) args.push('-o', 'announce_submounts');
  args.push('-o', o.xattr ? 'xattr' : 'no_xattr');
  args.push(...(o.extraArgs ?? []));
  return spawnServer('virtiofsd', VIRTIOFSD, args, o.socketPath);
};

/** Every server the acceptance tests compare, by the name shown in the tables. vfsd joins here.
 *  VFSD_ACCEPT_SERVERS=name,name limits a run to some of them. */
/** vfsd itself, from this checkout's build, with the same cache mode as the peer. */
export const startVfsd: ServerLauncher = (o) => {
  const args = [path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js'),
    `--socket-path=${o.socketPath}`, `--shared-dir=${o.sharedDir}`, '--cache=auto'];
  if (!o.announceSubmounts) args.push('--no-announce-submounts');
  if (o.xattr) args.push('--xattr');
  args.push(...(o.extraArgs ?? []));
  return spawnServer('vfsd', process.execPath, args, o.socketPath);
};

export const serverLaunchers: Record<string, ServerLauncher> = {
  vfsd: startVfsd,
  virtiofsd: startVirtiofsd,
};

export function selectedServers(): [string, ServerLauncher][] {
  const only = process.env.VFSD_ACCEPT_SERVERS?.split(',').filter(Boolean);
  return Object.entries(serverLaunchers).filter(([name]) => !only || only.includes(name));
}

// ---------------------------------------------------------------------------------------------
// One session: a server on a fresh socket, one guest boot, everything stopped afterwards

export interface SessionOptions {
  launcher: ServerLauncher;
  server: Omit<ServerOptions, 'socketPath'>;
  boot: Omit<BootOptions, 'socketPath'>;
  /** Runs after the server listens and before QEMU starts (e.g. add mounts in that phase). */
  afterServerStart?: () => Promise<void> | void;
}

export interface SessionResult {
  run: GuestRun;
  serverLog: string;
}

export async function runSession(o: SessionOptions): Promise<SessionResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-sock-'));
  const socketPath = path.join(dir, 'vhost-user.sock');
  let server: ServerHandle | undefined;
  try {
    server = await o.launcher({ ...o.server, socketPath });
    await o.afterServerStart?.();
    const run = await bootGuest({ ...o.boot, socketPath });
    return { run, serverLog: server.log() };
  } finally {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Prerequisites for a real guest; a reason string when one is missing (tests skip with it). */
export function guestUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (loop mounts, virtiofsd)';
  const q = spawnSync(qemuBinary(), ['--version'], { stdio: 'ignore' });
  if (q.status !== 0) return `${qemuBinary()} not runnable (package qemu-system-x86)`;
  return undefined;
}
