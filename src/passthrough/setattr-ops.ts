// SETATTR: the changes one request asks for (mode, owner, size, times, and HANDLE_KILLPRIV_V2's
// clearing of setuid/setgid), in that order, each one checked by the host as the caller. Changes
// go through the inode's own fd (or its /proc/self/fd name), so a path the host renamed meanwhile
// can never redirect them to another file.
//
// The decisions are written once, as a sequence of steps (changes(), a generator): each step is
// one syscall, and what comes next depends on its answer. The sequence runs inline, or, on a
// mount whose syscalls are slow (off-loop.ts: NFS, a FUSE source), one step at a time on the
// worker pool, so a chmod or a utimes that waits on the network holds up no other client.
// Between two pool steps the request's objects may go (a FORGET, possibly hostile, a RELEASE of
// the handle, the session ending): the next step is then not posted and the answer is ENOENT or
// EBADF. Each job works on its own dup of the fd, taken when it is posted, so no step can reach
// a closed or reused fd number.
import { C, sys } from '../native/sys';
import { metaJobs, MetaOp, type MetaDone } from '../native/meta-jobs';
import { Errno } from '../protocol/errno';
import { FORBIDDEN } from '../policy/id-map';
import type { PassthroughFs, WireAttr } from './passthrough-fs';
import type { Inode } from './inode';
import type { FileHandle } from './handles';
import { decodeStatx, HostStat, isReg, isSymlink, statFd } from './host-stat';
import { exact } from './file-ops';
import { onPool, statOnPool, stillThere } from './pool-ops';
import { statOf } from './attr-ops';
import type { Later } from '../server/file-system';

export const FATTR = {
  MODE: 1 << 0, UID: 1 << 1, GID: 1 << 2, SIZE: 1 << 3, ATIME: 1 << 4, MTIME: 1 << 5, FH: 1 << 6,
  ATIME_NOW: 1 << 7, MTIME_NOW: 1 << 8, LOCKOWNER: 1 << 9, CTIME: 1 << 10, KILL_SUIDGID: 1 << 11,
} as const;

export interface SetattrIn {
  valid: number;
  fh: number;
  size: number;
  atime: number; mtime: number; atimensec: number; mtimensec: number;
  mode: number; uid: number; gid: number;
}

/** One syscall of a SETATTR. stat answers a HostStat (or -errno), the others 0 or -errno. */
type Step =
  | { kind: 'chmod'; mode: number; privileged: boolean }
  | { kind: 'chown'; uid: number; gid: number }
  | { kind: 'truncate'; size: number }
  | { kind: 'utimens'; as: number; an: number; ms: number; mn: number }
  | { kind: 'stat' } // statx of the object, the daemon's credentials (it checks nothing)
  | { kind: 'mayWrite' }; // faccessat(W_OK, AT_EACCESS) as the caller
type Answer = number | HostStat;
type Steps = Generator<Step, number, Answer>;

const { S_ISUID, S_ISGID } = C;
const S_IXGRP = 0o010;
const W_OK = 2;

export function setattr(fs: PassthroughFs, nodeid: number, a: SetattrIn): Later<WireAttr | number> {
  const inode = fs.known(nodeid);
  if (typeof inode === 'number') return inode;
  // 64-bit size and times past 2^53 are not exact as JS numbers (and may not fit the native
  // int64 arguments at all): refused rather than rounded.
  if ((a.valid & FATTR.SIZE && !exact(a.size)) || (a.valid & FATTR.ATIME && !exact(a.atime)) || (a.valid & FATTR.MTIME && !exact(a.mtime))) {
    return -Errno.EINVAL;
  }
  const h = a.valid & FATTR.FH ? fs.handles.file(a.fh) : undefined;
  if (a.valid & FATTR.FH && !h) return -Errno.EBADF;
  // chown targets are guest ids (--translate-*): translated before anything changes, so a
  // forbidden one refuses the whole request rather than leaving the mode changed and the owner
  // not. (uid_t)-1 is in no rule's range: it still means "leave unchanged".
  let uid = a.valid & FATTR.UID ? a.uid : -1;
  let gid = a.valid & FATTR.GID ? a.gid : -1;
  const ids = fs.config.ids;
  if (ids && a.valid & FATTR.UID && (uid = ids.uid.toHost(a.uid)) === FORBIDDEN) return -Errno.EPERM;
  if (ids && a.valid & FATTR.GID && (gid = ids.gid.toHost(a.gid)) === FORBIDDEN) return -Errno.EPERM;
  const steps = () => changes(a, uid, gid, h !== undefined, isSymlink(inode.mode));
  const mnt = inode.mntId;
  if (fs.offLoop.wants(mnt)) {
    const later = onPoolSteps(fs, inode, h, a.fh, steps());
    if (later) return later;
  }
  const r = fs.offLoop.timed(mnt, () => fs.withFd(inode, (fd) => {
    const proc = fs.procName(fd);
    const s = steps();
    let n = s.next();
    while (!n.done) n = s.next(inlineStep(fs, h, fd, proc, n.value));
    return n.value;
  }));
  if (r < 0) return r;
  // The attributes after the change, inline: the change itself just ran inline.
  const st = statOf(fs, inode);
  return typeof st === 'number' ? st : fs.attrOf(st, inode);
}

