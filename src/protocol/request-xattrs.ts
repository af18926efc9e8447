// Decoders of the extended-attribute request bodies: SETXATTR (whose layout depends on the
// negotiated FUSE_SETXATTR_EXT), GETXATTR, LISTXATTR; REMOVEXATTR's name-only body is in
// request-entries.ts. The conventions every decoder keeps are in request.ts's header.
import { Size } from './layout';
import { ProtocolError, checkBody, readName, NameRule } from './wire';

export interface SetxattrIn {
  /** Value length. */
  size: number;
  /** XATTR_CREATE / XATTR_REPLACE. */
  flags: number;
  /** SetxattrFlag bits; always 0 without FUSE_SETXATTR_EXT. */
  setxattrFlags: number;
  name: Buffer;
  value: Buffer;
}

/** SETXATTR: fuse_setxattr_in (16 bytes when FUSE_SETXATTR_EXT was negotiated, the 8-byte
 *  compat form otherwise: pass `ext` from the INIT result), the name NUL, then `size` bytes of
 *  value, which must lie inside the request. */
export function decodeSetxattr(buf: Buffer, off: number, end: number, ext: boolean): SetxattrIn {
  const head = ext ? Size.SETXATTR_IN : Size.COMPAT_SETXATTR_IN;
  const limit = checkBody(buf, off, end, head, 'SETXATTR');
  const size = buf.readUInt32LE(off);
  const { name, next } = readName(buf, off + head, limit, NameRule.ANY, 'SETXATTR');
  if (size > limit - next) throw new ProtocolError(`SETXATTR: value of ${size} bytes runs past the request`);
  return {
    size,
    flags: buf.readUInt32LE(off + 4),
    setxattrFlags: ext ? buf.readUInt32LE(off + 8) : 0,
    name,
    value: buf.subarray(next, next + size),
  };
}

export interface GetxattrIn {
  /** Buffer size of the caller; 0 asks for the value's length only. */
  size: number;
  name: Buffer;
}

export function decodeGetxattr(buf: Buffer, off: number, end: number): GetxattrIn {
  checkBody(buf, off, end, Size.GETXATTR_IN, 'GETXATTR');
  return {
    size: buf.readUInt32LE(off),
    name: readName(buf, off + Size.GETXATTR_IN, end, NameRule.ANY, 'GETXATTR').name,
  };
}

export interface ListxattrIn {
  size: number;
}

export function decodeListxattr(buf: Buffer, off: number, end: number): ListxattrIn {
  checkBody(buf, off, end, Size.GETXATTR_IN, 'LISTXATTR');
  return { size: buf.readUInt32LE(off) };
}
