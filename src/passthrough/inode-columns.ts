// The inode table's data, one column (typed array) per field, indexed by slot, in pages of 4096
// slots. A client can make us hold millions of inodes (that is what file handles are for), so an
// inode must cost bytes, not a heap object of a dozen fields plus strings: typed arrays live
// outside the JS heap, are never scanned by the GC, and one inode's fields take 73 bytes here.
// Slots are reused after an inode is dropped (node ids are not: see inode-store.ts).
//
// What is shared by many inodes is interned once (Places): the mount id, st_dev and the two
// multidevs device ids. A file handle's bytes are kept inline (HANDLE_INLINE covers ext4, tmpfs,
// xfs and btrfs handles); a longer one (overlayfs) goes to a side map.
import type { InoValue } from '../protocol/wire';

export const NO_HANDLE = -1;
/** f_handle bytes stored in the slot; longer handles are kept in `longHandles` */
export const HANDLE_INLINE = 20;
const HEADER = 8; // struct file_handle: u32 handle_bytes, i32 handle_type, then the bytes
const MAX_HANDLE = 128; // MAX_HANDLE_SZ

/** Interned (mount id, st_dev, device, visibleDevice): few distinct values, never released. */
export class Places {
  readonly mntId: number[] = [];
  /** statfs f_type of the place's filesystem, -1 until first asked: one mount id and st_dev are
   *  one superblock, so it is asked once per place instead of once per open. A later mount that
   *  reuses a gone one's mount id and anonymous st_dev is still another place: its device id
   *  names its filesystem type (policy/device-id). */
  readonly fsType: number[] = [];
  readonly devMajor: number[] = [];
  readonly devMinor: number[] = [];
  readonly device: string[] = [];
  readonly visibleDevice: string[] = [];
  private index = new Map<string, number>();
  private last = -1;

  intern(mntId: number, devMajor: number, devMinor: number, device: string, visibleDevice: string): number {
    // Most new inodes share their parent's place (a directory full of files): check the last one
    // before building a key string.
    const l = this.last;
    if (l >= 0 && this.matches(l, mntId, devMajor, devMinor, device, visibleDevice)) return l;
    const key = `${mntId}:${devMajor}:${devMinor}\0${device}\0${visibleDevice}`;
    let p = this.index.get(key);
    if (p === undefined) {
      p = this.mntId.length;
      this.mntId.push(mntId);
      this.devMajor.push(devMajor);
      this.devMinor.push(devMinor);
      this.device.push(device);
      this.visibleDevice.push(visibleDevice);
      this.fsType.push(-1);
      this.index.set(key, p);
    }
    this.last = p;
    return p;
  }

  private matches(p: number, mntId: number, devMajor: number, devMinor: number, device: string, visibleDevice: string): boolean {
    return this.mntId[p] === mntId && this.devMajor[p] === devMajor && this.devMinor[p] === devMinor &&
      this.device[p] === device && this.visibleDevice[p] === visibleDevice;
  }
}

/** Slots per page: 4096 inodes' fields are ~290 KiB. */
export const PAGE_SHIFT = 12;
export const PAGE_SLOTS = 1 << PAGE_SHIFT;
export const PAGE_MASK = PAGE_SLOTS - 1;

/** The fields of PAGE_SLOTS slots; slot s is index s & PAGE_MASK of page s >>> PAGE_SHIFT. */
export class InodePage {
  /** node id of the inode in the slot; 0 = free slot */
  readonly nodeid = new Float64Array(PAGE_SLOTS);
  /** O_PATH fd, or -1 (kept as a file handle, or released) */
  readonly fd = new Int32Array(PAGE_SLOTS);
  readonly nlookup = new Float64Array(PAGE_SLOTS);
  readonly mode = new Uint16Array(PAGE_SLOTS);
  /** index into places */
  readonly place = new Int32Array(PAGE_SLOTS);
  readonly inoLo = new Uint32Array(PAGE_SLOTS);
  readonly inoHi = new Uint32Array(PAGE_SLOTS);
  /** the inode number the client sees; NaN when it is a bigint (then in bigClientIno) */
  readonly clientIno = new Float64Array(PAGE_SLOTS);
  readonly handleType = new Int32Array(PAGE_SLOTS);
  /** f_handle length, or NO_HANDLE */
  readonly handleLen = new Int16Array(PAGE_SLOTS);
  readonly handleBytes = new Uint8Array(PAGE_SLOTS * HANDLE_INLINE);
  /** --inode-file-handles auto: 1 + the fd's position in the fd ring, 0 when not budgeted */
  readonly fdPos = new Int32Array(PAGE_SLOTS);
  /** --inode-file-handles auto: bit 0 used recently, bits 1..7 borrows (inode-fd-ring.ts) */
  readonly use = new Uint8Array(PAGE_SLOTS);
}

