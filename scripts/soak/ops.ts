// The soak's operations: a seeded generator of random file-system operations on one client's own
// names, and an executor that runs one on a given root (the vfsd mount or the native twin) and
// returns what a program would observe (errno code, returned data), so the two can be compared.
//
// Determinism: a client only ever touches its own subtree `c<N>/` and names `x/c<N>-*` in the
// shared directory `x/` (cross-directory renames and links into a directory all clients write).
// Symlinks are made so that following them stays in those names too (see targets()).
// No other client can change what its operations see, so the same op on the mount and on the twin
// must give the same result, whatever the interleaving between clients. The generator never looks
// at results: a client's op stream is a pure function of (seed, client), so a seed replays it.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { constants as osc } from 'node:os';
import { sys } from '../../src/native/sys';
import { prng } from '../../test/helpers/faults';

export { prng };


export type Op =
  | { op: 'create'; p: string; mode: number; excl: boolean; trunc: boolean }
  | { op: 'write'; p: string; off: number; len: number; seed: number; fsync: boolean }
  | { op: 'read'; p: string; off: number; len: number }
  | { op: 'truncate'; p: string; len: number }
  | { op: 'rename'; p: string; to: string }
  | { op: 'link'; p: string; to: string }
  | { op: 'symlink'; target: string; p: string }
  | { op: 'readlink'; p: string }
  | { op: 'mkdir'; p: string; mode: number }
  | { op: 'rmdir'; p: string }
  | { op: 'rmtree'; p: string }
  | { op: 'unlink'; p: string }
  | { op: 'chmod'; p: string; mode: number }
  | { op: 'setxattr'; p: string; name: string; value: string }
  | { op: 'getxattr'; p: string; name: string }
  | { op: 'readdir'; p: string }
  | { op: 'stat'; p: string };

/** What one operation returned: ok with data, or the errno code. */
export type Outcome = { ok: true; data?: unknown } | { ok: false; code: string };

const DIRS = ['', 'd0', 'd1', 'd2', 'd0/d0', 'd0/d1', 'd1/d2'];
const NAMES = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5', 'd0', 'd1', 'd2'];
const MODES = [0o600, 0o644, 0o640, 0o700, 0o755, 0o444];
/** Symlink targets. Following a link must stay in names this client owns, wherever the link sits
 *  now or is renamed to later (ops follow links: O_CREAT through a dangling link creates its
 *  target, chmod through a link to a directory changes that directory); otherwise two clients
 *  could meet there and their interleaving would decide the results. So every target either names
 *  the client (`c<N>-...` in the shared dir, `../c<N>` from any depth stays under c<N> or is c<N>),
 *  cannot exist (`d0/n2` below the shared dir, absolute /nonexistent), or stays in the subtree. */
function targets(client: number): string[] {
  return [`c${client}-n0`, 'd0/n2', `../c${client}`, '/nonexistent/soak', `../c${client}/n1`, `../c${client}/d0/n2`];
}
export const SHARED = 'x';

const WEIGHTS: [Op['op'], number][] = [
  ['create', 10], ['write', 14], ['read', 12], ['truncate', 5], ['rename', 8], ['link', 4], ['symlink', 4],
  ['readlink', 4], ['mkdir', 7], ['rmdir', 5], ['unlink', 7], ['chmod', 4], ['setxattr', 3], ['getxattr', 3],
  ['readdir', 6], ['stat', 6],
  // Renames park directories where no generated path reaches any more; without a prune now and
  // then the tree (and every full compare) would grow for the whole run.
  ['rmtree', 1],
];

export class OpGenerator {
  private readonly rnd: () => number;
  private readonly total: number;

  constructor(seed: number, readonly client: number, private readonly xattrs: boolean) {
    this.rnd = prng((seed ^ Math.imul(client + 1, 0x9e3779b1)) >>> 0);
    this.total = WEIGHTS.reduce((a, [, w]) => a + w, 0);
  }

  private int(n: number): number {
    return Math.floor(this.rnd() * n);
  }

  private pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }

  /** A path this client owns: mostly in its subtree, sometimes its names in the shared dir. */
  path(): string {
    if (this.rnd() < 0.15) return `${SHARED}/c${this.client}-${this.pick(NAMES)}`;
    const d = this.pick(DIRS);
    return path.posix.join(`c${this.client}`, d, this.pick(NAMES));
  }

  /** The client's own directories (readdir targets). */
  dir(): string {
    if (this.rnd() < 0.1) return SHARED;
    return path.posix.join(`c${this.client}`, this.pick(DIRS));
  }

  next(): Op {
    let r = this.int(this.total);
    let kind: Op['op'] = 'stat';
    for (const [k, w] of WEIGHTS) {
      if (r < w) { kind = k; break; }
      r -= w;
    }
    if (!this.xattrs && (kind === 'setxattr' || kind === 'getxattr')) kind = 'stat';
    const p = this.path();
    switch (kind) {
      case 'create': return { op: kind, p, mode: this.pick(MODES) | 0o200, excl: this.rnd() < 0.3, trunc: this.rnd() < 0.3 };
      case 'write': return { op: kind, p, off: this.int(4) === 0 ? 0 : this.int(300_000), len: 1 + this.int(this.rnd() < 0.2 ? 300_000 : 16_384), seed: this.int(2 ** 31), fsync: this.rnd() < 0.1 };
      case 'read': return { op: kind, p, off: this.int(4) === 0 ? 0 : this.int(300_000), len: 1 + this.int(200_000) };
      case 'truncate': return { op: kind, p, len: this.int(3) === 0 ? 0 : this.int(400_000) };
      case 'rename': return { op: kind, p, to: this.path() };
      case 'link': return { op: kind, p, to: this.path() };
      case 'symlink': return { op: kind, target: this.pick(targets(this.client)), p };
      case 'readlink': return { op: kind, p };
      case 'mkdir': return { op: kind, p, mode: this.pick(MODES) | 0o700 };
      case 'rmdir': return { op: kind, p };
      case 'rmtree': return { op: kind, p: this.rnd() < 0.5 ? p : path.posix.join(`c${this.client}`, this.pick(DIRS.slice(1))) };
      case 'unlink': return { op: kind, p };
      case 'chmod': return { op: kind, p, mode: this.pick(MODES) | (this.rnd() < 0.5 ? 0o700 : 0o200) };
      case 'setxattr': return { op: kind, p, name: `user.soak${this.int(3)}`, value: `v${this.int(1000)}`.repeat(1 + this.int(20)) };
      case 'getxattr': return { op: kind, p, name: `user.soak${this.int(3)}` };
      case 'readdir': return { op: kind, p: this.dir() };
      case 'stat': return { op: kind, p };
    }
  }
}

