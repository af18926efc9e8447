// FUSE requests as a kernel (or a guest's driver) lays them out, for the tests that feed requests
// to the engine or to a transport: fuse_in_header, NUL-terminated names, and the request structs
// the tests send. Every field offset is written down from fuse.h (7.45) here, not taken from
// src/protocol, so that the decoders under test never check their own layouts; the struct sizes
// are src/protocol's, which protocol-abi.test.ts checks against the C compiler.
import * as P from '../../src/protocol';

export const IN_HEADER = 40; // struct fuse_in_header

export interface HeaderFields {
  /** default: the next number of a counter shared by all tests of the process */
  unique?: bigint;
  uid?: number;
  gid?: number;
  /** default: this process */
  pid?: number;
  /** the header's len field; default: the real length */
  len?: number;
  /** total_extlen, in units of 8 bytes */
  extlen?: number;
}

let nextUnique = 1n;

/** A request: fuse_in_header then body. */
export function req(opcode: number, nodeid: number | bigint, body: Buffer = Buffer.alloc(0), f: HeaderFields = {}): Buffer {
  const h = Buffer.alloc(IN_HEADER);
  h.writeUInt32LE((f.len ?? IN_HEADER + body.length) >>> 0, 0);
  h.writeUInt32LE(opcode >>> 0, 4);
  h.writeBigUInt64LE(f.unique ?? nextUnique++, 8);
  h.writeBigUInt64LE(BigInt.asUintN(64, BigInt(nodeid)), 16);
  h.writeUInt32LE((f.uid ?? 0) >>> 0, 24);
  h.writeUInt32LE((f.gid ?? 0) >>> 0, 28);
  h.writeUInt32LE((f.pid ?? process.pid) >>> 0, 32);
  h.writeUInt16LE((f.extlen ?? 0) & 0xffff, 36);
  return Buffer.concat([h, body]);
}

/** A NUL-terminated name (pass raw bytes for names that are not UTF-8 or lack the NUL). */
export const name = (s: string | Buffer, nul = true): Buffer =>
  Buffer.concat([typeof s === 'string' ? Buffer.from(s) : s, nul ? Buffer.alloc(1) : Buffer.alloc(0)]);

/** fuse_init_in of a kernel of protocol 7.`minor` offering `flags` (and flags2). */
export function initIn(minor = 45, flags = 0xffffffff, flags2 = 0): Buffer {
  const b = Buffer.alloc(P.Size.INIT_IN);
  b.writeUInt32LE(7, 0);
  b.writeUInt32LE(minor, 4);
  b.writeUInt32LE(128 * 1024, 8);
  b.writeUInt32LE(flags >>> 0, 12);
  b.writeUInt32LE(flags2 >>> 0, 16);
  return b;
}

export function openIn(flags: number): Buffer {
  const b = Buffer.alloc(P.Size.OPEN_IN);
  b.writeUInt32LE(flags >>> 0, 0);
  return b;
}

/** fuse_read_in (also READDIR's). */
export function readIn(fh: number | bigint, offset: number | bigint, size: number): Buffer {
  const b = Buffer.alloc(P.Size.READ_IN);
  b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(fh)), 0);
  b.writeBigUInt64LE(BigInt(offset), 8);
  b.writeUInt32LE(size, 16);
  return b;
}

/** fuse_write_in followed by the data; or, given a size, the struct alone (the data travels
 *  elsewhere, e.g. in the next descriptors of a virtqueue chain). */
export function writeIn(fh: number | bigint, offset: number | bigint, data: Buffer | number): Buffer {
  const b = Buffer.alloc(P.Size.WRITE_IN);
  b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(fh)), 0);
  b.writeBigUInt64LE(BigInt(offset), 8);
  b.writeUInt32LE(typeof data === 'number' ? data : data.length, 16);
  return typeof data === 'number' ? b : Buffer.concat([b, data]);
}

/** fuse_release_in (RELEASE, RELEASEDIR). */
export function releaseIn(fh: number | bigint): Buffer {
  const b = Buffer.alloc(P.Size.RELEASE_IN);
  b.writeBigUInt64LE(BigInt(fh), 0);
  return b;
}

