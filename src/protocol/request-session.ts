// Decoders of the session's own requests: INIT, CUSE_INIT, INTERRUPT, SYNCFS and NOTIFY_REPLY.
// The conventions every decoder keeps are in request.ts's header.
import { Size } from './layout';
import { ProtocolError, readU64, checkBody } from './wire';

export interface InitIn {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: number;
  /** Bits 32..63 of the INIT flags; 0 unless the body is long enough to hold it (7.36+).
   *  Only meaningful when `flags` has FUSE_INIT_EXT: negotiateInit() checks that. */
  flags2: number;
}

/** INIT: fuse_init_in. Only major and minor are required: a kernel of another major may send a
 *  different layout, and we need just its major to answer it. Missing later fields read as 0
 *  (16 bytes before 7.36, 64 since). */
export function decodeInit(buf: Buffer, off: number, end: number): InitIn {
  const limit = checkBody(buf, off, end, 8, 'INIT');
  const have = limit - off;
  return {
    major: buf.readUInt32LE(off),
    minor: buf.readUInt32LE(off + 4),
    maxReadahead: have >= 12 ? buf.readUInt32LE(off + 8) : 0,
    flags: have >= 16 ? buf.readUInt32LE(off + 12) : 0,
    flags2: have >= 20 ? buf.readUInt32LE(off + 16) : 0,
  };
}

export interface CuseInitIn {
  major: number;
  minor: number;
  flags: number;
}

export function decodeCuseInit(buf: Buffer, off: number, end: number): CuseInitIn {
  checkBody(buf, off, end, Size.CUSE_INIT_IN, 'CUSE_INIT');
  return { major: buf.readUInt32LE(off), minor: buf.readUInt32LE(off + 4), flags: buf.readUInt32LE(off + 12) };
}

export interface InterruptIn {
  /** The unique of the request to interrupt, as two u32 like InHeader's. */
  uniqueLo: number;
  uniqueHi: number;
}

export function decodeInterrupt(buf: Buffer, off: number, end: number): InterruptIn {
  checkBody(buf, off, end, Size.INTERRUPT_IN, 'INTERRUPT');
  return { uniqueLo: buf.readUInt32LE(off), uniqueHi: buf.readUInt32LE(off + 4) };
}

/** SYNCFS (7.34): fuse_syncfs_in is only padding; the body is checked for presence. */
export function decodeSyncfs(buf: Buffer, off: number, end: number): Record<string, never> {
  checkBody(buf, off, end, Size.SYNCFS_IN, 'SYNCFS');
  return {};
}

export interface NotifyReplyIn {
  /** File offset of the retrieved data (fuse_notify_retrieve_in.offset). */
  offset: number;
  size: number;
  /** The retrieved bytes are [dataOffset, dataOffset + size). The header's unique is the
   *  notify_unique of our FUSE_NOTIFY_RETRIEVE. */
  dataOffset: number;
}

/** NOTIFY_REPLY: fuse_notify_retrieve_in (laid out like fuse_write_in), then `size` bytes. */
export function decodeNotifyReply(buf: Buffer, off: number, end: number): NotifyReplyIn {
  const limit = checkBody(buf, off, end, Size.NOTIFY_RETRIEVE_IN, 'NOTIFY_REPLY');
  const size = buf.readUInt32LE(off + 16);
  const dataOffset = off + Size.NOTIFY_RETRIEVE_IN;
  if (size > limit - dataOffset) throw new ProtocolError(`NOTIFY_REPLY: ${size} bytes run past the request`);
  return { offset: readU64(buf, off + 8), size, dataOffset };
}