/** Deterministic bytes for a write. */
export function bytes(len: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  const r = prng(seed);
  let i = 0;
  for (; i + 4 <= len; i += 4) b.writeUInt32LE((r() * 4294967296) >>> 0, i);
  for (; i < len; i++) b[i] = (r() * 256) & 0xff;
  return b;
}

const ERRNO_NAME = new Map<number, string>(Object.entries(osc.errno).map(([k, v]) => [v as number, k]));

function nativeResult(rc: number): Outcome | null {
  return rc < 0 ? { ok: false, code: ERRNO_NAME.get(-rc) ?? `errno ${-rc}` } : null;
}

function typeOf(st: fs.Stats): string {
  return st.isFile() ? 'f' : st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : '?';
}

/** One operation on `root`, as a program sees it. Never throws for an errno. */
export function execute(root: string, op: Op, client: number): Outcome {
  const at = (p: string) => path.join(root, p);
  try {
    switch (op.op) {
      case 'create': {
        const flags = fs.constants.O_CREAT | fs.constants.O_WRONLY | (op.excl ? fs.constants.O_EXCL : 0) | (op.trunc ? fs.constants.O_TRUNC : 0);
        fs.closeSync(fs.openSync(at(op.p), flags, op.mode));
        return { ok: true };
      }
      case 'write': {
        const fd = fs.openSync(at(op.p), fs.constants.O_WRONLY);
        try {
          const n = fs.writeSync(fd, bytes(op.len, op.seed), 0, op.len, op.off);
          if (op.fsync) fs.fsyncSync(fd);
          return { ok: true, data: n };
        } finally {
          fs.closeSync(fd);
        }
      }
      case 'read': {
        const fd = fs.openSync(at(op.p), fs.constants.O_RDONLY);
        try {
          const buf = Buffer.alloc(op.len);
          let n = 0;
          // Read until the length or EOF: one read(2) may legitimately return less.
          for (let k; n < op.len && (k = fs.readSync(fd, buf, n, op.len - n, op.off + n)) > 0; ) n += k;
          return { ok: true, data: `${n}:${createHash('sha256').update(buf.subarray(0, n)).digest('hex').slice(0, 16)}` };
        } finally {
          fs.closeSync(fd);
        }
      }
      case 'truncate': fs.truncateSync(at(op.p), op.len); return { ok: true };
      case 'rename': fs.renameSync(at(op.p), at(op.to)); return { ok: true };
      case 'link': fs.linkSync(at(op.p), at(op.to)); return { ok: true };
      case 'symlink': fs.symlinkSync(op.target, at(op.p)); return { ok: true };
      case 'readlink': return { ok: true, data: fs.readlinkSync(at(op.p)) };
      case 'mkdir': fs.mkdirSync(at(op.p), op.mode); return { ok: true };
      case 'rmdir': fs.rmdirSync(at(op.p)); return { ok: true };
      // rm -r: never follows a symlink, so it stays in the client's names.
      case 'rmtree': fs.rmSync(at(op.p), { recursive: true }); return { ok: true };
      case 'unlink': fs.unlinkSync(at(op.p)); return { ok: true };
      case 'chmod': fs.chmodSync(at(op.p), op.mode); return { ok: true };
      case 'setxattr': return nativeResult(sys.setxattr(at(op.p), op.name, Buffer.from(op.value), 0, true)) ?? { ok: true };
      case 'getxattr': {
        const buf = Buffer.alloc(65536);
        const n = sys.getxattr(at(op.p), op.name, buf, true);
        return nativeResult(n) ?? { ok: true, data: buf.subarray(0, n).toString('latin1') };
      }
      case 'readdir': {
        let names = fs.readdirSync(at(op.p));
        // The shared directory holds the other clients' names too: only ours are determined.
        if (op.p === SHARED) names = names.filter((n) => n.startsWith(`c${client}-`));
        return { ok: true, data: names.sort() };
      }
      case 'stat': {
        const st = fs.lstatSync(at(op.p));
        // Directory sizes depend on the host fs's block allocation history, not on vfsd.
        return { ok: true, data: { type: typeOf(st), mode: (st.mode & 0o7777).toString(8), nlink: st.nlink, size: st.isDirectory() ? null : st.size } };
      }
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return { ok: false, code };
    throw e;
  }
}

export function describe(op: Op): string {
  const { op: kind, ...rest } = op;
  return `${kind} ${JSON.stringify(rest)}`;
}
