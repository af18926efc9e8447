// A host export spanning several devices, and vfsd serving it over /dev/fuse as a child process,
// for the multidevs and share-state integration tests (root only). The export holds:
//   p, p2          a file and its hard link, on the export root's own device
//   d/q            a file in a plain directory of the root device
//   t1/, t2/       two tmpfs mounts; t1/f and t2/f get the same host inode number (each tmpfs
//                  numbers from the same start), t1/f2 is a hard link of t1/f
//   bt/            a btrfs on a loop device (sparse image), with bt/h, bt/hl (hard link of h)
//   bt/sub/        a btrfs subvolume reached as a plain directory (own st_dev, no mountinfo entry),
//                  with sub/g: same host inode number as bt/h (every subvolume numbers from 256)
//   bound          a file bind-mounted from a tmpfs outside the export
// Every mount, loop device and vfsd process is undone in teardown, also when the test failed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import { AT_FDCWD, sys, C } from '../../src/native/sys';

export const isRoot = process.geteuid?.() === 0;
export const MAIN = path.resolve(__dirname, '../../src/cli/main.js');

interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

export function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

export function isMounted(p: string): boolean {
  const want = path.resolve(p);
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === want);
}

/** Unmount (lazily, so a dead FUSE connection or a busy tree cannot keep it) if mounted. */
export function unmountIfMounted(p: string): void {
  for (let i = 0; i < 4 && isMounted(p); i++) sys.umount2(path.resolve(p), C.MNT_DETACH);
}

export interface EnvOptions {
  btrfs?: boolean;
}

export class MultidevsEnv {
  readonly base: string;
  readonly src: string;
  readonly mnt: string;
  readonly image: string;
  loop: string | null = null;
  /** Mount points in mount order; unmounted in reverse. */
  private readonly mounts: string[] = [];
  private readonly loops = new Set<string>();
  readonly procs = new Set<Vfsd>();

  constructor(t: Teardown, opts: EnvOptions = {}) {
    this.base = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-mdt-'));
    this.src = path.join(this.base, 'src');
    this.mnt = path.join(this.base, 'mnt');
    this.image = path.join(this.base, 'btrfs.img');
    t.teardown(() => this.destroy());
    fs.mkdirSync(this.src);
    fs.mkdirSync(this.mnt);
    this.build(opts);
  }

  path(rel: string): string {
    return path.join(this.src, rel);
  }

  via(rel: string): string {
    return rel === '.' ? this.mnt : path.join(this.mnt, rel);
  }

  mount(args: string[], target: string): void {
    sh('mount', [...args, target]);
    this.mounts.push(target);
  }

  /** A new tmpfs at src/REL, with a file f (host ino as in every fresh tmpfs). */
  addTmpfs(rel: string, content = rel): void {
    const dir = this.path(rel);
    fs.mkdirSync(dir, { recursive: true });
    this.mount(['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs'], dir);
    fs.writeFileSync(path.join(dir, 'f'), content);
  }

  private build(opts: EnvOptions): void {
    fs.writeFileSync(this.path('p'), 'plain');
    fs.linkSync(this.path('p'), this.path('p2'));
    fs.mkdirSync(this.path('d'));
    fs.writeFileSync(this.path('d/q'), 'q');

    this.addTmpfs('t1', 'one');
    fs.linkSync(this.path('t1/f'), this.path('t1/f2'));
    this.addTmpfs('t2', 'two');

    const outside = path.join(this.base, 'outside');
    fs.mkdirSync(outside);
    this.mount(['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs'], outside);
    fs.writeFileSync(path.join(outside, 'bf'), 'bound from outside');
    fs.writeFileSync(this.path('bound'), 'covered');
    this.mount(['--bind', path.join(outside, 'bf')], this.path('bound'));

    if (opts.btrfs) {
      // 114 MiB is mkfs.btrfs's minimum for the default profiles; a sparse file costs nothing.
      fs.writeFileSync(this.image, '');
      fs.truncateSync(this.image, 128 * 1024 * 1024);
      sh('mkfs.btrfs', ['-q', '-f', this.image]);
      fs.mkdirSync(this.path('bt'));
      this.mountBtrfs();
      fs.writeFileSync(this.path('bt/h'), 'h');
      fs.linkSync(this.path('bt/h'), this.path('bt/hl'));
      sh('btrfs', ['-q', 'subvolume', 'create', this.path('bt/sub')]);
      fs.writeFileSync(this.path('bt/sub/g'), 'g');
    }
  }

  attachLoop(): string {
    const dev = sh('losetup', ['-f', '--show', this.image]).trim();
    this.loops.add(dev);
    return dev;
  }

  detachLoop(dev: string): void {
    sh('losetup', ['-d', dev]);
    this.loops.delete(dev);
  }

  mountBtrfs(): void {
    this.loop = this.attachLoop();
    this.mount([this.loop], this.path('bt'));
  }

  /** Unmount the btrfs and detach its loop device; mount it again on another loop device (a
   *  placeholder takes the freed one, so the kernel cannot hand the same device back). */
  remountBtrfsElsewhere(): { before: string; after: string } {
    const before = this.loop!;
    this.unmount(this.path('bt'));
    this.detachLoop(before);
    const filler = path.join(this.base, 'filler.img');
    fs.writeFileSync(filler, Buffer.alloc(1024 * 1024));
    const fillerDev = sh('losetup', ['-f', '--show', filler]).trim();
    this.loops.add(fillerDev);
    this.mountBtrfs();
    this.detachLoop(fillerDev);
    return { before, after: this.loop! };
  }

  unmount(target: string): void {
    sh('umount', [target]);
    const i = this.mounts.lastIndexOf(target);
    if (i >= 0) this.mounts.splice(i, 1);
  }

