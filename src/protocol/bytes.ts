// Little-endian integers in a Buffer, read and written through its bytes instead of Buffer's
// methods. Why: V8 does not inline `buf.readUInt32LE(...)` here — each call was a generic property
// load (LoadIC) plus the method's argument validation. callgrind on a GETATTR loop counted ~40% of
// the request's instructions in those calls; element access on a Uint8Array compiles to plain
// loads and stores.
//
// Unlike Buffer's methods these do not throw past the end (a read gives garbage, a write is
// dropped), so they are only for places whose bounds are already known: decoders after their
// checkBody(), encoders writing fixed-size structs into a buffer sized for the largest reply.
// Values are taken modulo 2^32 (writes) like a C cast, never range-checked.

export function u16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

export function u32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16)) + b[o + 3] * 0x100_0000;
}

export function i32(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24);
}

export function setU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
}

/** Writes the low 32 bits of v (so -1 and 0xffffffff alike). */
export function setU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

/** Throws RangeError unless [o, o+size) lies inside b: the one bounds check an encoder or reader
 *  of a fixed-size struct makes before the unchecked accesses above. */
export function room(b: Uint8Array, o: number, size: number): void {
  if (!(o >= 0 && o + size <= b.length)) throw new RangeError(`${size} bytes at offset ${o} do not fit in ${b.length}`);
}
