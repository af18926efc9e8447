// The O_PATH fds of --inode-file-handles auto: at most `budget` of them are open at a time, for
// the inodes used most recently; an inode whose fd was taken back keeps its file handle and is
// opened by it again when a request needs it (PassthroughFs.withFd). Why a budget: one fd per
// inode the client knows is what runs a default server out of fds (RLIMIT_NOFILE) on a tree of
// 20,000 files, and a client (a hostile one most of all) decides how many inodes it knows.
//
// Which fd goes is chosen by CLOCK (second chance): each use sets a slot's `recent` bit, and the
// hand sweeping the ring takes the first fd whose bit is clear, clearing the bits it passes.
// That is LRU-like at O(1) amortised, with one byte per inode (the use column) and one int32 per
// inode (fdPos) plus one int32 per budgeted fd (the ring itself).
//
// An fd in use is never taken: withFd borrows the inode for the length of its call (use column,
// bits 1..7 count the borrows, bit 0 is `recent`), and a borrowed fd is skipped by the hand. All
// of that runs on the JS thread today; anything that hands an inode fd to another thread must keep
// a borrow until that thread is done with it.
import { C, sys } from '../native/sys';
import { InodeColumns, PAGE_MASK } from './inode-columns';
import { closeInodeFd } from './last-close';
import { isReg } from './host-stat';

const RECENT = 1;
const BORROW = 2;
const BORROW_MAX = 0xfe;

export class InodeFdRing {
  /** slot numbers of the inodes whose fds are budgeted; -1 = a free position */
  private ring: Int32Array;
  /** free positions, a stack */
  private free: Int32Array;
  private freeCount = 0;
  /** positions [0, used) were handed out at some time */
  private used = 0;
  private hand = 0;
  /** budgeted fds open now */
  held = 0;

  constructor(private readonly cols: InodeColumns, private cap: number) {
    if (cap < 1) throw new RangeError(`inode fd budget must be at least 1 (got ${cap})`);
    this.ring = new Int32Array(cap).fill(-1);
    this.free = new Int32Array(cap);
  }

  /** How many inode fds may be open at once. */
  get budget(): number {
    return this.cap;
  }

  /**
   * Puts the slot's fd (already stored in its fd column) under the budget, taking back the
   * least recently used unborrowed one first when the budget is full. Returns false (the fd is
   * then the caller's to close: the inode stays a file handle only) when every budgeted fd is
   * borrowed right now.
   */
  add(slot: number): boolean {
    let pos: number;
    if (this.held >= this.cap) {
      pos = this.takeBack();
      if (pos < 0) return false;
    } else if (this.freeCount > 0) {
      pos = this.free[--this.freeCount];
    } else {
      pos = this.used++;
    }
    this.ring[pos] = slot;
    const pg = this.cols.page(slot);
    pg.fdPos[slot & PAGE_MASK] = pos + 1;
    pg.use[slot & PAGE_MASK] |= RECENT;
    this.held++;
    return true;
  }

  /** The slot's fd is closed by its owner (the inode was dropped): its position is free again. */
  remove(slot: number): void {
    const pg = this.cols.page(slot);
    const i = slot & PAGE_MASK;
    const pos = pg.fdPos[i] - 1;
    if (pos < 0) return;
    pg.fdPos[i] = 0;
    this.ring[pos] = -1;
    this.free[this.freeCount++] = pos;
    this.held--;
  }

  /** A request used the inode's fd: the hand passes it over once more. */
  touch(slot: number): void {
    this.cols.page(slot).use[slot & PAGE_MASK] |= RECENT;
  }

  /** The fd must stay open until release(); false when the borrow count is at its cap (the
   *  caller then must not use the budgeted fd past a call that may take it back). */
  borrow(slot: number): boolean {
    const u = this.cols.page(slot).use;
    const i = slot & PAGE_MASK;
    if (u[i] >= BORROW_MAX) return false;
    u[i] = (u[i] + BORROW) | RECENT;
    return true;
  }

  release(slot: number): void {
    const u = this.cols.page(slot).use;
    const i = slot & PAGE_MASK;
    if (u[i] >= BORROW) u[i] -= BORROW;
  }

  /**
   * Closes up to n unborrowed fds, least recently used first, and lowers the budget to what is
   * left open (not below `floor`): the answer to EMFILE/ENFILE, when the process or the system
   * has fewer fds than the budget assumed. Only fds numbered below `below`: EMFILE means no
   * free number under the soft limit, and one lowered under us (prlimit) leaves fds numbered
   * above it whose close frees nothing an open could take. Returns how many were closed.
   */
  shrink(n: number, floor: number, below = Infinity): number {
    let closed = 0;
    while (closed < n && this.held > floor) {
      const pos = this.takeBack(below);
      if (pos < 0) break;
      this.free[this.freeCount++] = pos;
      closed++;
    }
    this.cap = Math.max(floor, Math.min(this.cap, this.held));
    return closed;
  }

  private readonly handleScratch = Buffer.alloc(8 + 128); // struct file_handle, MAX_HANDLE_SZ

  private makeHandle(slot: number, fd: number): boolean {
    if (sys.nameToHandleAt(fd, '', C.AT_EMPTY_PATH, this.handleScratch) < 0) return false;
    this.cols.setHandle(slot, this.handleScratch);
    return true;
  }

  /** Sweeps for an unborrowed fd numbered below `below`, not used since the hand last passed,
   *  closes it and returns its (now empty) position; -1 when every such fd is borrowed. */
  private takeBack(below = Infinity): number {
    const ring = this.ring;
    const cols = this.cols;
    // Two rounds clear every `recent` bit; a third finds nothing only if all are borrowed.
    for (let steps = 3 * this.used; steps > 0; steps--) {
      const pos = this.hand;
      this.hand = pos + 1 >= this.used ? 0 : pos + 1;
      const slot = ring[pos];
      if (slot < 0) continue;
      const pg = cols.page(slot);
      const i = slot & PAGE_MASK;
      const u = pg.use[i];
      if (u >= BORROW || pg.fd[i] >= below) continue;
      if (u & RECENT) {
        pg.use[i] = u & ~RECENT;
        continue;
      }
      // Without its fd the inode is found again by its handle: made now if it has none yet
      // (PassthroughFs.adopt leaves it for here). One whose object gives none keeps its fd,
      // outside the budget from now on.
      if (pg.handleLen[i] < 0 && !this.makeHandle(slot, pg.fd[i])) {
        pg.fdPos[i] = 0;
        ring[pos] = -1;
        this.free[this.freeCount++] = pos;
        this.held--;
        continue;
      }
      // Perhaps the last reference to a file the client unlinked (and not yet forgot).
      closeInodeFd(pg.fd[i], isReg(pg.mode[i]));
      pg.fd[i] = -1;
      pg.fdPos[i] = 0;
      ring[pos] = -1;
      this.held--;
      return pos;
    }
    return -1;
  }
}

/**
 * The budget for a process whose soft RLIMIT_NOFILE is `soft` (-1: unlimited): a quarter of the
 * limit (at least 256) is left for what is not an inode — the client's open files and
 * directories, the transport, a worker pool, node itself — and no more than 65536 inode fds are
 * kept (the fd table is presized to that, see cli/rlimit.ts; past it, fds pin host dentries
 * for little gain: the handles reopen in one syscall).
 */
export function inodeFdBudget(soft: number): number {
  const MAX = 65536;
  if (soft < 0) return MAX;
  const reserve = Math.max(256, Math.floor(soft / 4));
  return Math.max(32, Math.min(MAX, soft - reserve));
}
