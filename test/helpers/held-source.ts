// A host filesystem that blocks on demand, for the worker-pool tests: a FUSE mount of our own stub
// engine (served by this test process) with one regular file, `slow`, whose FSYNC (and, if
// asked, READ) requests are held until the test releases them. For the metadata tests it also
// has, in every directory, the names `held*` (a regular file each, `helddir*` a directory, one
// inode per name) whose LOOKUP — and, if asked, the GETATTR of their inodes — is held likewise,
// and `lag*`, whose LOOKUP is answered LAG_MS later by a timer (a source measurably slow, with
// nothing for the test to release). Their entries can be unlinked (`helddir*`: removed with
// RMDIR) and renamed, through the mount — UNLINK, RMDIR and RENAME of a `held*` name held too, if
// asked — or behind its back (hostUnlink/hostRename: the host changing under a held request); a
// `heldnew*` name exists only once MKDIR or CREATE (held too, if asked) made it; and every
// LOOKUP of them answered is logged (answers()): what the source said, to compare vfsd's answer with. A process that fsyncs `slow` —
// or vfsd doing it for a client — waits inside the kernel exactly as on a disk that takes its
// time: the real blocking a network filesystem or a cold disk does, without timing tricks.
// Everything this process does on the mount goes through async calls or child processes: this
// thread serves the stub, a synchronous call on the mount would deadlock.
// Locks reach the source (it offers POSIX_LOCKS and FLOCK_LOCKS): GETLK finds none, a lock on a
// `heldbusy*` file is always taken (EAGAIN), any other is granted; held too, if asked, on the
// named inodes, as their OPEN (an open of a new lock owner's description). LSEEK answers data
// at the offset asked and a hole a page after it (held too, if asked). For the directory tests the root also has `list` (a directory of LIST_NAMES, regular files)
// and `link` (a symlink to LINK_TARGET); READDIR (of any directory), READLINK and STATFS (fixed
// STATFS numbers) are held like the others when asked. It offers EXPORT_SUPPORT: a named inode's
// file handle opens it again once the kernel let it go (a LOOKUP of "." in it, holdable too).
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FuseDevTransport } from '../../src/transport/fuse-dev';
import type { RequestChannel } from '../../src/native/channel';
import { InitFlag } from '../../src/protocol/flags';
import { direntSize, writeDirent, writeStatfsOut, type Statfs } from '../../src/protocol/reply';
import { OP, attr, lookupName, replyAttr, replyEntry, replyInit, replyOk, replyOpen, serve, tempDir, type Request, oneFileHandlers } from '../fixtures/stub-engine';
import { isMounted } from './mountinfo';

export const FSYNC = 20;
const FILE = 2;
/** how long a LOOKUP of a `lag*` name takes */
export const LAG_MS = 20;
const FIRST_NAMED_INO = 100;
const ENOENT = 2;
const ENODATA = 61;
const ENOTDIR = 20;
const EISDIR = 21;
const EEXIST = 17;
/** The name after a request's fixed-size struct (MKDIR: fuse_mkdir_in, CREATE: fuse_create_in). */
const nameAfter = (req: Request, structSize: number) => req.body.subarray(structSize).toString().split('\0')[0];
const isHeld = (name: string) => name.startsWith('held');
const XATTR_OPS: number[] = [OP.GETXATTR, OP.LISTXATTR, OP.SETXATTR, OP.REMOVEXATTR];
const LOCK_OPS: number[] = [OP.GETLK, OP.SETLK, OP.SETLKW];
const EAGAIN = 11;
const F_UNLCK = 2;
const SEEK_HOLE = 4;
const isNamed = (name: string) => isHeld(name) || name.startsWith('lag');

const LIST_DIR = 3;
const LINK = 4;
const FIRST_LISTED_INO = 1000;
/** The names in `list`: enough for several READDIRs (a page each) and several of vfsd's refills. */
export const LIST_NAMES = Array.from({ length: 600 }, (_, i) => `entry-${String(i).padStart(4, '0')}-${'x'.repeat(i % 40)}`);
export const LINK_TARGET = 'somewhere/else/entirely';
/** What the source's STATFS answers. */
export const STATFS: Statfs = { blocks: 123456, bfree: 65432, bavail: 54321, files: 9999, ffree: 8888, bsize: 4096, namelen: 200, frsize: 4096 };

