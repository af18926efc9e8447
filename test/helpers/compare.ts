// Comparing what vfsd shows with what the host shows. Two shapes of comparison:
//  - the same action on a native directory and through the mount (outcome(): value or errno code),
//  - the same object seen on the host and through the mount (statView(): the stat fields a client
//    may rely on; st_dev always differs, atime/ctime may differ legitimately and are left out).
// Plus: running a script as another uid (with chosen groups) in a child process, and listing a
// directory with raw getdents64 so inode numbers from READDIR can be compared.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Test } from 'tap';
import { AT_FDCWD, C, sys } from '../../src/native/sys';
import { errnoName } from '../../src/log/errno-name';

export type Outcome<T> = { ok: true; value: T } | { ok: false; code: string };

/** Runs fn; its value, or the error's code (ENOENT...) if it threw one. */
export function outcome<T>(fn: () => T): Outcome<T> {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code !== 'string') throw e;
    return { ok: false, code };
  }
}

/** Same as outcome() for the addon's calls, which return -errno instead of throwing. */
export function sysOutcome(r: number): Outcome<number> {
  return r < 0 ? { ok: false, code: errnoName(-r) } : { ok: true, value: r };
}

export { errnoName };

/** A short text for messages: "ok" or the code. */
export const show = (o: Outcome<unknown>) => (o.ok ? 'ok' : o.code);

/** The stat fields that must be equal on the host and through the mount. */
export interface StatView {
  ino: bigint;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: bigint;
  blocks: bigint;
  rdev: number;
  mtimeNs: bigint;
}

export function statView(p: string): StatView {
  const s = fs.lstatSync(p, { bigint: true });
  return {
    ino: s.ino, mode: Number(s.mode), nlink: Number(s.nlink), uid: Number(s.uid), gid: Number(s.gid),
    size: s.size, blocks: s.blocks, rdev: Number(s.rdev), mtimeNs: s.mtimeNs,
  };
}

/** statView without the fields that legitimately differ between two separate objects
 *  (for comparing an object made natively with its twin made through the mount). */
export function shapeView(p: string): Omit<StatView, 'ino' | 'mtimeNs'> {
  const { ino, mtimeNs, ...rest } = statView(p);
  void ino; void mtimeNs;
  return rest;
}

/** The few tap assertions the helpers use. */
export type Asserts = Pick<Test, 'ok' | 'same' | 'equal'>;

/** The object at mountPath looks exactly like hostPath (stat fields, and file contents). */
export function sameAsHost(t: Asserts, mountPath: string, hostPath: string, what: string): void {
  const m = outcome(() => statView(mountPath));
  const h = outcome(() => statView(hostPath));
  t.same(jsonable(m), jsonable(h), `${what}: stat through the mount equals the host's`);
  if (m.ok && h.ok && (m.value.mode & C.S_IFMT) === C.S_IFREG) {
    t.ok(fs.readFileSync(mountPath).equals(fs.readFileSync(hostPath)), `${what}: same contents`);
  }
}

/** bigint-free copy for tap's deep comparison and readable diffs */
export function jsonable(v: unknown): unknown {
  if (v === undefined) return undefined;
  return JSON.parse(JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x)));
}

/** Runs the same action in two roots (a native directory and one through the mount) and
 *  asserts the same outcome; `norm` maps a value to what must be equal (default: itself). */
export function sameOutcome<T>(
  t: Asserts, nativeRoot: string, mountRoot: string, what: string,
  fn: (root: string) => T, norm: (v: T) => unknown = (v) => v,
): { native: Outcome<T>; mount: Outcome<T> } {
  const native = outcome(() => fn(nativeRoot));
  const mount = outcome(() => fn(mountRoot));
  const view = (o: Outcome<T>) => (o.ok ? { ok: true, value: jsonable(norm(o.value)) } : o);
  t.same(view(mount), view(native), `${what}: ${show(native)} natively, ${show(mount)} through vfsd`);
  return { native, mount };
}

