// The table of inodes the client knows. Node ids are ours: monotonic, never reused (a stale id
// from a hostile or confused client can only miss, never hit another object); 1 is the root.
// Lookup counts follow the kernel's: every entry reply adds one, FORGET subtracts, and at zero the
// inode is gone for good — a later lookup of the same object gets a new node id (no resurrection).
//
// Memory is the point of the layout (target: 100k inodes in file-handle mode must cost well under
// 30 MB): the fields sit in typed-array columns indexed by a reused slot number; two
// open-addressing tables of slot numbers find a slot by node id and by (mount id, dev, ino); the
// store keeps no heap object per inode at all (an Inode is a view made per call, see inode.ts),
// so 100k inodes neither grow the GC'd heap nor make V8 grow its young generation.
import { Inode, InodeInit, InodeKeyParts } from './inode';
import { InodeColumns, PAGE_MASK } from './inode-columns';
import { mix32, SlotHash } from './slot-hash';
import { InodeFdRing } from './inode-fd-ring';

export const ROOT_ID = 1;

const TWO32 = 0x1_0000_0000;
const idHash = (nodeid: number) => mix32(nodeid >>> 0, (nodeid / TWO32) >>> 0);
const keyHash = (mntId: number, devMajor: number, devMinor: number, inoHi: number, inoLo: number) =>
  mix32(inoLo, inoHi, devMinor, devMajor, (mntId >>> 0) ^ ((mntId / TWO32) >>> 0));

export class InodeStore {
  private cols = new InodeColumns();
  /** freed slots, a stack (freeSlots[0..freeCount)) */
  private freeSlots = new Int32Array(1024);
  private freeCount = 0;
  private nextSlot = 0;
  private byId = new SlotHash((slot) => idHash(this.cols.page(slot).nodeid[slot & PAGE_MASK]));
  private byKey = new SlotHash((slot) => this.keyHashOf(slot));
  private nextId = ROOT_ID + 1;
  /** --inode-file-handles auto: the budget of O_PATH fds (null in the other modes) */
  private ring: InodeFdRing | null = null;

  constructor(private readonly release: (inode: Inode) => void) {}

  /** Keeps at most `budget` inode fds open from now on (inodes given to budgetFd). */
  limitFds(budget: number): void {
    this.ring = new InodeFdRing(this.cols, budget);
  }

  /** The fd budget, or null when fds are not budgeted. */
  get fdRing(): InodeFdRing | null {
    return this.ring;
  }

  /** Stores h (a `struct file_handle`, copied) as a live inode's handle. */
  setHandle(inode: Inode, h: Uint8Array): void {
    if (inode.live) this.cols.setHandle(inode.slot, h);
  }

  /**
   * Gives a live inode that has a file handle, or can get one (inode-fd-ring.ts takeBack), and no
   * fd the O_PATH fd `fd`, under the budget:
   * another inode's fd may be closed for it. false: not kept (no budget, or every budgeted fd
   * is borrowed right now); the fd is still the caller's then.
   */
  budgetFd(inode: Inode, fd: number): boolean {
    if (!this.ring || !inode.live || inode.fd >= 0) return false;
    inode.fd = fd;
    if (this.ring.add(inode.slot)) return true;
    inode.fd = -1;
    return false;
  }

  get size(): number {
    return this.byId.size;
  }

  get(nodeid: number): Inode | undefined {
    const slot = this.slotOf(nodeid);
    return slot < 0 ? undefined : this.view(slot);
  }

  /**
   * The inode last added under this key and not unlinked since. Only trust the match while the
   * inode is pinned by an fd (or confirmed by its file handle): the host reuses inode numbers.
   */
  findByKey(k: InodeKeyParts): Inode | undefined {
    const c = this.cols;
    const p = c.places;
    const t = this.byKey;
    for (let b = t.start(keyHash(k.mntId, k.devMajor, k.devMinor, k.inoHi, k.inoLo)); ; b = t.next(b)) {
      const s = t.at(b);
      if (s < 0) return undefined;
      const pg = c.page(s);
      const i = s & PAGE_MASK;
      if (pg.inoLo[i] !== k.inoLo || pg.inoHi[i] !== k.inoHi) continue;
      const pl = pg.place[i];
      if (p.devMinor[pl] === k.devMinor && p.devMajor[pl] === k.devMajor && p.mntId[pl] === k.mntId) return this.view(s);
    }
  }

