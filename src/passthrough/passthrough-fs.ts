// The passthrough filesystem's shared state and the bookkeeping every operation needs: the
// export root, the inode table, the open handles, turning a host stat into what the client sees.
// The operations themselves live one group per file (entry-ops, attr-ops, file-ops, ...).
import { AT_FDCWD, C, must, sys } from '../native/sys';
import type { Attr, EntryOut } from '../protocol/reply';
import { encodeRdev } from '../protocol/wire';
import { Errno } from '../protocol/errno';
import { FUSE_ATTR_SUBMOUNT } from '../protocol/flags';
import { errnoName } from '../log/errno-name';
import { silentLogger, type Logger } from '../log/logger';
import type { Credentials } from './credentials';
import type { BackingFiles } from '../native/channel';
import { PassthroughConfig, timeoutsFor } from './config';
import { HandleTable } from './handles';
import { HostStat, isDir, isReg, statAt, statFd } from './host-stat';
import type { Inode, InodeInit, InodeKeyParts } from './inode';
import { InodeStore, ROOT_ID } from './inode-store';
import { guestGid, guestUid } from '../policy/id-map';
import { isDot, isDotDot } from './names';
import { releaseLockFds } from './lock-fds';
import { endIoMode, releasedInode } from './io-modes';
import { closeHandleFd } from './close-waits';
import { shouldAnnounceSubmount } from '../policy/submount';
import { InodePolicy, passThroughPolicy, Placement } from './inode-policy';
import { inodeFdBudget } from './inode-fd-ring';
import { procName, procSelfFd } from './proc-fd';
import { OffLoop } from './off-loop';
import { ExportContainment } from './export-containment';
import { closeInodeFd } from './last-close';

/** The attributes as the client sees them (struct fuse_attr) and an entry (fuse_entry_out). */
export type WireAttr = Attr;
export type Entry = EntryOut;

const HANDLE_BUF = 8 + 128;

export class PassthroughFs {
  readonly inodes: InodeStore;
  readonly handles = new HandleTable();
  /** which mounts' metadata syscalls run on the worker pool (off-loop.ts) */
  readonly offLoop = new OffLoop();
  /** bumped by releaseAll(): a pool completion posted before it belongs to a session that is gone */
  generation = 0;
  readonly timeout: number;
  readonly procSelfFd: number;
  readonly root: Inode;
  /** learned at INIT (see init()): the client offered FUSE_SUBMOUNTS and --announce-submounts is on */
  private announceSubmounts = false;
  /** learned at INIT (see init()): FUSE_POSIX_ACL is on, so the ACL xattrs are served even without --xattr */
  private posixAcl = false;
  /** learned at INIT (see init()): FUSE passthrough's backing files, when negotiated */
  private backingFiles: BackingFiles | null = null;
  /** learned at INIT (see init()): FUSE_WRITEBACK_CACHE is on (the open flags change, see file-ops hostOpenFlags) */
  private writebackCache = false;
  /** O_PATH fds kept per mount id for open_by_handle_at (file-handle inodes) */
  private mountFds = new Map<number, number>();
  private handleScratch = Buffer.alloc(HANDLE_BUF);
  /** a stored handle is copied here for open_by_handle_at (handleScratch may be in use) */
  private openScratch = Buffer.alloc(HANDLE_BUF);
  /** --inode-file-handles auto with working file handles: inode fds are kept within a budget */
  private budgeted = false;

  /**
   * @param creds the per-thread caller credentials, shared with whoever else does the daemon's own
   *   filesystem work on the serving thread (the device map, the state keeper: creds.privileged)
   */
  constructor(
    readonly config: PassthroughConfig, readonly creds: Credentials, readonly policy: InodePolicy = passThroughPolicy,
    private readonly log: Logger = silentLogger,
  ) {
    this.timeout = timeoutsFor(config.cache);
    this.procSelfFd = must(procSelfFd(), '/proc/self/fd');
    const rootFd = must(sys.openat(AT_FDCWD, config.sharedDir, C.O_PATH | C.O_DIRECTORY, 0), config.sharedDir);
    const st = statFd(rootFd);
    if (typeof st === 'number') throw new Error(`${config.sharedDir}: ${errnoName(-st)}`);
    this.inodes = new InodeStore((inode) => this.releaseInode(inode));
    const place = this.policy.root(st, rootFd);
    this.root = this.inodes.add(inodeInit(st, rootFd, null, place), true);
    this.root.nlookup = 1;
    this.rootStat = st;
    this.containment = new ExportContainment(rootFd, st);
    if (config.inodeFileHandles !== 'never') this.mountFdFor(st, rootFd);
    if (config.inodeFileHandles === 'auto') this.startBudget(st);
  }

