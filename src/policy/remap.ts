// The inode number encoding of --multidevs=remap. See docs/multidevs.md for the reasoning.
//
// 64-bit layout of a remapped number (bit 63 = most significant):
//
//   bit 63      : 1, the remap marker. Host numbers the client sees unchanged are all < 2^63.
//   bits 62..48 : device index d (15 bits). d >= 1: a device registered in the DeviceRegistry;
//                 d = 0: the fallback range.
//   bits 47..0  : d >= 1: the host inode number itself (it must be < 2^48);
//                 d = 0: a sequence number from the persistent fallback table.
//
// Properties (each one is what a test checks):
// - no two different host objects share a number in one client-visible filesystem: numbers passed
//   through unchanged are < 2^63, remapped ones are >= 2^63; direct ones differ by (d, host ino);
//   fallback ones by a sequence number the registry never hands out twice;
// - one (device, host ino) always gives one number, as long as the registry is the same (it is
//   persisted across restarts, and its merge never gives one index or sequence number to two keys).
//
// Numbers are bigint here: this runs once per inode when the caller caches the result, never per
// request. inoLo/inoHi give the two u32 halves for the wire encoders.

import type { DeviceId } from './device-id';

export const DEVICE_INDEX_BITS = 15;
export const HOST_INO_BITS = 48;
export const REMAP_MARKER = 1n << 63n;
/** Largest device index; index 0 is the fallback range. */
export const MAX_DEVICE_INDEX = (1 << DEVICE_INDEX_BITS) - 1;
/** Host inode numbers below this are encoded directly. */
export const DIRECT_INO_LIMIT = 1n << BigInt(HOST_INO_BITS);
/** Fallback sequence numbers are 1 .. MAX_FALLBACK_SEQ (0 is never handed out). */
export const MAX_FALLBACK_SEQ = DIRECT_INO_LIMIT - 1n;
const U64_MAX = (1n << 64n) - 1n;

/** Host numbers at or above this cannot be passed through unchanged under remap. */
export const RESERVED_RANGE_START = REMAP_MARKER;

export function fitsDirect(hostIno: bigint): boolean {
  return hostIno >= 0n && hostIno < DIRECT_INO_LIMIT;
}

export function isReserved(ino: bigint): boolean {
  return ino >= RESERVED_RANGE_START;
}

export function encodeDirect(deviceIndex: number, hostIno: bigint): bigint {
  if (!Number.isInteger(deviceIndex) || deviceIndex < 1 || deviceIndex > MAX_DEVICE_INDEX) {
    throw new RangeError(`device index ${deviceIndex} outside 1..${MAX_DEVICE_INDEX}`);
  }
  if (!fitsDirect(hostIno)) throw new RangeError(`host inode ${hostIno} does not fit ${HOST_INO_BITS} bits`);
  return REMAP_MARKER | (BigInt(deviceIndex) << BigInt(HOST_INO_BITS)) | hostIno;
}

export function encodeFallback(seq: bigint): bigint {
  if (seq < 1n || seq > MAX_FALLBACK_SEQ) throw new RangeError(`fallback sequence ${seq} outside 1..${MAX_FALLBACK_SEQ}`);
  return REMAP_MARKER | seq;
}

export type DecodedIno =
  | { kind: 'host'; ino: bigint }
  | { kind: 'direct'; deviceIndex: number; hostIno: bigint }
  | { kind: 'fallback'; seq: bigint };

/** For logs and tests: what a client-visible number stands for. */
export function decodeIno(ino: bigint): DecodedIno {
  if (!isReserved(ino)) return { kind: 'host', ino };
  const low = ino & (DIRECT_INO_LIMIT - 1n);
  const d = Number((ino >> BigInt(HOST_INO_BITS)) & BigInt(MAX_DEVICE_INDEX));
  return d === 0 ? { kind: 'fallback', seq: low } : { kind: 'direct', deviceIndex: d, hostIno: low };
}

export function inoLo(ino: bigint): number {
  return Number(ino & 0xffffffffn);
}

export function inoHi(ino: bigint): number {
  return Number((ino >> 32n) & 0xffffffffn);
}

export function inoFromLoHi(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

export function checkU64(ino: bigint): bigint {
  if (ino < 0n || ino > U64_MAX) throw new RangeError(`inode number ${ino} is not a u64`);
  return ino;
}

/** What the remapper needs from the persistent registry (src/state/device-registry.ts). */
export interface RemapTables {
  /** The device's index (1..MAX_DEVICE_INDEX), registering it if new; 0 when every index is
   *  taken (the caller then uses the fallback table for all of that device's objects). */
  deviceIndex(device: DeviceId): number;
  /** The fallback sequence number of (device, host ino), assigning the next one if new;
   *  undefined when the table is full (no number can be given without risking a collision). */
  fallbackSeq(device: DeviceId, hostIno: bigint): bigint | undefined;
}

export type RemapResult = { ino: bigint; via: 'direct' | 'fallback' } | { ino: undefined; via: 'exhausted' };

/** Computes the client-visible number of an object that must be remapped. */
export function remapIno(tables: RemapTables, device: DeviceId, hostIno: bigint): RemapResult {
  checkU64(hostIno);
  if (fitsDirect(hostIno)) {
    const d = tables.deviceIndex(device);
    if (d >= 1) return { ino: encodeDirect(d, hostIno), via: 'direct' };
  }
  const seq = tables.fallbackSeq(device, hostIno);
  if (seq === undefined) return { ino: undefined, via: 'exhausted' };
  return { ino: encodeFallback(seq), via: 'fallback' };
}