  /** Registers a new inode with a fresh node id (or the root's) and no lookups yet. */
  add(init: InodeInit, isRoot = false): Inode {
    if (isRoot && this.slotOf(ROOT_ID) >= 0) throw new Error('the root inode is already in the store');
    const nodeid = isRoot ? ROOT_ID : this.nextId++;
    const slot = this.takeSlot();
    const c = this.cols;
    const pg = c.page(slot);
    const i = slot & PAGE_MASK;
    pg.nodeid[i] = nodeid;
    pg.fd[i] = init.fd;
    pg.nlookup[i] = 0;
    pg.mode[i] = init.mode;
    pg.place[i] = c.places.intern(init.mntId, init.devMajor, init.devMinor, init.device, init.visibleDevice);
    pg.inoLo[i] = init.inoLo;
    pg.inoHi[i] = init.inoHi;
    c.setClientIno(slot, init.clientIno);
    c.setHandle(slot, init.handle);
    this.byId.insert(slot, idHash(nodeid));
    // One inode per key: a caller adding a key that is still linked means the old inode is stale.
    const stale = this.findByKey(init);
    if (stale) this.unlinkKey(stale);
    this.byKey.insert(slot, this.keyHashOf(slot));
    return this.view(slot);
  }

  /** Drops n lookups; releases the inode when none are left. The root is never released. */
  forget(nodeid: number, n: number): void {
    if (nodeid === ROOT_ID) return;
    const slot = this.slotOf(nodeid);
    if (slot < 0) return;
    const counts = this.cols.page(slot).nlookup;
    const left = counts[slot & PAGE_MASK];
    const now = n >= left ? 0 : left - n;
    counts[slot & PAGE_MASK] = now;
    if (now === 0) this.drop(this.view(slot));
  }

  /** Removes an inode whose host object is no longer what its key says (e.g. a stale handle). */
  drop(inode: Inode): void {
    if (!inode.live) return;
    const slot = inode.slot;
    this.ring?.remove(slot);
    this.release(inode);
    this.unlinkKey(inode);
    this.byId.remove(slot, idHash(inode.nodeid));
    this.cols.clearSlot(slot);
    if (this.freeCount === this.freeSlots.length) {
      const more = new Int32Array(this.freeSlots.length * 2);
      more.set(this.freeSlots);
      this.freeSlots = more;
    }
    this.freeSlots[this.freeCount++] = slot;
  }

  /** The key no longer names this inode (its host object is gone); node id stays valid until FORGET. */
  unlinkKey(inode: Inode): void {
    if (inode.live) this.byKey.remove(inode.slot, this.keyHashOf(inode.slot));
  }

  /** Releases everything (DESTROY, unmount) except the root, which stays with its lookups. */
  clear(): void {
    for (let s = 0; s < this.nextSlot; s++) {
      const id = this.nodeidAt(s);
      if (id !== 0 && id !== ROOT_ID) this.drop(this.view(s));
    }
  }

  *all(): IterableIterator<Inode> {
    for (let s = 0; s < this.nextSlot; s++) {
      if (this.nodeidAt(s) !== 0) yield this.view(s);
    }
  }

  private slotOf(nodeid: number): number {
    const t = this.byId;
    for (let i = t.start(idHash(nodeid)); ; i = t.next(i)) {
      const s = t.at(i);
      if (s < 0 || this.nodeidAt(s) === nodeid) return s;
    }
  }

  private keyHashOf(slot: number): number {
    const c = this.cols;
    const pg = c.page(slot);
    const i = slot & PAGE_MASK;
    const pl = pg.place[i];
    return keyHash(c.places.mntId[pl], c.places.devMajor[pl], c.places.devMinor[pl], pg.inoHi[i], pg.inoLo[i]);
  }

  private view(slot: number): Inode {
    const c = this.cols;
    const pg = c.page(slot);
    const i = slot & PAGE_MASK;
    return new Inode(pg.nodeid[i], slot, c, pg.mode[i], c.getClientIno(slot), pg.place[i]);
  }

  private nodeidAt(slot: number): number {
    return this.cols.page(slot).nodeid[slot & PAGE_MASK];
  }

  private takeSlot(): number {
    if (this.freeCount > 0) return this.freeSlots[--this.freeCount];
    if (this.nextSlot === this.cols.capacity) this.cols.grow();
    return this.nextSlot++;
  }
}