  /**
   * --inode-file-handles auto: budget the inode fds if the export root's file handles can be made
   * and opened (open_by_handle_at needs CAP_DAC_READ_SEARCH; some filesystems have no handles).
   * Otherwise every inode keeps its fd, as with `never`: said once here, and running out of fds
   * then answers EMFILE/ENFILE.
   */
  private startBudget(st: HostStat): void {
    if (!this.mountFds.has(st.mntId) || this.mountFds.get(st.mntId)! < 0) {
      this.log.warn('file handles unavailable on the export: one fd per inode (like --inode-file-handles never); a tree larger than the open-file limit gets EMFILE', {
        shared_dir: this.config.sharedDir,
      });
      return;
    }
    const lim = sys.getrlimit(C.RLIMIT_NOFILE);
    const budget = this.config.inodeFdBudget ?? inodeFdBudget(typeof lim === 'number' ? 1024 : lim[0]);
    this.inodes.limitFds(budget);
    this.budgeted = true;
    this.log.info('inode fds: the recently used ones kept open, file handles for the rest', { inode_fd_budget: budget });
  }

  readonly rootStat: HostStat;
  /** whether a directory the client names children in is still inside the export */
  private readonly containment: ExportContainment;

  /** What INIT settled, told once by the session (like virtiofsd's FileSystem::init): whether entry
   *  replies announce submounts, whether the kernel enforces POSIX ACLs or caches writes, and FUSE passthrough's
   *  backing files if it was negotiated. */
  init(features: { submounts: boolean; posixAcl: boolean; writeback: boolean; backing: BackingFiles | null }): void {
    this.announceSubmounts = features.submounts;
    this.posixAcl = features.posixAcl;
    this.writebackCache = features.writeback;
    this.backingFiles = features.backing;
  }

  /** FUSE_WRITEBACK_CACHE is on: the kernel caches writes (see file-ops hostOpenFlags). */
  get writeback(): boolean {
    return this.writebackCache;
  }

  /** FUSE_POSIX_ACL is on: the ACL xattrs are served even without --xattr. */
  get aclXattrs(): boolean {
    return this.posixAcl;
  }

  /** FUSE passthrough's backing files, or null when it is not negotiated. */
  get backing(): BackingFiles | null {
    return this.backingFiles;
  }

  inode(nodeid: number): Inode | undefined {
    return this.inodes.get(nodeid);
  }

  /** The inode, or -ENOENT for a node id we never issued or that was forgotten. */
  known(nodeid: number): Inode | number {
    return this.inodes.get(nodeid) ?? -Errno.ENOENT;
  }

  /**
   * Runs fn with an fd that refers to the inode (O_PATH). Inodes kept as file handles are opened
   * O_PATH by handle for the call (see openHandle) and closed after; with a budget (auto) the fd
   * opened is kept for the next call instead, and another, least recently used, may be closed.
   *
   * With a budget, the inode is borrowed for the length of fn: fn may look up or create other
   * inodes (adopt), which may close budgeted fds, never a borrowed one. The seam for work done off
   * the JS thread on an inode fd: it must hold such a borrow until it is done.
   */
  withFd<T>(inode: Inode, fn: (fd: number) => T | number): T | number {
    let fd = inode.fd;
    if (fd < 0) {
      fd = this.openHandle(inode);
      if (fd < 0) return fd;
      if (!this.inodes.budgetFd(inode, fd)) {
        try {
          return fn(fd);
        } finally {
          sys.close(fd);
        }
      }
    }
    const ring = this.inodes.fdRing;
    // A borrow fails only past 127 nested borrows of one inode, which no request makes.
    if (!ring || !ring.borrow(inode.slot)) return fn(fd);
    try {
      return fn(fd);
    } finally {
      if (inode.live) ring.release(inode.slot);
    }
  }

  /** Like withFd, for a directory the client names children in (lookup, create, remove, rename,
   *  opendir) and for LINK's source: only while that object is still inside the export
   *  (export-containment.ts). One the host moved out answers ENOENT (as if gone from the export)
   *  until it is moved back; the node itself (stat of the directory the client had) is unaffected. */
  withFdInExport<T>(inode: Inode, fn: (fd: number) => T | number): T | number {
    return this.withFd(inode, (fd) => (inode.nodeid === ROOT_ID || this.containment.holds(fd, isDir(inode.mode)) ? fn(fd) : -Errno.ENOENT));
  }