/** The root's `list` and `link`, and the entries of `list`: LOOKUP, GETATTR, READDIR, READLINK. */
function listHandlers(): { lookup(parent: number, name: string): Buffer | null; attrOf(ino: number): Buffer | null; readdir(req: Request, ch: RequestChannel): void; readlink(req: Request, ch: RequestChannel): void } {
  const listed = new Map(LIST_NAMES.map((n, i) => [n, FIRST_LISTED_INO + i]));
  const attrOf = (ino: number): Buffer | null => {
    if (ino === LIST_DIR) return attr({ ino, mode: 0o40755, nlink: 2 });
    if (ino === LINK) return attr({ ino, mode: 0o120777, size: LINK_TARGET.length });
    if (ino >= FIRST_LISTED_INO && ino < FIRST_LISTED_INO + LIST_NAMES.length) return attr({ ino, mode: 0o100644 });
    return null;
  };
  return {
    lookup: (parent, name) => {
      const ino = parent === 1 ? (name === 'list' ? LIST_DIR : name === 'link' ? LINK : 0) : parent === LIST_DIR ? listed.get(name) ?? 0 : 0;
      return ino ? attrOf(ino) : null;
    },
    attrOf,
    readdir: (req, ch) => {
      // fuse_read_in { fh, offset, size }: entries from ordinal `offset`, as many as fit.
      const offset = Number(req.body.readBigUInt64LE(8));
      const size = req.body.readUInt32LE(16);
      const names = req.nodeid === BigInt(LIST_DIR) ? ['.', '..', ...LIST_NAMES] : ['.', '..'];
      const out = Buffer.alloc(16 + size);
      let pos = 16;
      for (let i = offset; i < names.length; i++) {
        const name = Buffer.from(names[i]);
        if (pos + direntSize(name.length) > out.length) break;
        const ino = i < 2 ? Number(req.nodeid) : FIRST_LISTED_INO + i - 2;
        pos = writeDirent(out, pos, ino, i + 1, i < 2 ? 4 : 8, name);
      }
      ch.reply(req.token, out, pos);
    },
    readlink: (req, ch) => {
      if (req.nodeid !== BigInt(LINK)) return ch.replyError(req.token, 22 /* EINVAL */);
      const out = Buffer.concat([Buffer.alloc(16), Buffer.from(LINK_TARGET)]);
      ch.reply(req.token, out, out.length);
    },
  };
}

/** A LOOKUP of a `held*`/`lag*` name, as the source answered it: its inode, or -errno. */
export interface Answer { parent: number; name: string; ino: number }
/** The bytes `slow` holds (a READ is answered from them). */
export const SLOW_SIZE = 64 * 1024;
export const slowByte = (i: number): number => (i * 7 + 3) & 0xff;

export interface HeldSource {
  /** the mount point (export it, or open `slow` in it) */
  dir: string;
  /** path of the file whose held requests wait */
  slow: string;
  /** requests held so far and not released, by opcode */
  held(op: number): number;
  /** answers every held request of op (FSYNC: success; READ: the file's bytes; LOOKUP and
   *  GETATTR: as the names are now); `pass`: and stop holding op (until hold(op)) */
  release(op: number, pass?: boolean): void;
  /** hold the requests of op from now on */
  hold(op: number): void;
  /** every LOOKUP of a `held*`/`lag*` name answered so far, in order */
  answers(): Answer[];
  /** the host removes or renames a name (in directory inode `parent`) behind the mount's back */
  hostUnlink(name: string, parent?: number): void;
  hostRename(from: string, to: string, parent?: number): void;
}

/** The `held*`/`lag*` names: one inode per name, created on first sight unless removed; a
 *  `heldnew*` name only once MKDIR or CREATE made it. */
class Names {
  private readonly inos = new Map<string, number>();
  private readonly removed = new Set<string>();
  private readonly made = new Set<string>();
  readonly dirs = new Set<number>();
  private readonly busy = new Set<number>();
  private next = FIRST_NAMED_INO;

  /** the inode `name` in `parent` names now, or 0 */
  get(parent: number, name: string): number {
    const k = `${parent}/${name}`;
    if (this.removed.has(k) || !isNamed(name) || (name.startsWith('heldnew') && !this.made.has(k))) return 0;
    let ino = this.inos.get(k);
    if (ino === undefined) {
      ino = this.next++;
      this.inos.set(k, ino);
      if (name.startsWith('helddir')) this.dirs.add(ino);
      if (name.startsWith('heldbusy')) this.busy.add(ino);
    }
    return ino;
  }

