// OPENDIR, READDIR, READDIRPLUS, RELEASEDIR, FSYNCDIR. Entries are produced into a DirSink the
// server provides (it owns the wire encoding and the reply's room). READDIRPLUS looks each entry
// up, so it counts as a lookup for the client: we ask the sink for room BEFORE the lookup, so an
// entry that would not fit never takes a lookup the kernel will not know about.
import { C, sys } from '../native/sys';
import type { InoValue } from '../protocol/wire';
import { Errno } from '../protocol/errno';
import { FUSE_ATTR_SUBMOUNT } from '../protocol/flags';
import type { Entry, PassthroughFs } from './passthrough-fs';
import { isDir, type HostStat } from './host-stat';
import { DirStream, type DirentInoRule, type DirentRoom } from './dir-stream';
import { DirentStop, PlusInfo } from '../native/dirents';
import type { Inode, InodeKeyParts } from './inode';
import { ROOT_ID } from './inode-store';
import type { DirHandle } from './handles';
import type { DirSink, Later } from '../server/file-system';
import { refillOnPool, reopenOnPool } from './pool-ops';
import { closeHandleFd } from './close-waits';

export type { DirSink };

/** OPENDIR: the directory's fh. On a mount whose syscalls are slow the reopen runs on the pool. */
export function opendir(fs: PassthroughFs, nodeid: number): Later<number> {
  const inode = fs.known(nodeid);
  if (typeof inode === 'number') return inode;
  const flags = C.O_RDONLY | C.O_DIRECTORY | C.O_CLOEXEC;
  const mnt = inode.mntId;
  if (fs.offLoop.wants(mnt) && isDir(inode.mode)) {
    const later = reopenOnPool(fs, inode, flags, true, (now, fd) => dirHandle(fs, now, fd));
    if (later) return later;
  }
  // A directory moved out of the export is not listed (its names are outside; see withFdInExport).
  const fd = fs.offLoop.timed(mnt, () => fs.withFdInExport(inode, () => fs.reopen(inode, flags)));
  return dirHandle(fs, inode, fd);
}

function dirHandle(fs: PassthroughFs, inode: Inode, fd: number): number {
  if (fd < 0) return fd;
  const h: DirHandle = { kind: 'dir', fd, inode, stream: new DirStream(fd) };
  return fs.handles.add(h);
}

/**
 * READDIR / READDIRPLUS of handle fh from `offset`. On a mount whose syscalls are slow the
 * stream's getdents64 runs on the pool: the answer is then a Promise that settles to -errno, or
 * to null once the buffer is refilled (the server calls again, with the reply buffer as it is
 * then: nothing was written into this sink).
 */
export function readdir(fs: PassthroughFs, fh: number, offset: number, plus: boolean, sink: DirSink): number | Promise<number | null> {
  const h = fs.handles.dir(fh);
  if (!h) return -Errno.EBADF;
  const s = h.stream;
  // A second READDIR of the handle while its refill runs (a hostile client: the kernel sends one
  // at a time) waits for it, then starts over: the buffer is the worker's until then.
  if (s.filling) return s.filling.then(() => null);
  const mnt = h.inode.mntId;
  if (fs.offLoop.wants(mnt)) {
    const later = readdirPooled(fs, fh, h, offset, plus, sink);
    if (later !== null) return later;
  }
  return fs.offLoop.timed(mnt, () => readdirInline(fs, h, offset, plus, sink));
}

function readdirInline(fs: PassthroughFs, h: DirHandle, offset: number, plus: boolean, sink: DirSink): number {
  const s = h.stream;
  const r = s.seek(offset);
  if (r < 0) return r;
  if (!plus) {
    const rule = sink.room ? ruleFor(fs, h) : null;
    return rule ? readdirNative(fs, h, sink, sink.room!, rule) : listEntries(fs, h, sink, null);
  }
  // READDIRPLUS: whether the directory is still inside the export is checked once per reply (one
  // readlink of its fd), not once per entry; the entries are then looked up relative to that fd.
  // Checking per reply is as strong as per entry: either way the host may move the directory
  // right after the check. A directory outside lists no looked-up entries (each lookup answers
  // ENOENT, as before); a directory whose fd cannot be had (a stale file handle) lists its names
  // without attributes.
  let ran = false;
  const r2 = fs.withFdInExport(h.inode, (pfd) => {
    ran = true;
    const rule = sink.room && sink.complete && sink.rewrite ? ruleFor(fs, h) : null;
    return rule ? readdirPlusNative(fs, h, sink, rule, pfd) : listEntries(fs, h, sink, pfd);
  });
  return ran ? r2 : listEntries(fs, h, sink, r2);
}

/** What READDIRPLUS's lookups answer on a slow mount: none is made (see readdirPooled). */
const NOT_LOOKED_UP = -Errno.EAGAIN;