  /**
   * Opens a file-handle inode O_PATH: open_by_handle_at needs CAP_DAC_READ_SEARCH, so with the
   * daemon's credentials — which is why it never opens with access flags: that open would be
   * the daemon's, bypassing the caller's permissions (a 0600 file of another user read,
   * appended to, truncated). reopen() opens the O_PATH fd as the caller.
   */
  private openHandle(inode: Inode): number {
    const mfd = this.mountFdOf(inode);
    if (mfd < 0 || inode.handleInto(this.openScratch) < 0) return -Errno.ESTALE;
    return this.retryShort(() => this.creds.privileged(() => sys.openByHandleAt(mfd, this.openScratch, C.O_PATH | C.O_CLOEXEC)));
  }

  /** What openHandle would open inode from, for a worker to open it (pool-ops.ts): the mount's
   *  fd and a copy of the handle; null for an inode that holds its fd or has no handle to open. */
  handleToOpen(inode: Inode): { mountFd: number; handle: Buffer } | null {
    const mountFd = inode.fd >= 0 ? -1 : this.mountFdOf(inode);
    const handle = mountFd < 0 ? null : inode.handle;
    return handle ? { mountFd, handle } : null;
  }

  /** The fd open_by_handle_at opens inode's handle against, or -1 (its mount has none). */
  private mountFdOf(inode: Inode): number {
    return this.mountFds.get(inode.mntId) ?? -1;
  }

  /**
   * Runs an fd-opening call; when it fails with EMFILE/ENFILE and budgeted inode fds are open,
   * closes an eighth of them (least recently used), lowers the budget to what is left (the limit
   * was lowered under us, or the system is short of files) and tries once more. Without a budget
   * the errno is the answer: the client sees EMFILE/ENFILE, the server goes on.
   */
  retryShort(open: () => number): number {
    const fd = open();
    return this.shedForShortage(fd) ? open() : fd;
  }

  /** For r, an open's result: whether it is EMFILE/ENFILE and the budget gave back fds, so one
   *  more try may succeed (retryShort here, retriedIfShort for the pool's opens). */
  shedForShortage(r: number): boolean {
    if (r !== -Errno.EMFILE && r !== -Errno.ENFILE) return false;
    const ring = this.inodes.fdRing;
    if (!ring || ring.shrink(Math.max(16, ring.held >> 3), 16, r === -Errno.EMFILE ? softFdLimit() : Infinity) === 0) return false;
    if (!this.shrinkSaid) {
      this.shrinkSaid = true;
      this.log.warn('out of fds: inode fd budget lowered', { errno: errnoName(-r), inode_fd_budget: ring.budget });
    }
    return true;
  }

  private shrinkSaid = false;

  /** A path naming fd for the calls that only take a path (xattrs, truncate): "/proc/self/fd/N",
   *  or after useProcCwd() just "N", relative to the working directory. */
  procPath(fd: number): string {
    return this.procIsCwd ? String(fd) : `/proc/self/fd/${fd}`;
  }

  private procIsCwd = false;

  /**
   * For --sandbox chroot: /proc is not reachable from inside the export, but the fd we hold on
   * /proc/self/fd is. Making it the working directory (a cwd may lie outside the root) keeps
   * procPath() names resolvable. Returns 0 or -errno.
   */
  useProcCwd(): number {
    const r = sys.fchdir(this.procSelfFd);
    if (r === 0) this.procIsCwd = true;
    return r;
  }

  /** "/proc/self/fd/N"-relative name for re-opening an O_PATH fd with real access flags. */
  procName(fd: number): string {
    return procName(fd);
  }

  /**
   * Re-opens an inode with open flags (never following: the fd already is the object). Only
   * regular files and directories: opening a FIFO would block the server, a device node would
   * hand the client the host's device. OPEN checks this itself; FSYNC without a handle and SYNCFS
   * reach here with any node id a hostile client names.
   */
  reopen(inode: Inode, flags: number): number {
    if (!isReg(inode.mode) && !isDir(inode.mode)) return -Errno.EACCES;
    const f = reopenFlags(flags);
    // Through /proc/self/fd with the caller's credentials: the host checks the caller's rights
    // on this open, also for an inode opened by its file handle (as the daemon, O_PATH only).
    return this.withFd(inode, (fd) => this.retryShort(() => sys.openat(this.procSelfFd, this.procName(fd), f, 0)));
  }