  /** whether inode ino is (was first seen as) a `heldbusy*` name: its locks are always taken */
  isBusy(ino: number): boolean {
    return this.busy.has(ino);
  }

  /** MKDIR (dir true) or CREATE: the new inode, or -EEXIST */
  make(parent: number, name: string, dir: boolean): number {
    if (this.get(parent, name)) return -EEXIST;
    const k = `${parent}/${name}`;
    this.made.add(k);
    this.removed.delete(k);
    const ino = this.get(parent, name);
    if (dir) this.dirs.add(ino);
    return ino;
  }

  /** LINK: `name` in `parent` names inode ino too */
  link(parent: number, name: string, ino: number): number {
    if (this.get(parent, name)) return -EEXIST;
    const k = `${parent}/${name}`;
    this.made.add(k);
    this.removed.delete(k);
    this.inos.set(k, ino);
    return ino;
  }

  /** UNLINK (dir false), RMDIR (dir true) or the host removing it (dir undefined) */
  unlink(parent: number, name: string, dir?: boolean): number {
    const ino = this.get(parent, name);
    if (!ino) return -ENOENT;
    if (dir !== undefined && dir !== this.dirs.has(ino)) return dir ? -ENOTDIR : -EISDIR;
    this.removed.add(`${parent}/${name}`);
    return 0;
  }

  rename(parent: number, from: string, newParent: number, to: string): number {
    const ino = this.get(parent, from);
    if (!ino || !isNamed(to)) return -ENOENT;
    this.removed.add(`${parent}/${from}`);
    this.removed.delete(`${newParent}/${to}`);
    this.inos.set(`${newParent}/${to}`, ino);
    return 0;
  }
}

/** RENAME's names: fuse_rename_in { newdir } then the old and the new name, NUL-terminated. */
function renameNames(req: Request): { newdir: number; from: string; to: string } {
  const [from, to] = req.body.subarray(8).toString().split('\0');
  return { newdir: Number(req.body.readBigUInt64LE(0)), from, to };
}