/** The request's changes in order; the value returned is 0 or the first change's -errno. */
function* changes(a: SetattrIn, uid: number, gid: number, byHandle: boolean, symlink: boolean): Steps {
  if (a.valid & FATTR.MODE) {
    const mode = a.mode & 0o7777;
    let e = yield { kind: 'chmod', mode, privileged: false };
    // Without HANDLE_KILLPRIV_V2 the kernel clears setuid/setgid after a write or truncate with
    // a SETATTR of the mode, sent as the writer, who may not chmod (not the owner). The host
    // lets such a writer clear exactly those bits: so do we, with our own rights, when the
    // request asks for nothing else and the caller may write the file.
    if (e === -Errno.EPERM) {
      const st = yield { kind: 'stat' };
      if (typeof st !== 'number' && isPrivilegeKill(st, mode) && (yield { kind: 'mayWrite' }) === 0) {
        e = yield { kind: 'chmod', mode, privileged: true };
      }
    }
    if (e !== 0) return e as number;
  }
  if (a.valid & (FATTR.UID | FATTR.GID)) {
    const e = yield { kind: 'chown', uid, gid };
    if (e !== 0) return e as number;
  }
  if (a.valid & FATTR.SIZE) {
    // truncate() of a symlink's /proc/self/fd name would follow it.
    if (!byHandle && symlink) return -Errno.EINVAL;
    const e = yield { kind: 'truncate', size: a.size };
    if (e !== 0) return e as number;
  }
  // HANDLE_KILLPRIV_V2: the kernel asks us to clear them (a truncate by a caller without
  // CAP_FSETID). The host's truncate as that caller usually did already; a caller we serve with
  // our own rights (uid 0 without CAP_FSETID) would keep them, so they are cleared here.
  if (a.valid & FATTR.KILL_SUIDGID && !(a.valid & FATTR.MODE)) {
    const st = yield { kind: 'stat' };
    if (typeof st === 'number') return st;
    const kill = killedBits(st.mode);
    if (kill && isReg(st.mode)) {
      const e = yield { kind: 'chmod', mode: st.mode & 0o7777 & ~kill, privileged: true };
      if (e !== 0) return e as number;
    }
  }
  if (a.valid & (FATTR.ATIME | FATTR.MTIME | FATTR.ATIME_NOW | FATTR.MTIME_NOW)) {
    const [as, an] = timeArg(a.valid, FATTR.ATIME, FATTR.ATIME_NOW, a.atime, a.atimensec);
    const [ms, mn] = timeArg(a.valid, FATTR.MTIME, FATTR.MTIME_NOW, a.mtime, a.mtimensec);
    const e = yield { kind: 'utimens', as, an, ms, mn };
    if (e !== 0) return e as number;
  }
  return 0;
}

/** A step on this thread, inside the request's credentials (fd: the inode's, proc its name). */
function inlineStep(fs: PassthroughFs, h: FileHandle | undefined, fd: number, proc: string, s: Step): Answer {
  switch (s.kind) {
    case 'chmod': {
      const chmod = () => (h ? sys.fchmod(h.fd, s.mode) : sys.fchmodat(fs.procSelfFd, proc, s.mode, 0));
      return s.privileged ? fs.creds.privileged(chmod) : chmod();
    }
    case 'chown': return sys.fchownat(fd, '', s.uid, s.gid, C.AT_EMPTY_PATH | C.AT_SYMLINK_NOFOLLOW);
    case 'truncate': return h ? sys.ftruncate(h.fd, s.size) : sys.truncate(fs.procPath(fd), s.size);
    case 'utimens': return sys.utimensat(fd, '', s.as, s.an, s.ms, s.mn, C.AT_EMPTY_PATH | C.AT_SYMLINK_NOFOLLOW);
    case 'stat': return statFd(fd);
    case 'mayWrite': return sys.faccessat(fs.procSelfFd, proc, W_OK, C.AT_EACCESS);
  }
}

type Who = ReturnType<PassthroughFs['creds']['caller']>;
const DAEMON: Who = { uid: -1, gid: 0, groups: null };

/** A step as a job on the pool, with the request's credentials `who` (captured at its start:
 *  after the first step this thread no longer runs as the caller); null without a pool. */