  /**
   * Finds or creates the inode for `name` in `parent` and adds one lookup. The child is opened
   * O_PATH|O_NOFOLLOW relative to the parent's fd: a symlink is pinned as itself, never followed,
   * and a mount point yields the root of what is mounted there (its own mount id).
   */
  lookupChild(parent: Inode, name: Uint8Array): { inode: Inode; st: HostStat } | number {
    if (isDot(name)) return this.refer(parent);
    // `..` at the export root stays at the root; elsewhere it is the real parent, which the kernel
    // only asks for on NFS-style reconnects.
    if (isDotDot(name) && parent.nodeid === ROOT_ID) return this.refer(parent);
    return this.withFdInExport(parent, (pfd) => this.lookupIn(parent, pfd, name, false));
  }

  /** How often (moving average, 0..1) a LOOKUP found an object we already hold. */
  private heldRate = 1;
  private lookups = 0;

  /**
   * lookupChild for a name other than "." and "..", with the parent's fd in hand and the export
   * check done by the caller (READDIRPLUS checks once per reply, not once per entry; a create
   * checks once for the creating call and this lookup). `notHeld`: the caller knows the name is
   * no inode we hold pinned (it was created a moment ago by this request, or READDIRPLUS's own
   * statx of it found none), so the by-name statx of the fast path is skipped.
   */
  lookupIn(parent: Inode, pfd: number, name: Uint8Array, notHeld = false): { inode: Inode; st: HostStat } | number {
    // Fast path for an object we already hold: a statx by name is enough, because the inode
    // we hold pins that (mount, dev, ino) — the key cannot name another object meanwhile. Only
    // for inodes pinned by an fd: a file handle does not pin, so those go the long way and
    // compare handles. When most lookups find new objects (a cold tree walk), that statx is
    // a wasted syscall each: then it is tried on one lookup in 16 only, to notice the change.
    if (!notHeld && (this.heldRate >= 0.25 || (++this.lookups & 15) === 0)) {
      const seen = statAt(pfd, name);
      if (typeof seen === 'number') return seen;
      if (seen.mask & C.STATX_MNT_ID) {
        const known = this.referPinned(seen);
        if (known) {
          this.heldRate += (1 - this.heldRate) / 8;
          return { inode: known, st: seen };
        }
      }
    }
    const fd = this.retryShort(() => sys.openat(pfd, name, C.O_PATH | C.O_NOFOLLOW, 0));
    if (fd < 0) return fd;
    const r = this.adopt(fd, parent, name);
    // adopt() found a held inode (its lookup count went past 1): the fast path would have done.
    if (!notHeld && typeof r !== 'number') this.heldRate += ((r.inode.nlookup > 1 && r.inode.fd >= 0 ? 1 : 0) - this.heldRate) / 8;
    return r;
  }

  /**
   * lookupIn's fast path on its own: the inode we hold under this key (from a statx with
   * STATX_MNT_ID), with one lookup more, if an fd pins it; undefined otherwise (then only the
   * long way, lookupIn, may find it). READDIRPLUS uses it for entries it statx'ed natively.
   */
  referPinned(key: InodeKeyParts): Inode | undefined {
    const known = this.inodes.findByKey(key);
    if (!known || known.fd < 0) return undefined;
    this.inodes.fdRing?.touch(known.slot);
    known.nlookup++;
    return known;
  }

