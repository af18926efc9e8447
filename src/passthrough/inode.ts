// One host object the client holds a reference to. Its identity is (mount id, st_dev, st_ino):
// the mount id keeps two bind mounts of one filesystem apart (the same dev+ino seen through two
// mounts are different places in the tree, with different submounts below them), st_dev+st_ino
// tell objects apart within a mount. The O_PATH fd (or, with file handles, the handle) pins the
// object, so the key cannot be reused by the host while we hold it.
//
// The fields live in the store's columns (inode-columns.ts), not in a heap object per inode: an
// Inode is a short-lived view the store makes on get()/findByKey()/add(), with the fields that
// never change copied in (mode, client inode number, place) and the ones that do (fd, lookups,
// handle) read through the columns. Two views of one inode are different objects: compare node
// ids, never objects, and key per-inode maps by node id. A view may outlive its inode (an open
// handle keeps one): once the store drops the inode and gives its slot to another, the view is
// no longer live and answers fd -1, no handle, no lookups, so a hostile client that FORGETs a
// node it still has handles on gets ESTALE, never another object's fd.
import type { InoValue } from '../protocol/wire';
import { InodeColumns, PAGE_MASK } from './inode-columns';

export interface InodeKeyParts {
  mntId: number;
  devMajor: number;
  devMinor: number;
  inoHi: number;
  inoLo: number;
}

/** The key as text, for messages. */
export const inodeKey = (s: InodeKeyParts) => `${s.mntId}:${s.devMajor}:${s.devMinor}:${s.inoHi}:${s.inoLo}`;

/** What a new inode is made of (InodeStore.add). */
export interface InodeInit extends InodeKeyParts {
  /** O_PATH fd, or -1 when the inode is kept as a file handle only; the store owns it */
  fd: number;
  /** `struct file_handle` (header + bytes, as name_to_handle_at wrote it), copied; or null */
  handle: Uint8Array | null;
  mode: number;
  /** the inode number the client sees: the host's, or remapped (multidevs) */
  clientIno: InoValue;
  /** stable id of the host device the object is on (policy/device-id) */
  device: string;
  /** the device of the filesystem the client sees it in: the export root's or the nearest
   *  announced submount's */
  visibleDevice: string;
}

export class Inode {
  constructor(
    readonly nodeid: number,
    /** index into the store's columns (store-internal) */
    readonly slot: number,
    private readonly cols: InodeColumns,
    readonly mode: number,
    /** the inode number the client sees: the host's, or remapped (multidevs) */
    readonly clientIno: InoValue,
    /** index of the interned (mount id, st_dev, device, visibleDevice) */
    private readonly place: number,
  ) {}

  /** What tells inodes of different stores (file systems) apart: node ids are per store. */
  get owner(): object {
    return this.cols;
  }

  /** Whether the store still holds this inode (its slot was not freed and given to another). */
  get live(): boolean {
    return this.cols.page(this.slot).nodeid[this.slot & PAGE_MASK] === this.nodeid;
  }

  /** O_PATH fd, or -1 when the inode is kept as a file handle only (or was released) */
  get fd(): number {
    return this.live ? this.cols.page(this.slot).fd[this.slot & PAGE_MASK] : -1;
  }

  set fd(v: number) {
    if (this.live) this.cols.page(this.slot).fd[this.slot & PAGE_MASK] = v;
  }

  /** lookups the client holds; FORGET subtracts, saturating at 0. A dropped inode keeps 0. */
  get nlookup(): number {
    return this.live ? this.cols.page(this.slot).nlookup[this.slot & PAGE_MASK] : 0;
  }

  set nlookup(v: number) {
    if (this.live) this.cols.page(this.slot).nlookup[this.slot & PAGE_MASK] = v;
  }

  get mntId(): number {
    return this.cols.places.mntId[this.place];
  }

  get devMajor(): number {
    return this.cols.places.devMajor[this.place];
  }

  get devMinor(): number {
    return this.cols.places.devMinor[this.place];
  }

  /** stable id of the host device the object is on (policy/device-id) */
  get device(): string {
    return this.cols.places.device[this.place];
  }

  /** the device of the filesystem the client sees it in: the export root's or the nearest
   *  announced submount's */
  get visibleDevice(): string {
    return this.cols.places.visibleDevice[this.place];
  }

  /** statfs f_type of the filesystem the object is on, -1 until known (see close-waits fsTypeOf) */
  get fsType(): number {
    return this.cols.places.fsType[this.place];
  }

  set fsType(v: number) {
    this.cols.places.fsType[this.place] = v;
  }

  /** Whether the inode is kept as a file handle (a dropped one no longer is). */
  get hasHandle(): boolean {
    return this.live && this.cols.page(this.slot).handleLen[this.slot & PAGE_MASK] >= 0;
  }

  /** Writes the `struct file_handle` into out (no allocation); its length, or -1 without one. */
  handleInto(out: Buffer): number {
    return this.live ? this.cols.handleInto(this.slot, out) : -1;
  }

  /** Whether h (a `struct file_handle`) is this inode's handle. */
  handleEquals(h: Uint8Array): boolean {
    return this.live && this.cols.handleEquals(this.slot, h);
  }

  /** The handle as a new Buffer (tests, messages), or null. */
  get handle(): Buffer | null {
    const out = Buffer.alloc(8 + 128);
    const n = this.handleInto(out);
    return n < 0 ? null : out.subarray(0, n);
  }
}

/**
 * State some inodes carry outside the store (file-ops' backing ids, lock-ops' locking handles),
 * keyed by inode: by its store and node id, because two views of one inode are different objects.
 * The map has the WeakMap methods it replaces, but entries stay until deleted.
 */
export class InodeMap<V> {
  private byStore = new WeakMap<object, Map<number, V>>();

  get(inode: Inode): V | undefined {
    return this.byStore.get(inode.owner)?.get(inode.nodeid);
  }

  set(inode: Inode, v: V): this {
    let m = this.byStore.get(inode.owner);
    if (!m) this.byStore.set(inode.owner, m = new Map());
    m.set(inode.nodeid, v);
    return this;
  }

  delete(inode: Inode): boolean {
    return this.byStore.get(inode.owner)?.delete(inode.nodeid) ?? false;
  }
}