export function mountHeldSource(t: { teardown(fn: () => void): void }, holdOps: number[] = [FSYNC]): HeldSource {
  const hold = new Set(holdOps);
  const base = tempDir(true);
  const dir = path.join(base, 'held');
  fs.mkdirSync(dir);
  const transport = FuseDevTransport.mount(dir, { fsname: 'vfsd-held', subtype: 'vfsdtest' });
  const waiting = new Map<number, Request[]>();
  const content = Buffer.alloc(SLOW_SIZE);
  for (let i = 0; i < SLOW_SIZE; i++) content[i] = slowByte(i);
  const names = new Names();
  const answers: Answer[] = [];
  const fileAttr = () => attr({ ino: FILE, mode: 0o100666, size: SLOW_SIZE });
  const namedAttr = (ino: number) => names.dirs.has(ino) ? attr({ ino, mode: 0o40755, nlink: 2 }) : attr({ ino, mode: 0o100644 });
  const files = oneFileHandlers('slow', FILE, fileAttr);
  const list = listHandlers();
  const status = (req: Request, ch: RequestChannel, r: number) => (r < 0 ? ch.replyError(req.token, -r) : replyOk(ch, req.token));
  const answer = (req: Request, ch: RequestChannel) => {
    if (req.opcode === OP.UNLINK || req.opcode === OP.RMDIR) return status(req, ch, names.unlink(Number(req.nodeid), lookupName(req), req.opcode === OP.RMDIR));
    if (req.opcode === OP.RENAME) {
      const r = renameNames(req);
      return status(req, ch, names.rename(Number(req.nodeid), r.from, r.newdir, r.to));
    }
    if (req.opcode === OP.MKDIR || req.opcode === OP.CREATE) {
      const mkdir = req.opcode === OP.MKDIR;
      const ino = names.make(Number(req.nodeid), nameAfter(req, mkdir ? 8 : 16), mkdir);
      if (ino < 0) return ch.replyError(req.token, -ino);
      if (mkdir) return replyEntry(ch, req.token, ino, namedAttr(ino));
      // fuse_entry_out then fuse_open_out (fh 1: the stub keeps no per-handle state)
      const out = Buffer.alloc(16 + 40 + 88 + 16);
      out.writeBigUInt64LE(BigInt(ino), 16);
      namedAttr(ino).copy(out, 56);
      out.writeBigUInt64LE(1n, 16 + 128);
      return ch.reply(req.token, out, out.length);
    }
    if (req.opcode === OP.LINK) {
      const ino = names.link(Number(req.nodeid), nameAfter(req, 8), Number(req.body.readBigUInt64LE(0)));
      return ino < 0 ? ch.replyError(req.token, -ino) : replyEntry(ch, req.token, ino, namedAttr(ino));
    }
    if (req.opcode === OP.OPEN) return replyOpen(ch, req.token, 1);
    if (req.opcode === OP.READDIR) return list.readdir(req, ch);
    if (req.opcode === OP.READLINK) return list.readlink(req, ch);
    if (req.opcode === OP.STATFS) {
      const out = Buffer.alloc(16 + 80);
      return ch.reply(req.token, out, writeStatfsOut(out, 16, STATFS));
    }
    if (req.opcode === OP.LOOKUP) {
      const name = lookupName(req);
      // open_by_handle_at of an inode the kernel no longer caches (EXPORT_SUPPORT): "." in it.
      if (name === '.' && req.nodeid >= FIRST_NAMED_INO) return replyEntry(ch, req.token, Number(req.nodeid), namedAttr(Number(req.nodeid)));
      const listed = list.lookup(Number(req.nodeid), name);
      if (listed) return replyEntry(ch, req.token, Number(listed.readBigUInt64LE(0)), listed);
      if (!isNamed(name)) return files[OP.LOOKUP]!(req, ch);
      const parent = Number(req.nodeid);
      const ino = names.get(parent, name);
      answers.push({ parent, name, ino: ino || -ENOENT });
      return ino ? replyEntry(ch, req.token, ino, namedAttr(ino)) : ch.replyError(req.token, ENOENT);
    }
    const listedAttr = req.opcode === OP.GETATTR ? list.attrOf(Number(req.nodeid)) : null;
    if (listedAttr) return replyAttr(ch, req.token, listedAttr);
    if (req.opcode === OP.GETATTR) return req.nodeid >= FIRST_NAMED_INO ? replyAttr(ch, req.token, namedAttr(Number(req.nodeid))) : files[OP.GETATTR]!(req, ch);
    // A named inode's SETATTR (chmod, chown, truncate, utimes) succeeds; its attributes stay.
    if (req.opcode === OP.SETATTR && req.nodeid >= FIRST_NAMED_INO) return replyAttr(ch, req.token, namedAttr(Number(req.nodeid)));
    // LSEEK (SEEK_DATA, SEEK_HOLE): data at the offset asked, the next hole a page after it.
    if (req.opcode === OP.LSEEK) {
      const offset = req.body.readBigUInt64LE(8); // fuse_lseek_in { fh, offset, whence }
      const out = Buffer.alloc(16 + 8);
      out.writeBigUInt64LE(req.body.readUInt32LE(16) === SEEK_HOLE ? offset + 4096n : offset, 16);
      return ch.reply(req.token, out, out.length);
    }
    // Locks: a GETLK finds none (F_UNLCK); a lock (POSIX or flock) on a `heldbusy*` file is taken
    // (EAGAIN), on any other it is granted.
    if (req.opcode === OP.GETLK) {
      const out = Buffer.alloc(16 + 24); // fuse_lk_out { start, end, type, pid }
      out.writeUInt32LE(F_UNLCK, 16 + 16);
      return ch.reply(req.token, out, out.length);
    }
    if (req.opcode === OP.SETLK || req.opcode === OP.SETLKW) {
      return req.nodeid >= FIRST_NAMED_INO && names.isBusy(Number(req.nodeid)) ? ch.replyError(req.token, EAGAIN) : replyOk(ch, req.token);
    }
    // xattrs: none are there (GETXATTR ENODATA, an empty list); SETXATTR and REMOVEXATTR succeed.
    if (req.opcode === OP.GETXATTR) return ch.replyError(req.token, ENODATA);
    if (req.opcode === OP.LISTXATTR) {
      if (req.body.readUInt32LE(0) !== 0) return replyOk(ch, req.token);
      const out = Buffer.alloc(16 + 8); // fuse_getxattr_out: the list's size, 0
      return ch.reply(req.token, out, out.length);
    }
    if (req.opcode !== OP.READ) return replyOk(ch, req.token);
    const offset = Number(req.body.readBigUInt64LE(8));
    const size = req.body.readUInt32LE(16);
    const data = content.subarray(Math.min(offset, SLOW_SIZE), Math.min(offset + size, SLOW_SIZE));
    const out = Buffer.alloc(16 + data.length);
    data.copy(out, 16);
    ch.reply(req.token, out, out.length);
  };
  /** LOOKUP, UNLINK, RMDIR, RENAME, MKDIR, LINK, CREATE, GETATTR, SETATTR, OPEN, the xattr and the lock ops are held only for the `held*` names and their inodes (LOOKUP of "." in one: its file handle opened) */
  const holdable = (req: Request) => {
    if (req.opcode === OP.LOOKUP && lookupName(req) === '.') return req.nodeid >= FIRST_NAMED_INO;
    if (req.opcode === OP.LOOKUP || req.opcode === OP.UNLINK || req.opcode === OP.RMDIR) return isHeld(lookupName(req));
    if (req.opcode === OP.RENAME) return isHeld(renameNames(req).from);
    if (req.opcode === OP.MKDIR || req.opcode === OP.LINK) return isHeld(nameAfter(req, 8));
    if (req.opcode === OP.CREATE) return isHeld(nameAfter(req, 16));
    if (req.opcode === OP.GETATTR || req.opcode === OP.SETATTR || XATTR_OPS.includes(req.opcode) || LOCK_OPS.includes(req.opcode) || req.opcode === OP.OPEN || req.opcode === OP.LSEEK) return req.nodeid >= FIRST_NAMED_INO;
    return true;
  };
  const maybeHold = (req: Request, ch: RequestChannel) => {
    if (req.opcode === OP.LOOKUP && lookupName(req).startsWith('lag')) {
      setTimeout(() => { if (!released) answer(req, ch); }, LAG_MS);
      return;
    }
    if (!hold.has(req.opcode) || !holdable(req)) return answer(req, ch);
    const list = waiting.get(req.opcode) ?? [];
    list.push(req);
    waiting.set(req.opcode, list);
  };
  let released = false;
  t.teardown(() => {
    // Whatever is still held must not keep a process (vfsd, a client) stuck past the test.
    for (const op of waiting.keys()) releaseOp(op);
    released = true;
    if (isMounted(dir)) { try { transport.unmount(); } catch { /* reported by the test */ } }
    transport.close();
    fs.rmSync(base, { recursive: true, force: true });
  });
  serve(transport, {
    // Lookups in one directory run in parallel, as on NFS: without this flag the kernel takes
    // the directory's lock for each, and a held LOOKUP would hold up every other name's in it.
    // Locks go to the source (POSIX_LOCKS, FLOCK_LOCKS), as on a network filesystem, where each
    // is a round trip to its server.
    // EXPORT_SUPPORT: a file handle of a named inode opens it again after the kernel let it go
    // (a LOOKUP of "." in it, held like the others when asked).
    [OP.INIT]: (req, ch) => replyInit(ch, req, undefined, { flags: InitFlag.PARALLEL_DIROPS | InitFlag.POSIX_LOCKS | InitFlag.FLOCK_LOCKS | InitFlag.EXPORT_SUPPORT }),
    ...files,
    [OP.LOOKUP]: maybeHold,
    [OP.GETATTR]: maybeHold,
    [OP.SETATTR]: maybeHold,
    [OP.GETXATTR]: maybeHold,
    [OP.LISTXATTR]: maybeHold,
    [OP.SETXATTR]: maybeHold,
    [OP.REMOVEXATTR]: maybeHold,
    [OP.OPEN]: maybeHold,
    [OP.LSEEK]: maybeHold,
    [OP.GETLK]: maybeHold,
    [OP.SETLK]: maybeHold,
    [OP.SETLKW]: maybeHold,
    [OP.UNLINK]: maybeHold,
    [OP.RMDIR]: maybeHold,
    [OP.RENAME]: maybeHold,
    [OP.MKDIR]: maybeHold,
    [OP.LINK]: maybeHold,
    [OP.CREATE]: maybeHold,
    [OP.READ]: maybeHold,
    [OP.WRITE]: (req, ch) => {
      const out = Buffer.alloc(16 + 8);
      out.writeUInt32LE(req.body.readUInt32LE(16), 16); // fuse_write_in.size
      ch.reply(req.token, out, out.length);
    },
    [FSYNC]: maybeHold,
    [OP.OPENDIR]: (req, ch) => replyOpen(ch, req.token, 1),
    [OP.READDIR]: maybeHold,
    [OP.RELEASEDIR]: (req, ch) => replyOk(ch, req.token),
    [OP.READLINK]: maybeHold,
    [OP.STATFS]: maybeHold,
    [OP.FLUSH]: maybeHold,
    [OP.RELEASE]: (req, ch) => replyOk(ch, req.token),
  });
  function releaseOp(op: number, pass = false): void {
    const list = waiting.get(op) ?? [];
    waiting.set(op, []);
    if (pass) hold.delete(op);
    if (!released) for (const req of list) answer(req, transport);
  }
  return {
    dir, slow: path.join(dir, 'slow'), held: (op) => (waiting.get(op) ?? []).length, release: releaseOp,
    hold: (op) => { hold.add(op); },
    answers: () => [...answers],
    hostUnlink: (name, parent = 1) => { names.unlink(parent, name); },
    hostRename: (from, to, parent = 1) => { names.rename(parent, from, parent, to); },
  };
}