  /**
   * Turns a fresh O_PATH fd into a looked-up inode: an inode already known under the same key
   * gets one more lookup (and the new fd is closed); otherwise a new node id. Takes ownership of fd.
   * `stat`: the fd's statx when the caller has it already (a lookup done on the worker pool).
   */
  adopt(fd: number, parent: Inode, name: Uint8Array | null, stat?: HostStat): { inode: Inode; st: HostStat } | number {
    const st = stat ?? statFd(fd);
    if (typeof st === 'number') {
      sys.close(fd);
      return st;
    }
    if (!(st.mask & C.STATX_MNT_ID)) {
      const m = sys.nameToHandleAt(fd, '', C.AT_EMPTY_PATH, this.handleScratch);
      if (m >= 0) st.mntId = m;
    }
    let handle: Buffer | null = null;
    const mode = this.config.inodeFileHandles;
    // auto (budgeted): the handle is made only when the budget takes the fd back (inode-fd-ring.ts
    // takeBack): while the fd is open it pins the object, and most inodes never lose theirs.
    let lazy = false;
    if (mode !== 'never' && (mode !== 'auto' || this.budgeted) && this.mountFdFor(st, fd) >= 0) {
      lazy = mode === 'auto';
      const m = lazy ? -1 : sys.nameToHandleAt(fd, '', C.AT_EMPTY_PATH, this.handleScratch);
      if (m >= 0) {
        handle = this.handleScratch;
      } else if (mode === 'mandatory') {
        sys.close(fd);
        return m;
      }
    }
    const known = this.inodes.findByKey(st);
    // A known inode without its fd is confirmed by its handle (the host may have reused the inode
    // number since): only then is the new object's needed.
    if (lazy && known && known.fd < 0 && known.hasHandle && sys.nameToHandleAt(fd, '', C.AT_EMPTY_PATH, this.handleScratch) >= 0) {
      handle = this.handleScratch;
    }
    if (known && (!handle || !known.hasHandle || known.handleEquals(handle))) {
      // auto: an inode whose fd was taken back is in use again and keeps this one.
      if (!this.inodes.budgetFd(known, fd)) sys.close(fd);
      known.nlookup++;
      return { inode: known, st };
    }
    // A key match with another file handle is a reused inode number: the old entry is stale.
    if (known) this.inodes.unlinkKey(known);
    const place = this.policy.classify(st, parent, fd, name, this.isAnnounced(st, parent));
    if (typeof place === 'number') {
      sys.close(fd);
      return place;
    }
    const keepFd = handle === null && !lazy;
    // The store copies the handle's bytes (handleScratch is reused by the next lookup).
    const inode = this.inodes.add(inodeInit(st, keepFd ? fd : -1, lazy ? null : handle, place));
    // auto: a new inode keeps its fd within the budget (an older one's may be closed for it).
    if (!keepFd && !this.inodes.budgetFd(inode, fd)) this.withoutBudget(inode, fd, lazy);
    inode.nlookup = 1;
    return { inode, st };
  }

  /** A new inode whose fd the budget could not take (every budgeted fd is borrowed right now):
   *  it stays a file handle only, made now if it was left for later (`lazy`); an object without
   *  one keeps its fd, outside the budget. */
  private withoutBudget(inode: Inode, fd: number, lazy: boolean): void {
    if (lazy && sys.nameToHandleAt(fd, '', C.AT_EMPTY_PATH, this.handleScratch) >= 0) this.inodes.setHandle(inode, this.handleScratch);
    if (inode.hasHandle) sys.close(fd);
    else inode.fd = fd;
  }

  /**
   * open_by_handle_at needs a real (not O_PATH) fd on the same mount. We open the first directory
   * we meet on each mount (normally its root) read-only with our own credentials and keep it.
   * A mount whose root is a file (a bind-mounted file) has no such directory: its inodes keep
   * their O_PATH fds instead of handles (-1 here).
   */
  private mountFdFor(st: HostStat, fd: number): number {
    const known = this.mountFds.get(st.mntId);
    if (known !== undefined) return known;
    if (!isDir(st.mode)) return -1;
    const mfd = this.creds.privileged(() => sys.openat(this.procSelfFd, this.procName(fd), C.O_RDONLY | C.O_DIRECTORY | C.O_CLOEXEC, 0));
    if (mfd < 0) return mfd;
    if (this.config.inodeFileHandles === 'auto' && !this.handlesWork(mfd, fd)) {
      // Kept as -1: this mount's inodes keep their fds (outside the budget), said once.
      sys.close(mfd);
      this.mountFds.set(st.mntId, -1);
      if (this.budgeted) this.log.warn('a mount in the export has no usable file handles: its inodes keep one fd each', { mnt_id: st.mntId });
      return -1;
    }
    this.mountFds.set(st.mntId, mfd);
    return mfd;
  }

  /** auto: whether this directory's handle can be made and opened again (filesystem support,
   *  CAP_DAC_READ_SEARCH): only then may its mount's fds be taken back. */
  private handlesWork(mfd: number, fd: number): boolean {
    if (sys.nameToHandleAt(fd, '', C.AT_EMPTY_PATH, this.handleScratch) < 0) return false;
    const back = this.creds.privileged(() => sys.openByHandleAt(mfd, this.handleScratch, C.O_PATH | C.O_CLOEXEC));
    if (back < 0) return false;
    sys.close(back);
    return true;
  }

