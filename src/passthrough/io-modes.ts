// Whether a file handle does its I/O through FUSE passthrough or through the server, and the
// backing id its inode shares: decided at OPEN (file-ops.ts openFileHandle), ended at RELEASE
// and, for every handle still open, when the session ends (PassthroughFs.releaseAll): the same
// count both ways, so an id shared by several handles is given up once, by the last. The id then
// stays registered for the inode's next open (keptIds below) until the inode is released.
import { C } from '../native/sys';
import type { BackingFiles } from '../native/channel';
import { InodeMap, type Inode } from './inode';
import { modeOfFd } from './host-stat';
import type { FileHandle } from './handles';

/**
 * How an inode's open handles do their I/O under FUSE passthrough. The kernel keeps ONE backing
 * file per inode: every open of an inode that has one must answer FOPEN_PASSTHROUGH with that same
 * backing id, and a passthrough open is refused while cached (non-passthrough) opens exist: either
 * mistake fails the client's open() with EIO. (The kernel opens its own backing file per client
 * open, with the client's flags, so sharing one id between read-only and writable handles is fine.)
 */
interface IoMode {
  inode: Inode;
  backingId: number;
  /** the channel backingId is registered with (filesystems of one process have their own) */
  registry: BackingFiles | null;
  /** backingId was registered without CAP_FSETID (the file was setuid or setgid then) */
  withoutFsetid: boolean;
  /** open handles using backingId */
  passthrough: number;
  /** open handles doing cached I/O through the server */
  cached: number;
}
const ioModes = new InodeMap<IoMode>();
const cachedHandles = new WeakSet<FileHandle>();

/**
 * Setuid or setgid (mode, or -errno when unknown: then taken as either). The bits a write by a
 * caller without CAP_FSETID clears (setgid when the file is group-executable or the caller is
 * not in its group), which FUSE passthrough gets wrong:
 *
 * A passthrough write runs with the credentials the inode's backing file was registered with,
 * not the writer's. So a writable open of such a file starts no passthrough: root's write would
 * lose a bit the host keeps for root. Through the server each write is the writer's: the kernel
 * or WRITE's killPriv clears the bits as on the host.
 *
 * The backing file of such a file is registered without CAP_FSETID (native BackingOpen), so a
 * writer that must join passthrough opens already there (the kernel fails any other open of
 * such an inode with EIO) clears setuid. Without that, a user's write while root held the file
 * open kept a setuid-root bit (measured).
 *
 * What still differs from the host:
 *  - root's write beside passthrough opens clears the bits (test/mount/privs-held-open pins it);
 *  - a setgid bit without group execute (which grants nothing) follows the registering caller's
 *    groups, not the writer's (pinned there too);
 *  - a bit set while the file is open (chmod u+s of a file open through passthrough, registered
 *    by root) is not seen: a later write through it keeps the bit.
 * Registering every file without CAP_FSETID would close the last one, but lowering a capability
 * is a credentials change that cost open+close about a tenth of its rate (measured here, root
 * callers).
 */
const hasPrivBits = (mode: number) => mode < 0 || (mode & (C.S_ISUID | C.S_ISGID)) !== 0;
const writable = (flags: number) => (flags & C.O_ACCMODE) !== C.O_RDONLY;

/**
 * Backing ids kept registered after their inode's last open handle closed, oldest first: the
 * inode's next open reuses the id instead of registering its fd again, which saves an ioctl each
 * way per open+close (the bench's open+close row: 0.73× of --no-passthrough's rate before,
 * 0.92× with them kept, runs of 2026-12-03). The kernel holds one reference to the open
 * file per id, not an fd of ours; like the inode's own O_PATH fd it keeps an unlinked file's
 * blocks until FORGET. An id goes when its inode is released (FORGET, the session ending:
 * releasedInode), when its file's setuid/setgid state no longer matches how it was registered,
 * and beyond KEPT_MAX, the oldest first.
 */
const keptIds = new Set<IoMode>();
const KEPT_MAX = 1024;

function giveUp(m: IoMode): void {
  keptIds.delete(m);
  // Without an fd of the inode's own (the budget took it back) the backing file may be the last
  // reference to an unlinked file: then its unregistering frees the blocks (last-close.ts).
  if (m.backingId >= 0) m.registry?.close(m.backingId, m.inode.fd < 0);
  m.backingId = -1;
}

/** The inode's mode is done with: its id given up, its entry gone. */
function dropMode(m: IoMode): void {
  giveUp(m);
  ioModes.delete(m.inode);
}

/**
 * The handle's I/O mode at OPEN: true (and h.backingId set) for passthrough, false for I/O through
 * the server. The inode's first open registers the backing file (or takes the kept one back).
 */
export function startIoMode(backing: BackingFiles, h: FileHandle): boolean {
  let m = ioModes.get(h.inode);
  if (!m) ioModes.set(h.inode, m = { inode: h.inode, backingId: -1, registry: null, withoutFsetid: false, passthrough: 0, cached: 0 });
  let pass = true;
  if (m.passthrough === 0 && m.cached === 0) {
    keptIds.delete(m);
    // Decided from the file's mode now: a chmod since the id was kept must count.
    const privs = hasPrivBits(modeOfFd(h.fd));
    if (m.backingId >= 0 && (m.withoutFsetid !== privs || m.registry !== backing)) giveUp(m);
    pass = !(privs && writable(h.flags));
    if (pass && m.backingId < 0) {
      const id = backing.open(h.fd, privs);
      if (id >= 0) {
        m.backingId = id;
        m.registry = backing;
        m.withoutFsetid = privs;
      }
    }
  }
  if (pass && m.backingId >= 0 && m.cached === 0) {
    m.passthrough++;
    h.backingId = m.backingId;
    return true;
  }
  m.cached++;
  cachedHandles.add(h);
  return false;
}

/** The handle no longer counts for its inode's I/O mode. After the last, a registered id is kept
 *  for the next open while the inode lives. */
export function endIoMode(h: FileHandle): void {
  const m = ioModes.get(h.inode);
  if (!m) return;
  if (cachedHandles.delete(h)) m.cached--;
  else if (h.backingId >= 0) m.passthrough--;
  if (m.passthrough > 0 || m.cached > 0) return;
  if (m.backingId >= 0 && h.inode.live) {
    keptIds.add(m);
    if (keptIds.size > KEPT_MAX) {
      dropMode(keptIds.values().next().value as IoMode);
    }
    return;
  }
  dropMode(m);
}

/** The inode is released (PassthroughFs.releaseInode): its kept id goes. An inode with handles
 *  still open (dropped as stale) keeps its state until their RELEASE, which then gives it up. */
export function releasedInode(inode: Inode): void {
  const m = ioModes.get(inode);
  if (!m || m.passthrough > 0 || m.cached > 0) return;
  dropMode(m);
}