// ---------------------------------------------------------------------------------------------
// Another uid

export interface Identity {
  uid: number;
  gid: number;
  /** supplementary groups (default: none) */
  groups?: number[];
}

/**
 * Runs `fn(arg)` in a fresh node process as `id` and returns its JSON result. fn is serialised
 * with toString(), so it must be self-contained (require what it needs inside). Errors thrown
 * inside fn with a `code` come back as { error: code }.
 */
export function runAs<A, R>(id: Identity, fn: (arg: A) => R, arg: A): R | { error: string } {
  const script = `
    const id = JSON.parse(process.argv[1]);
    process.setgroups(id.groups || []);
    process.setgid(id.gid);
    process.setuid(id.uid);
    let r;
    try { r = (${fn.toString()})(JSON.parse(process.argv[2])); }
    catch (e) { if (!e || typeof e.code !== 'string') throw e; r = { error: e.code }; }
    process.stdout.write(JSON.stringify(r === undefined ? null : r));
  `;
  const p = spawnSync(process.execPath, ['-e', script, JSON.stringify(id), JSON.stringify(arg)], { encoding: 'utf8', timeout: 60000 });
  if (p.status !== 0) throw new Error(`runAs(${JSON.stringify(id)}) failed (${p.status} ${p.signal ?? ''}): ${p.stderr}`);
  return JSON.parse(p.stdout) as R;
}

/** Runs the same unprivileged action in the native root and the mount root; asserts the same result. */
export function sameAs<R>(t: Asserts, id: Identity, nativeRoot: string, mountRoot: string, what: string, fn: (root: string) => R): { native: R | { error: string }; mount: R | { error: string } } {
  const native = runAs(id, fn, nativeRoot);
  const mount = runAs(id, fn, mountRoot);
  t.same(mount, native, `${what} as uid ${id.uid}: ${JSON.stringify(native)} natively, ${JSON.stringify(mount)} through vfsd`);
  return { native, mount };
}

// ---------------------------------------------------------------------------------------------
// Raw directory listing

/** Every entry of `dir` (without . and ..) with the inode number getdents64 reports.
 *  afterBatch, if given, runs after each getdents64 call with the last name it returned. */
export function getdents(dir: string, afterBatch?: (lastName: string) => void): Map<string, bigint> {
  const fd = sys.openat(AT_FDCWD, dir, C.O_RDONLY | C.O_DIRECTORY, 0);
  if (fd < 0) throw new Error(`open ${dir}: ${errnoName(-fd)}`);
  const buf = Buffer.alloc(256 * 1024);
  const out = new Map<string, bigint>();
  try {
    for (;;) {
      const n = sys.getdents64(fd, buf);
      if (n < 0) throw new Error(`getdents64 ${dir} after ${out.size} entries: ${errnoName(-n)}`);
      if (n === 0) break;
      let last: string | null = null;
      // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
      for (let p = 0; p < n;) {
        const ino = buf.readBigUInt64LE(p);
        const reclen = buf.readUInt16LE(p + 16);
        const nameEnd = buf.indexOf(0, p + 19);
        const name = buf.toString('utf8', p + 19, nameEnd);
        if (name !== '.' && name !== '..') {
          out.set(name, ino);
          last = name;
        }
        p += reclen;
      }
      if (last !== null && afterBatch) afterBatch(last);
    }
  } finally {
    sys.close(fd);
  }
  return out;
}

/** Names and contents of a tree (files: content, dirs: '/', symlinks: '-> target'). */
export function treeOf(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = path.join(dir, r);
      const st = fs.lstatSync(p);
      if (st.isDirectory()) {
        out[r] = '/';
        walk(r);
      } else if (st.isSymbolicLink()) {
        out[r] = '-> ' + fs.readlinkSync(p);
      } else if (st.isFile()) {
        out[r] = fs.readFileSync(p, 'utf8');
      } else {
        out[r] = `special ${st.mode.toString(8)}`;
      }
    }
  };
  walk('');
  return out;
}