  private refer(inode: Inode): { inode: Inode; st: HostStat } | number {
    const st = this.withFd(inode, (fd) => statFd(fd));
    if (typeof st === 'number') return st;
    inode.nlookup++;
    return { inode, st };
  }

  /** A directory on another mount or device than its parent, when the client sees submounts. */
  isAnnounced(st: HostStat, parent: Inode): boolean {
    return shouldAnnounceSubmount({
      clientOfferedSubmounts: this.announceSubmounts, announceEnabled: true, isDir: isDir(st.mode),
      child: st, parent,
    });
  }

  /** The owner the client sees for a host uid / gid (--translate-uid/gid; as it is without). */
  guestUid(uid: number): number {
    return guestUid(this.config.ids, uid);
  }

  guestGid(gid: number): number {
    return guestGid(this.config.ids, gid);
  }

  /** The attributes the client sees for a host stat of this inode. */
  attrOf(st: HostStat, inode: Inode, parent?: Inode): WireAttr {
    const flags = parent && this.isAnnounced(st, parent) ? FUSE_ATTR_SUBMOUNT : 0;
    return {
      ino: inode.clientIno, size: st.size, blocks: st.blocks,
      atime: st.atime, mtime: st.mtime, ctime: st.ctime,
      atimensec: st.atimeNsec, mtimensec: st.mtimeNsec, ctimensec: st.ctimeNsec,
      mode: st.mode, nlink: st.nlink, uid: this.guestUid(st.uid), gid: this.guestGid(st.gid),
      rdev: encodeRdev(st.rdevMajor, st.rdevMinor), blksize: st.blksize, flags,
    };
  }

  entryOf(inode: Inode, st: HostStat, parent: Inode): Entry {
    return {
      nodeid: inode.nodeid, generation: 0,
      entryValid: this.timeout, entryValidNsec: 0, attrValid: this.timeout, attrValidNsec: 0,
      attr: this.attrOf(st, inode, parent),
    };
  }

  private releaseInode(inode: Inode): void {
    releasedInode(inode);
    if (inode.fd >= 0 && inode.nodeid !== ROOT_ID) {
      // Often the last reference to a file the client unlinked (last-close.ts).
      closeInodeFd(inode.fd, isReg(inode.mode));
      inode.fd = -1;
    }
  }

  /** Everything the client held is released (DESTROY, or the session ended). */
  releaseAll(): void {
    for (const h of this.handles.all()) {
      // A file handle may also own one open description per POSIX-lock owner (lock-ops.ts), and
      // a FUSE passthrough backing id: both go with it, as on RELEASE.
      if (h.kind === 'file') {
        releaseLockFds(h, null);
        endIoMode(h);
      }
      closeHandleFd(h, this.offLoop.wants(h.inode.mntId));
    }
    this.handles.clear();
    this.inodes.clear();
    this.root.nlookup = 1;
    this.generation++;
  }

  /** The filesystem is done for good (a library user or a test tearing it down): everything
   *  releaseAll() releases, then the export root and the per-mount fds. The process's one
   *  /proc/self/fd handle (proc-fd.ts) stays: other filesystems in the process share it. */
  close(): void {
    this.releaseAll();
    for (const fd of this.mountFds.values()) if (fd >= 0) sys.close(fd);
    this.mountFds.clear();
    sys.close(this.root.fd);
  }
}

/** The soft RLIMIT_NOFILE now (it may have been lowered since start: prlimit), Infinity when
 *  unlimited or unknown: an fd numbered at or above it is no use to a new open. */
function softFdLimit(): number {
  const lim = sys.getrlimit(C.RLIMIT_NOFILE);
  return typeof lim === 'number' || lim[0] < 0 ? Infinity : lim[0];
}

function inodeInit(st: HostStat, fd: number, handle: Uint8Array | null, place: Placement): InodeInit {
  return {
    mntId: st.mntId, devMajor: st.devMajor, devMinor: st.devMinor, inoHi: st.inoHi, inoLo: st.inoLo,
    fd, handle, mode: st.mode, clientIno: place.clientIno, device: place.device, visibleDevice: place.visibleDevice,
  };
}

/** The flags a reopen of an inode is made with (inline or on the pool): never following (the fd
 *  already is the object) and never creating. */
export function reopenFlags(flags: number): number {
  return flags & ~(C.O_NOFOLLOW | C.O_CREAT | C.O_EXCL);
}