/**
 * A slow mount's READDIR: the entries the stream's buffer holds, without a getdents64 on the JS
 * thread; when the buffer is consumed before any entry is listed, a refill on the pool. A reply
 * ends where the buffer does (short replies are fine: the client asks again from the offset the
 * last entry carries), so a reply is never half-built across a refill (the reply buffer is
 * shared by every request meanwhile). READDIRPLUS lists the names without attributes (nodeid 0:
 * the kernel takes no entry from them) instead of a statx and lookup per entry inline: the
 * client's own LOOKUPs then run on the pool one by one. A seek back (rewinddir, a client's
 * offset we did not give) keeps its lseek inline: it only moves the file position (NFS and FUSE
 * seek a directory without asking the server); the rescan after it is refilled on the pool.
 * null: no pool runs (inline instead).
 */
function readdirPooled(fs: PassthroughFs, fh: number, h: DirHandle, offset: number, plus: boolean, sink: DirSink): number | Promise<number | null> | null {
  const s = h.stream;
  s.refillInline = false;
  let n: number;
  try {
    n = s.seek(offset);
    if (n === 0 && !s.needsFill) {
      const rule = !plus && sink.room ? ruleFor(fs, h) : null;
      n = rule ? readdirNative(fs, h, sink, sink.room!, rule) : listEntries(fs, h, sink, plus ? NOT_LOOKED_UP : null);
    }
  } finally {
    s.refillInline = true;
  }
  if (n !== 0 || !s.needsFill) return n;
  return refillOnPool(fs, fh, h);
}

/** The directory's d_ino rule, with ".." of the export root numbered as the root itself. */
function ruleFor(fs: PassthroughFs, h: DirHandle): DirentInoRule | null {
  const rule = fs.policy.direntRule?.(h.inode) ?? null;
  return rule && { ...rule, dotdotIno: rootDotdot(h) };
}

/** d_ino for ".." in a listing of h: the export root's own number at the root (its host parent
 *  lies outside the export: neither its number nor anything else of it is shown), else -1. */
function rootDotdot(h: DirHandle): number {
  const ino = h.inode.clientIno;
  return h.inode.nodeid === ROOT_ID && typeof ino === 'number' ? ino : -1;
}

/** One PlusInfo row per entry of a reply of up to 64 KiB (the smallest entry takes 160 bytes);
 *  a larger reply just takes several runs. */
const plusInfo = new Float64Array(410 * PlusInfo.STRIDE);
const keyParts: InodeKeyParts = { mntId: 0, devMajor: 0, devMinor: 0, inoHi: 0, inoLo: 0 };

/**
 * READDIRPLUS, encoded natively in runs: the native side statx's each name (relative to the
 * directory's fd, after the one export check) and writes the entry with those attributes; here
 * each entry gets its lookup. The usual case, a non-directory we already hold pinned by an fd,
 * costs a Map lookup and a few stores: the same answer lookupIn + entryOf give (same statx, the
 * inode's client number, flags 0: only directories are announced as submounts). Everything else
 * (a new inode, a directory, an inode kept as a file handle) takes the full lookupIn and is
 * rewritten in place; its failure lists the name without attributes, like listEntries.
 */
function readdirPlusNative(fs: PassthroughFs, h: DirHandle, sink: DirSink, rule: DirentInoRule, pfd: number): number {
  const s = h.stream;
  const room = sink.room!;
  const out = room.out;
  const I = PlusInfo;
  let count = 0;
  for (;;) {
    const n = s.encodePlusRun(room, rule, pfd, fs.timeout, plusInfo);
    if (n < 0) return count > 0 ? count : n;
    for (let i = 0, o = 0; i < n; i++, o += I.STRIDE) {
      if (plusInfo[o + I.STATUS] !== 0) continue; // "." / ".." or a failed statx: complete as written
      const rec = plusInfo[o + I.REC];
      const mode = plusInfo[o + I.MODE];
      if ((plusInfo[o + I.MASK] & C.STATX_MNT_ID) && (mode & C.S_IFMT) !== C.S_IFDIR) {
        keyParts.mntId = plusInfo[o + I.MNT_ID];
        keyParts.devMajor = plusInfo[o + I.DEV_MAJOR];
        keyParts.devMinor = plusInfo[o + I.DEV_MINOR];
        keyParts.inoHi = plusInfo[o + I.INO_HI];
        keyParts.inoLo = plusInfo[o + I.INO_LO];
        const known = fs.referPinned(keyParts);
        if (known) {
          sink.complete!(rec, known.nodeid, known.clientIno, 0, fs.guestUid(plusInfo[o + I.UID]), fs.guestGid(plusInfo[o + I.GID]));
          continue;
        }
      }
      // Not held (or a directory, or held as a file handle): the long way. Its statx above found
      // no pinned inode, so lookupIn skips its own by-name statx; for a directory that check was
      // not made above, so lookupIn makes it.
      const nameStart = rec + PLUS_NAME;
      const name = out.subarray(nameStart, nameStart + out.readUInt32LE(rec + PLUS_NAMELEN));
      const found = fs.lookupIn(h.inode, pfd, name, (mode & C.S_IFMT) !== C.S_IFDIR);
      if (typeof found === 'number') {
        sink.rewrite!(rec, null);
      } else if (sameObject(found.st, o)) {
        // What was adopted is what the native statx saw: its attributes are in place already.
        const flags = fs.isAnnounced(found.st, h.inode) ? FUSE_ATTR_SUBMOUNT : 0;
        sink.complete!(rec, found.inode.nodeid, found.inode.clientIno, flags, fs.guestUid(plusInfo[o + I.UID]), fs.guestGid(plusInfo[o + I.GID]));
      } else {
        sink.rewrite!(rec, fs.entryOf(found.inode, found.st, h.inode));
      }
    }
    count += n;
    if (s.lastStop === DirentStop.BATCH) continue;
    if (s.lastStop !== DirentStop.NEEDS_POLICY) return count;
    const one = listEntries(fs, h, sink, pfd, 1);
    if (one < 0) return count > 0 ? count : one;
    if (one === 0) return count;
    count += one;
  }
}