export function forgetIn(nlookup: number | bigint): Buffer {
  const b = Buffer.alloc(P.Size.FORGET_IN);
  b.writeBigUInt64LE(BigInt(nlookup), 0);
  return b;
}

/** BATCH_FORGET claiming `count` entries but carrying `items`. */
export function batchForgetIn(count: number, items: [number | bigint, number | bigint][]): Buffer {
  const b = Buffer.alloc(P.Size.BATCH_FORGET_IN + items.length * P.Size.FORGET_ONE);
  b.writeUInt32LE(count >>> 0, 0);
  items.forEach(([id, n], i) => {
    b.writeBigUInt64LE(BigInt(id), 8 + 16 * i);
    b.writeBigUInt64LE(BigInt(n), 16 + 16 * i);
  });
  return b;
}

export function getattrIn(): Buffer {
  return Buffer.alloc(P.Size.GETATTR_IN);
}

export function mkdirIn(mode: number, n: string | Buffer): Buffer {
  const b = Buffer.alloc(P.Size.MKDIR_IN);
  b.writeUInt32LE(mode, 0);
  return Buffer.concat([b, name(n)]);
}

export function mknodIn(mode: number, rdev: number, n: string | Buffer): Buffer {
  const b = Buffer.alloc(P.Size.MKNOD_IN);
  b.writeUInt32LE(mode, 0);
  b.writeUInt32LE(rdev, 4);
  return Buffer.concat([b, name(n)]);
}

export function createIn(flags: number, mode: number, n: string | Buffer): Buffer {
  const b = Buffer.alloc(P.Size.CREATE_IN);
  b.writeUInt32LE(flags >>> 0, 0);
  b.writeUInt32LE(mode, 4);
  return Buffer.concat([b, name(n)]);
}

export function symlinkIn(n: string | Buffer, target: string | Buffer): Buffer {
  return Buffer.concat([name(n), name(target)]);
}

export function renameIn(newdir: number | bigint, oldName: string | Buffer, newName: string | Buffer): Buffer {
  const b = Buffer.alloc(P.Size.RENAME_IN);
  b.writeBigUInt64LE(BigInt(newdir), 0);
  return Buffer.concat([b, name(oldName), name(newName)]);
}

export function linkIn(oldNodeid: number | bigint, n: string | Buffer): Buffer {
  const b = Buffer.alloc(P.Size.LINK_IN);
  b.writeBigUInt64LE(BigInt(oldNodeid), 0);
  return Buffer.concat([b, name(n)]);
}

/** fuse_lk_in for a POSIX lock on the whole file (type: F_RDLCK 0, F_WRLCK 1, F_UNLCK 2). */
export function lkIn(fh: number | bigint, owner: bigint, type: number): Buffer {
  const b = Buffer.alloc(P.Size.LK_IN);
  b.writeBigUInt64LE(BigInt(fh), 0);
  b.writeBigUInt64LE(owner, 8);
  b.writeBigUInt64LE(0n, 16);
  b.writeBigUInt64LE((1n << 63n) - 1n, 24); // OFFSET_MAX: to the end of the file
  b.writeUInt32LE(type, 32);
  return b;
}

/** A fuse_secctx_header record as fs/fuse/dir.c builds it: {size, nr_secctx}, then per context
 *  fuse_secctx {size, padding}, the NUL-terminated name and the value, padded to 8. `size`
 *  overrides the context's length field (a lying guest). */
export function secctxRecord(nr: number, secName: Buffer | string, value: Buffer, size = value.length): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(size >>> 0, 0);
  const inner = Buffer.concat([head, Buffer.from(secName), value]);
  const padded = Buffer.concat([inner, Buffer.alloc((8 - (inner.length % 8)) % 8)]);
  const h = Buffer.alloc(8);
  h.writeUInt32LE(8 + padded.length, 0);
  h.writeUInt32LE(nr, 4);
  return Buffer.concat([h, padded]);
}