/**
 * All slots' fields, in pages: growing adds a page and never copies, so there is no old array
 * left for the GC to free some time later (a doubling array would leave the previous half
 * behind, uncollected until the next full GC), and at most one page is partly unused.
 */
export class InodeColumns {
  readonly pages: InodePage[] = [];
  readonly bigClientIno = new Map<number, bigint>();
  readonly longHandles = new Map<number, Uint8Array>();
  readonly places = new Places();

  get capacity(): number {
    return this.pages.length * PAGE_SLOTS;
  }

  /** Adds a page of free slots. */
  grow(): void {
    this.pages.push(new InodePage());
  }

  page(slot: number): InodePage {
    return this.pages[slot >>> PAGE_SHIFT];
  }

  setClientIno(slot: number, v: InoValue): void {
    const pg = this.page(slot);
    if (typeof v === 'number') {
      pg.clientIno[slot & PAGE_MASK] = v;
      this.bigClientIno.delete(slot);
    } else {
      pg.clientIno[slot & PAGE_MASK] = NaN;
      this.bigClientIno.set(slot, v);
    }
  }

  getClientIno(slot: number): InoValue {
    const v = this.page(slot).clientIno[slot & PAGE_MASK];
    return v === v ? v : this.bigClientIno.get(slot)!;
  }

  /** Stores a `struct file_handle` (header + bytes, as name_to_handle_at wrote it), or none. */
  setHandle(slot: number, h: Uint8Array | null): void {
    const pg = this.page(slot);
    const i = slot & PAGE_MASK;
    this.longHandles.delete(slot);
    if (!h) {
      pg.handleLen[i] = NO_HANDLE;
      return;
    }
    const len = h.length >= HEADER ? u32(h, 0) : -1;
    if (len < 0 || len > MAX_HANDLE || HEADER + len > h.length) throw new RangeError(`not a struct file_handle (${h.length} bytes)`);
    pg.handleType[i] = u32(h, 4) | 0;
    pg.handleLen[i] = len;
    const bytes = h.subarray(HEADER, HEADER + len);
    if (len <= HANDLE_INLINE) pg.handleBytes.set(bytes, i * HANDLE_INLINE);
    else this.longHandles.set(slot, Uint8Array.from(bytes));
  }

  /** Writes the slot's `struct file_handle` into out; its length, or -1 without a handle. */
  handleInto(slot: number, out: Buffer): number {
    const pg = this.page(slot);
    const i = slot & PAGE_MASK;
    const len = pg.handleLen[i];
    if (len === NO_HANDLE || out.length < HEADER + len) return -1;
    out.writeUInt32LE(len, 0);
    out.writeInt32LE(pg.handleType[i], 4);
    const at = i * HANDLE_INLINE;
    out.set(len <= HANDLE_INLINE ? pg.handleBytes.subarray(at, at + len) : this.longHandles.get(slot)!, HEADER);
    return HEADER + len;
  }

  /** Whether h (a `struct file_handle`) is the handle stored in the slot. */
  handleEquals(slot: number, h: Uint8Array): boolean {
    const pg = this.page(slot);
    const i = slot & PAGE_MASK;
    const len = pg.handleLen[i];
    if (len === NO_HANDLE || h.length < HEADER + len) return false;
    if (u32(h, 0) !== len || (u32(h, 4) | 0) !== pg.handleType[i]) return false;
    const stored = len <= HANDLE_INLINE ? pg.handleBytes : this.longHandles.get(slot)!;
    const base = len <= HANDLE_INLINE ? i * HANDLE_INLINE : 0;
    for (let k = 0; k < len; k++) if (stored[base + k] !== h[HEADER + k]) return false;
    return true;
  }

  /** Marks the slot free and forgets what side maps hold for it. */
  clearSlot(slot: number): void {
    const pg = this.page(slot);
    const i = slot & PAGE_MASK;
    pg.nodeid[i] = 0;
    pg.fd[i] = -1;
    pg.nlookup[i] = 0;
    pg.handleLen[i] = NO_HANDLE;
    pg.fdPos[i] = 0;
    pg.use[i] = 0;
    this.bigClientIno.delete(slot);
    this.longHandles.delete(slot);
  }
}

const u32 = (b: Uint8Array, off: number) => (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
