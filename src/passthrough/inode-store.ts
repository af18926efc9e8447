// The table of inodes the client knows. Node ids are ours: monotonic, never reused (a stale id
// from a hostile or confused client can only miss, never hit another object); 1 is the root.
// Lookup counts follow the kernel's: every entry reply adds one, FORGET subtracts, and at zero the
// inode is gone for good — a later lookup of the same object gets a new node id (no resurrection).
import { Inode } from './inode';

export const ROOT_ID = 1;

export class InodeStore {
  private byId = new Map<number, Inode>();
  private byKey = new Map<string, Inode>();
  private nextId = ROOT_ID + 1;

  constructor(private readonly release: (inode: Inode) => void) {}

  get size(): number {
    return this.byId.size;
  }

  get(nodeid: number): Inode | undefined {
    return this.byId.get(nodeid);
  }

  findByKey(key: string): Inode | undefined {
    return this.byKey.get(key);
  }

  /** Registers a new inode; `make` receives its fresh node id. */
  add(make: (nodeid: number) => Inode, isRoot = false): Inode {
    const inode = make(isRoot ? ROOT_ID : this.nextId++);
    this.byId.set(inode.nodeid, inode);
    this.byKey.set(inode.key, inode);
    return inode;
  }

  /** Drops n lookups; releases the inode when none are left. The root is never released. */
  forget(nodeid: number, n: number): void {
    const inode = this.byId.get(nodeid);
    if (!inode || nodeid === ROOT_ID) return;
    inode.nlookup = n >= inode.nlookup ? 0 : inode.nlookup - n;
    if (inode.nlookup === 0) this.drop(inode);
  }

  /** Removes an inode whose host object is no longer what its key says (e.g. a stale handle). */
  drop(inode: Inode): void {
    this.byId.delete(inode.nodeid);
    if (this.byKey.get(inode.key) === inode) this.byKey.delete(inode.key);
    this.release(inode);
  }

  /** The key no longer names this inode (its host object is gone); node id stays valid until FORGET. */
  unlinkKey(inode: Inode): void {
    if (this.byKey.get(inode.key) === inode) this.byKey.delete(inode.key);
  }

  /** Releases everything (DESTROY, unmount). */
  clear(): void {
    for (const inode of this.byId.values()) this.release(inode);
    this.byId.clear();
    this.byKey.clear();
  }

  *all(): IterableIterator<Inode> {
    yield* this.byId.values();
  }
}