/** Whether a stat is of the object (and mount) the PlusInfo row at o describes. */
function sameObject(st: HostStat, o: number): boolean {
  const I = PlusInfo;
  return st.inoLo === plusInfo[o + I.INO_LO] && st.inoHi === plusInfo[o + I.INO_HI] &&
    st.devMajor === plusInfo[o + I.DEV_MAJOR] && st.devMinor === plusInfo[o + I.DEV_MINOR] &&
    st.mntId === plusInfo[o + I.MNT_ID] && st.mode === plusInfo[o + I.MODE];
}

/** Offsets in a fuse_direntplus: the dirent's namelen and the name. */
const PLUS_NAMELEN = 128 + 16;
const PLUS_NAME = 128 + 24;

/**
 * Lists entries one by one into the sink. lookupFd: null for plain READDIR; for READDIRPLUS the
 * directory's fd to look entries up in, or the -errno every lookup answers.
 */
function listEntries(fs: PassthroughFs, h: DirHandle, sink: DirSink, lookupFd: number | null, max = Infinity): number {
  const s = h.stream;
  let count = 0;
  while (count < max) {
    const more = s.next();
    if (more === false) break;
    if (more !== true) return count > 0 ? count : more;
    if (!sink.fits(s.nameLength)) break;
    let entry: Entry | null = null;
    if (lookupFd !== null && !s.isDotOrDotDot()) {
      const found = lookupFd >= 0 ? fs.lookupIn(h.inode, lookupFd, s.name()) : lookupFd;
      if (typeof found !== 'number') {
        entry = fs.entryOf(found.inode, found.st, h.inode);
      } else if (found === -Errno.ENOENT) {
        // Vanished between getdents and the lookup: gone, as a fresh listing would show.
        s.advance();
        continue;
      }
      // Any other failure (EMFILE when one fd per inode meets RLIMIT_NOFILE, EACCES, ENODEV from
      // multidevs=forbid...) still lists the name, without attributes (nodeid 0): the listing
      // stays complete and a later LOOKUP reports the error for that one entry.
    }
    const dotdot = s.isDotDot() ? rootDotdot(h) : -1;
    sink.add(s, entry ? entry.attr.ino : dotdot >= 0 ? dotdot : fs.policy.direntIno(h.inode, s.ino), entry);
    s.advance();
    count++;
  }
  return count;
}

/**
 * Plain READDIR, natively encoded in runs. Why native: a listing is ~1 us of JS per entry when
 * each record is decoded and re-encoded in JS, against ~0.05 us here; the kernel asks for up to
 * 64 KiB per READDIR (2,000 short names). The policy still decides every d_ino: runs use the
 * directory's rule, and an entry outside it (a remapped device without a direct index, a host
 * ino at or above 2^63) stops the run and is numbered by direntIno like before.
 */
function readdirNative(fs: PassthroughFs, h: DirHandle, sink: DirSink, room: DirentRoom, rule: DirentInoRule): number {
  const s = h.stream;
  let count = 0;
  for (;;) {
    const n = s.encodeRun(room, rule);
    if (n < 0) return count > 0 ? count : n;
    count += n;
    if (s.lastStop !== DirentStop.NEEDS_POLICY) return count;
    const more = s.next();
    if (more !== true) return count > 0 || more === false ? count : more;
    if (!sink.fits(s.nameLength)) return count;
    const dotdot = s.isDotDot() ? rootDotdot(h) : -1;
    sink.add(s, dotdot >= 0 ? dotdot : fs.policy.direntIno(h.inode, s.ino), null);
    s.advance();
    count++;
  }
}

export function releasedir(fs: PassthroughFs, fh: number): number {
  // Only a directory's fh: a file's fh sent to RELEASEDIR stays open (see file-ops release).
  const h = fs.handles.dir(fh);
  if (!h) return -Errno.EBADF;
  fs.handles.remove(fh);
  return closeHandleFd(h, fs.offLoop.wants(h.inode.mntId));
}