function poolStep(fs: PassthroughFs, inode: Inode, h: FileHandle | undefined, who: Who, s: Step): Promise<Answer> | null {
  const mnt = inode.mntId;
  const self = fs.procSelfFd;
  if (s.kind === 'stat') {
    return onPool<HostStat>(fs, mnt,
      (done) => fs.withFd(inode, (fd) => metaJobs.metaJob(MetaOp.Stat, fd, -1, null, 0, -1, 0, null, done)),
      (r, stat) => (r < 0 ? r : stat ? decodeStatx(stat) : -Errno.EIO), [inode]);
  }
  if (s.kind === 'mayWrite') {
    return onPool(fs, mnt,
      (done) => fs.withFd(inode, (fd) => metaJobs.metaJob(MetaOp.Access, fd, self, null, W_OK, who.uid, who.gid, who.groups, done)),
      (r) => r, [inode]);
  }
  const as = s.kind === 'chmod' && s.privileged ? DAEMON : who;
  const [op, fd2, a, b, c, d] = attrJobArgs(s, h !== undefined, self);
  const post = (done: MetaDone) => (fd: number) => metaJobs.metaAttrJob(op, fd, fd2, a, b, c, d, as.uid, as.gid, as.groups, done);
  // A handle's chmod and truncate go through its open file, as inline; the rest through the inode's fd.
  const viaHandle = h && (s.kind === 'chmod' || s.kind === 'truncate') ? h : undefined;
  return onPool(fs, mnt, (done) => (viaHandle ? post(done)(viaHandle.fd) : fs.withFd(inode, post(done))), (r) => r, viaHandle ? [] : [inode]);
}

/** metaAttrJob's op, fd2 and numbers for a change (native/meta_jobs.cc says what each means). */
function attrJobArgs(s: Extract<Step, { kind: 'chmod' | 'chown' | 'truncate' | 'utimens' }>, byHandle: boolean, procSelfFd: number): [number, number, number, number, number, number] {
  switch (s.kind) {
    case 'chmod': return [MetaOp.Chmod, procSelfFd, s.mode, 0, 0, 0];
    case 'chown': return [MetaOp.Chown, -1, s.uid, s.gid, 0, 0];
    case 'truncate': return [MetaOp.Truncate, byHandle ? -1 : procSelfFd, s.size, 0, 0, 0];
    case 'utimens': return [MetaOp.Utimens, -1, s.as, s.an, s.ms, s.mn];
  }
}

/** The steps one by one on the pool, then the attributes (statx, on the pool too); null when no
 *  pool takes the first step (the caller then runs them all inline). */
function onPoolSteps(fs: PassthroughFs, inode: Inode, h: FileHandle | undefined, fh: number, s: Steps): Promise<WireAttr | number> | null {
  const who = fs.creds.caller();
  const gen = fs.generation;
  const nodeid = inode.nodeid;
  let n = s.next();
  if (n.done) return n.value < 0 ? Promise.resolve(n.value) : statOnPool(fs, inode);
  const first = poolStep(fs, inode, h, who, n.value);
  if (!first) return null;
  return (async () => {
    let answer = await first;
    for (;;) {
      n = s.next(answer);
      if (n.done) break;
      const now = stillThere(fs, gen, nodeid, -1);
      if (!now) return -Errno.ENOENT;
      if (h && fs.handles.file(fh) !== h) return -Errno.EBADF;
      const next = poolStep(fs, now, h, who, n.value);
      if (!next) return -Errno.EIO; // the pool took the first step: it does not go away
      answer = await next;
    }
    if (n.value < 0) return n.value;
    const now = stillThere(fs, gen, nodeid, -1);
    if (!now) return -Errno.ENOENT;
    return (await statOnPool(fs, now)) ?? -Errno.EIO;
  })();
}

/** What a write by an unprivileged caller clears (the kernel's should_remove_suid): setuid
 *  always, setgid only with group execute (without it, setgid marks mandatory locking). */
function killedBits(mode: number): number {
  return (mode & S_ISUID) | ((mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP) ? S_ISGID : 0);
}

/** The requested mode is the current one with exactly the bits a write clears taken away. */
function isPrivilegeKill(st: HostStat, mode: number): boolean {
  if (!isReg(st.mode)) return false;
  const kill = killedBits(st.mode);
  return kill !== 0 && mode === (st.mode & 0o7777 & ~kill);
}

function timeArg(valid: number, setBit: number, nowBit: number, sec: number, nsec: number): [number, number] {
  if (valid & nowBit) return [0, C.UTIME_NOW];
  if (valid & setBit) return [sec, nsec];
  return [0, C.UTIME_OMIT];
}
