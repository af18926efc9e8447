// An open-addressing hash table of slot numbers (indexes into the inode columns), kept in one
// Int32Array: 4 bytes a bucket and no heap object per entry, where a Map costs ~36 bytes an entry
// and a JS object or string per key. The table holds only slots; what a slot's key is lives in the
// columns, so the caller hashes its key, walks the probe sequence (start/next) and compares the
// candidate slots' columns itself. Linear probing with backward-shift deletion: no tombstones, so
// a long run of lookups and forgets (what a hostile client can drive) never degrades the probes.
// Load stays at most 1/2 (the table doubles); it never shrinks (its peak is the peak of inodes
// the client held, which the columns keep too).

const EMPTY = -1;

/** A well-mixed 32-bit hash of up to five u32 words (murmur3's finalizer over a simple combine). */
export function mix32(a: number, b = 0, c = 0, d = 0, e = 0): number {
  let h = Math.imul(a ^ Math.imul(b, 0x9e3779b1), 0x85ebca6b);
  h ^= Math.imul(c ^ (h >>> 15), 0xc2b2ae35);
  h ^= Math.imul(d ^ (h >>> 13), 0x27d4eb2f);
  h ^= Math.imul(e ^ (h >>> 16), 0x165667b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

export class SlotHash {
  private table: Int32Array;
  private mask: number;
  private count = 0;

  /** hashOf(slot): the hash of the key stored at slot (to move entries when deleting or growing). */
  constructor(private readonly hashOf: (slot: number) => number, initialSize = 1024) {
    this.table = new Int32Array(initialSize).fill(EMPTY);
    this.mask = initialSize - 1;
  }

  get size(): number {
    return this.count;
  }

  /** First bucket of the probe sequence for hash h. */
  start(h: number): number {
    return h & this.mask;
  }

  next(i: number): number {
    return (i + 1) & this.mask;
  }

  /** The slot in bucket i, or -1 when the bucket is empty (the probe sequence ends there). */
  at(i: number): number {
    return this.table[i];
  }

  /** Adds slot under hash h (the caller made sure the key is not present). */
  insert(slot: number, h: number): void {
    if ((this.count + 1) * 2 > this.table.length) this.grow();
    let i = h & this.mask;
    while (this.table[i] !== EMPTY) i = (i + 1) & this.mask;
    this.table[i] = slot;
    this.count++;
  }

  /** Removes slot (stored under hash h); false when it was not there. */
  remove(slot: number, h: number): boolean {
    const t = this.table;
    const mask = this.mask;
    let i = h & mask;
    for (;;) {
      const s = t[i];
      if (s === EMPTY) return false;
      if (s === slot) break;
      i = (i + 1) & mask;
    }
    // Backward shift: pull later entries of the run into the hole when their home bucket does not
    // lie (cyclically) between the hole and where they sit, so every entry stays reachable.
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const s = t[j];
      if (s === EMPTY) break;
      const home = this.hashOf(s) & mask;
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (!stays) {
        t[hole] = s;
        hole = j;
      }
    }
    t[hole] = EMPTY;
    this.count--;
    return true;
  }

  clear(): void {
    this.table.fill(EMPTY);
    this.count = 0;
  }

  private grow(): void {
    const old = this.table;
    this.table = new Int32Array(old.length * 2).fill(EMPTY);
    this.mask = this.table.length - 1;
    for (let k = 0; k < old.length; k++) {
      const s = old[k];
      if (s === EMPTY) continue;
      let i = this.hashOf(s) & this.mask;
      while (this.table[i] !== EMPTY) i = (i + 1) & this.mask;
      this.table[i] = s;
    }
  }
}
