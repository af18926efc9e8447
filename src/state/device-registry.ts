// The persistent device registry behind --multidevs=remap: stable DeviceId -> device index, and
// the fallback table (device, host ino) -> sequence number for the objects whose numbers cannot be
// encoded directly (see src/policy/remap.ts and docs/multidevs.md).
//
// Invariants, checked when a file is read and kept by every operation, because a broken one would
// show the client two objects with one inode number:
// - no two devices share an index; no two fallback keys share a sequence number;
// - indices and sequence numbers are never handed out twice (nextIndex / nextFallback only grow),
//   so a device seen once keeps its numbers for as long as this state lives.

import type { DeviceId } from '../policy/device-id';
import {
  DEVICE_INDEX_BITS,
  HOST_INO_BITS,
  MAX_DEVICE_INDEX,
  MAX_FALLBACK_SEQ,
  checkU64,
  type RemapTables,
} from '../policy/remap';

export interface DeviceRegistryJSON {
  deviceIndexBits: number;
  hostInoBits: number;
  nextIndex: number;
  /** [device id, index] */
  devices: [DeviceId, number][];
  /** Decimal string (u64). */
  nextFallback: string;
  /** [device id, host ino, sequence number], numbers as decimal strings. */
  fallback: [DeviceId, string, string][];
}

export interface DeviceRegistryOptions {
  /** Most fallback entries kept (each is persisted). Past it, fallbackSeq answers undefined. */
  maxFallbackEntries?: number;
}

export const DEFAULT_MAX_FALLBACK_ENTRIES = 1_000_000;

function fallbackKey(device: DeviceId, hostIno: bigint): string {
  // '\0' cannot appear in a DeviceId built from mountinfo text, nor in a decimal number.
  return `${device}\0${hostIno}`;
}

export class DeviceRegistry implements RemapTables {
  private readonly indexById = new Map<DeviceId, number>();
  private readonly idByIndex = new Map<number, DeviceId>();
  private nextIndex = 1;
  private readonly seqByKey = new Map<string, bigint>();
  private readonly keyBySeq = new Map<bigint, string>();
  private nextFallback = 1n;
  private gen = 0;
  readonly maxFallbackEntries: number;

  constructor(opts: DeviceRegistryOptions = {}) {
    this.maxFallbackEntries = opts.maxFallbackEntries ?? DEFAULT_MAX_FALLBACK_ENTRIES;
  }

  /** Grows by one on every change: the caller saves when it differs from the last saved one. */
  get generation(): number {
    return this.gen;
  }

  get deviceCount(): number {
    return this.indexById.size;
  }

  get fallbackCount(): number {
    return this.seqByKey.size;
  }

  /** The index of a known device, without registering it. */
  peekIndex(device: DeviceId): number | undefined {
    return this.indexById.get(device);
  }

  deviceIndex(device: DeviceId): number {
    const known = this.indexById.get(device);
    if (known !== undefined) return known;
    if (this.nextIndex > MAX_DEVICE_INDEX) return 0;
    this.setIndex(device, this.nextIndex++);
    this.gen++;
    return this.indexById.get(device)!;
  }

  fallbackSeq(device: DeviceId, hostIno: bigint): bigint | undefined {
    const key = fallbackKey(device, checkU64(hostIno));
    const known = this.seqByKey.get(key);
    if (known !== undefined) return known;
    if (this.seqByKey.size >= this.maxFallbackEntries || this.nextFallback > MAX_FALLBACK_SEQ) return undefined;
    this.setSeq(key, this.nextFallback++);
    this.gen++;
    return this.seqByKey.get(key)!;
  }

  private setIndex(device: DeviceId, index: number): void {
    this.indexById.set(device, index);
    this.idByIndex.set(index, device);
  }

  private setSeq(key: string, seq: bigint): void {
    this.seqByKey.set(key, seq);
    this.keyBySeq.set(seq, key);
  }

  toJSON(): DeviceRegistryJSON {
    return {
      deviceIndexBits: DEVICE_INDEX_BITS,
      hostInoBits: HOST_INO_BITS,
      nextIndex: this.nextIndex,
      devices: [...this.indexById].sort((a, b) => a[1] - b[1]),
      nextFallback: this.nextFallback.toString(),
      fallback: [...this.seqByKey]
        .sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
        .map(([key, seq]) => {
          const cut = key.lastIndexOf('\0');
          return [key.slice(0, cut), key.slice(cut + 1), seq.toString()];
        }),
    };
  }