  async destroy(): Promise<void> {
    for (const p of this.procs) await p.kill();
    unmountIfMounted(this.mnt);
    for (const m of [...this.mounts].reverse()) unmountIfMounted(m);
    for (const l of this.loops) spawnSync('losetup', ['-d', l]);
    fs.rmSync(this.base, { recursive: true, force: true });
  }

  start(args: string[]): Promise<Vfsd> {
    const v = new Vfsd(this, args);
    this.procs.add(v);
    return v.ready();
  }
}

export interface LogLine {
  level: string;
  msg: string;
  [k: string]: unknown;
}

/** vfsd as a child process serving env.src on env.mnt. */
export class Vfsd {
  readonly proc: ChildProcess;
  readonly stderrLines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private buf = '';

  constructor(private readonly env: MultidevsEnv, args: string[]) {
    this.proc = spawn(process.execPath, [MAIN, '--shared-dir', env.src, '--mount', env.mnt, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.buf += d.toString();
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        this.stderrLines.push(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
      }
    });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => {
      if (this.buf) this.stderrLines.push(this.buf);
      this.buf = '';
      resolve({ code, signal });
    }));
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Resolves once the mount serves (its root answers stat); rejects if vfsd exits first. */
  async ready(): Promise<Vfsd> {
    for (let i = 0; i < 200; i++) {
      if (!this.running) throw new Error(`vfsd exited before serving:\n${this.stderrLines.join('\n')}`);
      if (this.logs().some((l) => l.msg === 'serving') && isMounted(this.env.mnt)) return this;
      await sleep(25);
    }
    throw new Error(`vfsd did not start serving:\n${this.stderrLines.join('\n')}`);
  }

  logs(): LogLine[] {
    const out: LogLine[] = [];
    for (const l of this.stderrLines) {
      try {
        out.push(JSON.parse(l));
      } catch {
        /* not a JSON line */
      }
    }
    return out;
  }

  warnings(): string[] {
    return this.logs().filter((l) => l.level === 'warn').map((l) => l.msg);
  }

  /** SIGTERM and wait: vfsd unmounts and saves its state. */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.proc.kill('SIGTERM');
    const r = await withTimeout(this.exited, 10000, 'vfsd did not exit on SIGTERM');
    this.env.procs.delete(this);
    return r;
  }

  /** SIGKILL and wait; the dead connection's mount is detached. */
  async kill(): Promise<void> {
    if (this.running) this.proc.kill('SIGKILL');
    await withTimeout(this.exited, 10000, 'vfsd did not die on SIGKILL').catch(() => {});
    unmountIfMounted(this.env.mnt);
    this.env.procs.delete(this);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function withTimeout<T>(p: Promise<T>, ms: number, msg: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, rej) => { timer = setTimeout(() => rej(new Error(msg)), ms); })]).finally(() => clearTimeout(timer));
}

/** st_ino of every object below root (root included), by path relative to root; lstat, exact.
 *  reverse: visit names in reverse order, so another path of an object is looked up first. */
export function walkInos(root: string, reverse = false): Map<string, bigint> {
  const out = new Map<string, bigint>();
  const visit = (rel: string) => {
    const p = rel === '.' ? root : path.join(root, rel);
    const st = fs.lstatSync(p, { bigint: true });
    out.set(rel, u64(st.ino));
    if (st.isDirectory()) for (const name of (reverse ? fs.readdirSync(p).sort().reverse() : fs.readdirSync(p).sort())) visit(rel === '.' ? name : path.join(rel, name));
  };
  visit('.');
  return out;
}

/** Node's bigint stats hold st_ino as a signed 64-bit value: numbers >= 2^63 come out negative. */
export const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);

export const lstatIno = (p: string): bigint => u64(fs.lstatSync(p, { bigint: true }).ino);

/** st_ino as STATX reports it (raw statx(2), not through Node's fs). */
export function statxIno(p: string): bigint {
  const buf = Buffer.alloc(256);
  const r = sys.statx(AT_FDCWD, p, C.AT_SYMLINK_NOFOLLOW, C.STATX_BASIC_STATS, buf);
  if (r < 0) throw new Error(`statx ${p}: errno ${-r}`);
  return buf.readBigUInt64LE(32);
}

/** The d_ino getdents64(2) gives for each entry of a directory (. and .. left out). */
export function direntInos(dir: string): Map<string, bigint> {
  const fd = sys.openat(AT_FDCWD, dir, C.O_RDONLY | C.O_DIRECTORY, 0);
  if (fd < 0) throw new Error(`open ${dir}: errno ${-fd}`);
  const out = new Map<string, bigint>();
  try {
    const buf = Buffer.alloc(32768);
    for (;;) {
      const n = sys.getdents64(fd, buf);
      if (n < 0) throw new Error(`getdents64 ${dir}: errno ${-n}`);
      if (n === 0) break;
      for (let off = 0; off < n;) {
        const ino = buf.readBigUInt64LE(off);
        const reclen = buf.readUInt16LE(off + 16);
        const nameStart = off + 19;
        const nul = buf.indexOf(0, nameStart);
        const name = buf.subarray(nameStart, nul).toString();
        if (name !== '.' && name !== '..') out.set(name, ino);
        off += reclen;
      }
    }
  } finally {
    sys.close(fd);
  }
  return out;
}

/** errno name of a failing call, or 'ok'. */
export function errnoOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

/** Evict unused dentries and inodes: the kernel FORGETs them, the next access LOOKUPs again. */
export function dropCaches(): void {
  fs.writeFileSync('/proc/sys/vm/drop_caches', '2');
}
