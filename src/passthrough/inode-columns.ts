// The inode table's data, one column (typed array) per field, indexed by slot. A client can make
// us hold millions of inodes (that is what file handles are for), so an inode must cost bytes,
// not a heap object of a dozen fields plus strings: typed arrays live outside the JS heap, are
// never scanned by the GC, and one inode's fields take ~60 bytes here. Slots are reused after an
// inode is dropped (node ids are not: see inode-store.ts).
//
// What is shared by many inodes is interned once (placeOf): the mount id, st_dev and the two
// multidevs device ids. A file handle's bytes are kept inline (HANDLE_INLINE covers ext4, tmpfs,
// xfs and btrfs handles); a longer one (overlayfs) goes to a side map.
import type { InoValue } from '../protocol/wire';

export const NO_HANDLE = -1;
/** f_handle bytes stored in the slot; longer handles are kept in `longHandles` */
export const HANDLE_INLINE = 20;
const HEADER = 8; // struct file_handle: u32 handle_bytes, i32 handle_type, then the bytes

/** Interned (mount id, st_dev, device, visibleDevice): few distinct values, never released. */
export class Places {
  readonly mntId: number[] = [];
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

export class InodeColumns {
  capacity: number;
  /** node id of the inode in the slot; 0 = free slot */
  nodeid: Float64Array;
  /** O_PATH fd, or -1 (kept as a file handle, or released) */
  fd: Int32Array;
  nlookup: Float64Array;
  mode: Uint16Array;
  /** index into places */
  place: Int32Array;
  inoLo: Uint32Array;
  inoHi: Uint32Array;
  /** the inode number the client sees; NaN when it is a bigint (then in bigClientIno) */
  clientIno: Float64Array;
  handleType: Int32Array;
  /** f_handle length, or NO_HANDLE */
  handleLen: Int16Array;
  handleBytes: Uint8Array;
  readonly bigClientIno = new Map<number, bigint>();
  readonly longHandles = new Map<number, Uint8Array>();
  readonly places = new Places();

  constructor(capacity = 1024) {
    this.capacity = capacity;
    this.nodeid = new Float64Array(capacity);
    this.fd = new Int32Array(capacity);
    this.nlookup = new Float64Array(capacity);
    this.mode = new Uint16Array(capacity);
    this.place = new Int32Array(capacity);
    this.inoLo = new Uint32Array(capacity);
    this.inoHi = new Uint32Array(capacity);
    this.clientIno = new Float64Array(capacity);
    this.handleType = new Int32Array(capacity);
    this.handleLen = new Int16Array(capacity);
    this.handleBytes = new Uint8Array(capacity * HANDLE_INLINE);
  }

  /** Doubles every column (copying), so slot numbers stay valid. */
  grow(): void {
    const n = this.capacity * 2;
    this.nodeid = widen(this.nodeid, new Float64Array(n));
    this.fd = widen(this.fd, new Int32Array(n));
    this.nlookup = widen(this.nlookup, new Float64Array(n));
    this.mode = widen(this.mode, new Uint16Array(n));
    this.place = widen(this.place, new Int32Array(n));
    this.inoLo = widen(this.inoLo, new Uint32Array(n));
    this.inoHi = widen(this.inoHi, new Uint32Array(n));
    this.clientIno = widen(this.clientIno, new Float64Array(n));
    this.handleType = widen(this.handleType, new Int32Array(n));
    this.handleLen = widen(this.handleLen, new Int16Array(n));
    this.handleBytes = widen(this.handleBytes, new Uint8Array(n * HANDLE_INLINE));
    this.capacity = n;
  }

  setClientIno(slot: number, v: InoValue): void {
    if (typeof v === 'number') {
      this.clientIno[slot] = v;
      this.bigClientIno.delete(slot);
    } else {
      this.clientIno[slot] = NaN;
      this.bigClientIno.set(slot, v);
    }
  }

  getClientIno(slot: number): InoValue {
    const v = this.clientIno[slot];
    return v === v ? v : this.bigClientIno.get(slot)!;
  }

  /** Stores a `struct file_handle` (header + bytes, as name_to_handle_at wrote it), or none. */
  setHandle(slot: number, h: Uint8Array | null): void {
    this.longHandles.delete(slot);
    if (!h) {
      this.handleLen[slot] = NO_HANDLE;
      return;
    }
    const len = u32(h, 0);
    this.handleType[slot] = u32(h, 4) | 0;
    this.handleLen[slot] = len;
    const bytes = h.subarray(HEADER, HEADER + len);
    if (len <= HANDLE_INLINE) this.handleBytes.set(bytes, slot * HANDLE_INLINE);
    else this.longHandles.set(slot, Uint8Array.from(bytes));
  }

  /** Writes the slot's `struct file_handle` into out; its length, or -1 without a handle. */
  handleInto(slot: number, out: Buffer): number {
    const len = this.handleLen[slot];
    if (len === NO_HANDLE || out.length < HEADER + len) return -1;
    out.writeUInt32LE(len, 0);
    out.writeInt32LE(this.handleType[slot], 4);
    const at = slot * HANDLE_INLINE;
    out.set(len <= HANDLE_INLINE ? this.handleBytes.subarray(at, at + len) : this.longHandles.get(slot)!, HEADER);
    return HEADER + len;
  }

  /** Whether h (a `struct file_handle`) is the handle stored in the slot. */
  handleEquals(slot: number, h: Uint8Array): boolean {
    const len = this.handleLen[slot];
    if (len === NO_HANDLE || h.length < HEADER) return false;
    if (u32(h, 0) !== len || (u32(h, 4) | 0) !== this.handleType[slot] || h.length < HEADER + len) return false;
    const stored = len <= HANDLE_INLINE ? this.handleBytes : this.longHandles.get(slot)!;
    const base = len <= HANDLE_INLINE ? slot * HANDLE_INLINE : 0;
    for (let k = 0; k < len; k++) if (stored[base + k] !== h[HEADER + k]) return false;
    return true;
  }

  /** Forgets what only side maps hold for the slot (it is being freed). */
  clearSlot(slot: number): void {
    this.nodeid[slot] = 0;
    this.fd[slot] = -1;
    this.nlookup[slot] = 0;
    this.handleLen[slot] = NO_HANDLE;
    this.bigClientIno.delete(slot);
    this.longHandles.delete(slot);
  }
}

const u32 = (b: Uint8Array, off: number) => (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;

function widen<T extends Float64Array | Int32Array | Uint32Array | Uint16Array | Int16Array | Uint8Array>(from: T, to: T): T {
  to.set(from as never);
  return to;
}