  /** Rebuild from toJSON() output. Throws on anything malformed or breaking an invariant: the
   *  store then treats the file as corrupt and uses the other copy. */
  static fromJSON(value: unknown, opts: DeviceRegistryOptions = {}): DeviceRegistry {
    const v = value as Partial<DeviceRegistryJSON> | null;
    if (typeof v !== 'object' || v === null) throw new Error('device registry: not an object');
    if (v.deviceIndexBits !== DEVICE_INDEX_BITS || v.hostInoBits !== HOST_INO_BITS) {
      throw new Error(`device registry: encoding ${v.deviceIndexBits}/${v.hostInoBits} bits, this vfsd uses ${DEVICE_INDEX_BITS}/${HOST_INO_BITS}`);
    }
    if (!Array.isArray(v.devices) || !Array.isArray(v.fallback)) throw new Error('device registry: missing tables');
    const r = new DeviceRegistry(opts);
    let maxIndex = 0;
    for (const d of v.devices) {
      if (!Array.isArray(d) || typeof d[0] !== 'string' || !Number.isInteger(d[1]) || d[1] < 1 || d[1] > MAX_DEVICE_INDEX) {
        throw new Error(`device registry: bad device entry ${JSON.stringify(d)}`);
      }
      if (r.indexById.has(d[0]) || r.idByIndex.has(d[1])) throw new Error(`device registry: duplicate device entry ${JSON.stringify(d)}`);
      r.setIndex(d[0], d[1]);
      maxIndex = Math.max(maxIndex, d[1]);
    }
    let maxSeq = 0n;
    for (const f of v.fallback) {
      if (!Array.isArray(f) || typeof f[0] !== 'string' || f[0].includes('\0')) throw new Error(`device registry: bad fallback entry`);
      const ino = parseU64(f[1]);
      const seq = parseU64(f[2]);
      if (seq < 1n || seq > MAX_FALLBACK_SEQ) throw new Error(`device registry: fallback sequence ${seq} out of range`);
      const key = fallbackKey(f[0], ino);
      if (r.seqByKey.has(key) || r.keyBySeq.has(seq)) throw new Error(`device registry: duplicate fallback entry ${JSON.stringify(f)}`);
      r.setSeq(key, seq);
      if (seq > maxSeq) maxSeq = seq;
    }
    // The counters must stay past everything handed out, even if a file says otherwise.
    r.nextIndex = Math.max(Number.isInteger(v.nextIndex) ? v.nextIndex! : 1, maxIndex + 1);
    const nf = typeof v.nextFallback === 'string' ? parseU64(v.nextFallback) : 1n;
    r.nextFallback = nf > maxSeq ? nf : maxSeq + 1n;
    return r;
  }

  /**
   * Merge the backup into the primary: entries in one only are kept, on conflict the primary wins.
   * A backup entry keeps its index (or sequence number) when the primary does not use it for
   * something else; otherwise it gets a fresh one. Never two devices with one index.
   */
  static merge(primary: DeviceRegistry, backup: DeviceRegistry, opts: DeviceRegistryOptions = {}): DeviceRegistry {
    const r = DeviceRegistry.fromJSON(primary.toJSON(), opts);
    r.nextIndex = Math.max(r.nextIndex, backup.nextIndex);
    r.nextFallback = r.nextFallback > backup.nextFallback ? r.nextFallback : backup.nextFallback;
    for (const [id, index] of [...backup.indexById].sort((a, b) => a[1] - b[1])) {
      if (r.indexById.has(id)) continue;
      if (!r.idByIndex.has(index)) r.setIndex(id, index);
      else if (r.nextIndex <= MAX_DEVICE_INDEX) r.setIndex(id, r.nextIndex++);
      // else: no index left; the device's objects go through the fallback table from now on.
    }
    for (const [key, seq] of [...backup.seqByKey].sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))) {
      if (r.seqByKey.has(key)) continue;
      if (r.seqByKey.size >= r.maxFallbackEntries) break;
      if (!r.keyBySeq.has(seq)) r.setSeq(key, seq);
      else if (r.nextFallback <= MAX_FALLBACK_SEQ) r.setSeq(key, r.nextFallback++);
    }
    return r;
  }
}

function parseU64(s: unknown): bigint {
  if (typeof s !== 'string' || !/^[0-9]{1,20}$/.test(s)) throw new Error(`device registry: bad number ${JSON.stringify(s)}`);
  return checkU64(BigInt(s));
}