export interface HeldSourceProcess {
  dir: string;
  slow: string;
  held(op: number): Promise<number>;
  /** answers the held requests of op, after afterMs in the child (its own clock: this process's
   *  event loop may be blocked meanwhile); `pass`: and stops holding op */
  release(op: number, afterMs?: number, pass?: boolean): void;
  hold(op: number): Promise<void>;
  answers(): Promise<Answer[]>;
  hostUnlink(name: string, parent?: number): Promise<void>;
  hostRename(from: string, to: string, parent?: number): Promise<void>;
}

/** The held source served by a child process (test/fixtures/held-source-child.ts). */
export async function spawnHeldSource(t: { teardown(fn: () => void | Promise<void>): void }, hold: number[] = [FSYNC]): Promise<HeldSourceProcess> {
  const script = path.resolve(__dirname, '..', 'fixtures', 'held-source-child.js');
  const child = fork(script, [JSON.stringify(hold)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.send({ stop: true });
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const ready = await new Promise<{ dir: string; slow: string }>((resolve, reject) => {
    child.once('message', (m: { dir: string; slow: string }) => resolve(m));
    child.once('exit', (code) => reject(new Error(`held source exited (${code}) before mounting`)));
  });
  let nextId = 1;
  /** sends m with a fresh id; resolves to the child's answer (it echoes the id) */
  const ask = <T>(m: object) => new Promise<T>((resolve) => {
    const id = nextId++;
    const on = (a: { id?: number; value?: T }) => {
      if (a.id !== id) return;
      child.off('message', on);
      resolve(a.value as T);
    };
    child.on('message', on);
    child.send({ ...m, id });
  });
  return {
    dir: ready.dir, slow: ready.slow,
    held: async (op) => (await ask<number>({ query: op })) ?? 0,
    release: (op, afterMs = 0, pass = false) => child.send({ release: op, afterMs, pass }),
    hold: (op) => ask({ hold: op }),
    answers: () => ask<Answer[]>({ answers: true }),
    hostUnlink: (name, parent) => ask({ hostUnlink: name, parent }),
    hostRename: (from, to, parent) => ask({ hostRename: [from, to], parent }),
  };
}

/**
 * The controls' check (--thread-pool-size 0): a stat of `mnt` is not answered while the source
 * holds the request vfsd is inside of, and is once release() lets it go. `inside`: what vfsd's
 * event loop waits in, for the messages. No timing assertion: a generous pause, after which an
 * answer that could come would have come long before.
 */
export async function statHeldUp(t: { ok(v: unknown, m: string): void; notOk(v: unknown, m: string): void }, mnt: string, release: () => void, inside: string): Promise<void> {
  let answered = false;
  const st = fs.promises.stat(mnt).then(() => { answered = true; });
  await new Promise((r) => setTimeout(r, 1500));
  t.notOk(answered, `no answer while the event loop is inside ${inside}`);
  release();
  await st;
  t.ok(answered, `answered once ${inside} returns`);
}
