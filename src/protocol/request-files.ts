// Decoders of the request bodies about open files: OPEN/OPENDIR, READ/READDIR(PLUS), WRITE,
// RELEASE, FLUSH, FSYNC, the lock calls, FALLOCATE, LSEEK, COPY_FILE_RANGE, BMAP, IOCTL, POLL,
// and virtio-fs's DAX window (SETUPMAPPING, REMOVEMAPPING). The conventions every decoder keeps
// (bounds, names, numbers) are in request.ts's header.
import { Size } from './layout';
import { ProtocolError, readU64, readI64, checkBody } from './wire';

// ---------------------------------------------------------------------------------------------
// Open files

export interface OpenIn {
  flags: number;
  /** OpenInFlag bits (FUSE_OPEN_KILL_SUIDGID). */
  openFlags: number;
}

/** OPEN, OPENDIR. */
export function decodeOpen(buf: Buffer, off: number, end: number): OpenIn {
  checkBody(buf, off, end, Size.OPEN_IN, 'OPEN');
  return { flags: buf.readUInt32LE(off), openFlags: buf.readUInt32LE(off + 4) };
}

export interface ReadIn {
  fh: number;
  offset: number;
  size: number;
  readFlags: number;
  /** Valid only with ReadFlag.LOCKOWNER. */
  lockOwner: bigint;
  /** open(2) flags of the file. */
  flags: number;
}

/** READ, READDIR, READDIRPLUS. */
export function decodeRead(buf: Buffer, off: number, end: number): ReadIn {
  checkBody(buf, off, end, Size.READ_IN, 'READ');
  return {
    fh: readU64(buf, off),
    offset: readI64(buf, off + 8),
    size: buf.readUInt32LE(off + 16),
    readFlags: buf.readUInt32LE(off + 20),
    lockOwner: buf.readBigUInt64LE(off + 24),
    flags: buf.readUInt32LE(off + 32),
  };
}

export interface WriteIn {
  fh: number;
  offset: number;
  size: number;
  /** WriteFlag bits (CACHE, LOCKOWNER, KILL_SUIDGID). */
  writeFlags: number;
  lockOwner: bigint;
  flags: number;
  /** Where the data starts (off + 40). The data may be absent from the inbox (vhost-user
   *  leaves it in guest memory): move it with the channel's writeFrom, do not read it here. */
  dataOffset: number;
}

export function decodeWrite(buf: Buffer, off: number, end: number): WriteIn {
  checkBody(buf, off, end, Size.WRITE_IN, 'WRITE');
  return {
    fh: readU64(buf, off),
    offset: readI64(buf, off + 8),
    size: buf.readUInt32LE(off + 16),
    writeFlags: buf.readUInt32LE(off + 20),
    lockOwner: buf.readBigUInt64LE(off + 24),
    flags: buf.readUInt32LE(off + 32),
    dataOffset: off + Size.WRITE_IN,
  };
}

export interface ReleaseIn {
  fh: number;
  flags: number;
  /** ReleaseFlag bits (FLUSH, FLOCK_UNLOCK). */
  releaseFlags: number;
  lockOwner: bigint;
}

/** RELEASE, RELEASEDIR. */
export function decodeRelease(buf: Buffer, off: number, end: number): ReleaseIn {
  checkBody(buf, off, end, Size.RELEASE_IN, 'RELEASE');
  return {
    fh: readU64(buf, off),
    flags: buf.readUInt32LE(off + 8),
    releaseFlags: buf.readUInt32LE(off + 12),
    lockOwner: buf.readBigUInt64LE(off + 16),
  };
}

export interface FlushIn {
  fh: number;
  lockOwner: bigint;
}

export function decodeFlush(buf: Buffer, off: number, end: number): FlushIn {
  checkBody(buf, off, end, Size.FLUSH_IN, 'FLUSH');
  return { fh: readU64(buf, off), lockOwner: buf.readBigUInt64LE(off + 16) };
}

export interface FsyncIn {
  fh: number;
  /** FsyncFlag bits (FDATASYNC). */
  fsyncFlags: number;
}

/** FSYNC, FSYNCDIR. */
export function decodeFsync(buf: Buffer, off: number, end: number): FsyncIn {
  checkBody(buf, off, end, Size.FSYNC_IN, 'FSYNC');
  return { fh: readU64(buf, off), fsyncFlags: buf.readUInt32LE(off + 8) };
}

export interface LkIn {
  fh: number;
  owner: bigint;
  /** Lock range as loff_t; end === OFFSET_MAX (2^63 as a double) means "to end of file". */
  start: number;
  end: number;
  /** LockType (F_RDLCK, F_WRLCK, F_UNLCK). */
  type: number;
  pid: number;
  /** LkFlag bits (FLOCK: a flock(2) lock, not a POSIX one). */
  lkFlags: number;
}

/** GETLK, SETLK, SETLKW: fuse_lk_in {fh, owner, fuse_file_lock, lk_flags}. */
export function decodeLk(buf: Buffer, off: number, end: number): LkIn {
  checkBody(buf, off, end, Size.LK_IN, 'LK');
  return {
    fh: readU64(buf, off),
    owner: buf.readBigUInt64LE(off + 8),
    start: readI64(buf, off + 16),
    end: readI64(buf, off + 24),
    type: buf.readUInt32LE(off + 32),
    pid: buf.readUInt32LE(off + 36),
    lkFlags: buf.readUInt32LE(off + 40),
  };
}

export interface FallocateIn {
  fh: number;
  offset: number;
  length: number;
  /** FallocateMode bits. */
  mode: number;
}

export function decodeFallocate(buf: Buffer, off: number, end: number): FallocateIn {
  checkBody(buf, off, end, Size.FALLOCATE_IN, 'FALLOCATE');
  return {
    fh: readU64(buf, off),
    offset: readI64(buf, off + 8),
    length: readI64(buf, off + 16),
    mode: buf.readUInt32LE(off + 24),
  };
}

export interface LseekIn {
  fh: number;
  offset: number;
  /** Whence (SET, CUR, END, DATA, HOLE). */
  whence: number;
}

export function decodeLseek(buf: Buffer, off: number, end: number): LseekIn {
  checkBody(buf, off, end, Size.LSEEK_IN, 'LSEEK');
  return { fh: readU64(buf, off), offset: readI64(buf, off + 8), whence: buf.readUInt32LE(off + 16) };
}

export interface CopyFileRangeIn {
  fhIn: number;
  offIn: number;
  nodeidOut: number;
  fhOut: number;
  offOut: number;
  /** Bytes to copy; may be huge (a size_t from the caller): clamp before use. */
  len: number;
  flags: number;
}

/** COPY_FILE_RANGE and COPY_FILE_RANGE_64 (same body; they differ in the reply). */
export function decodeCopyFileRange(buf: Buffer, off: number, end: number): CopyFileRangeIn {
  checkBody(buf, off, end, Size.COPY_FILE_RANGE_IN, 'COPY_FILE_RANGE');
  return {
    fhIn: readU64(buf, off),
    offIn: readI64(buf, off + 8),
    nodeidOut: readU64(buf, off + 16),
    fhOut: readU64(buf, off + 24),
    offOut: readI64(buf, off + 32),
    len: readU64(buf, off + 40),
    flags: readU64(buf, off + 48),
  };
}

export interface BmapIn {
  block: number;
  blocksize: number;
}

export function decodeBmap(buf: Buffer, off: number, end: number): BmapIn {
  checkBody(buf, off, end, Size.BMAP_IN, 'BMAP');
  return { block: readU64(buf, off), blocksize: buf.readUInt32LE(off + 8) };
}

export interface IoctlIn {
  fh: number;
  /** IoctlFlag bits. */
  flags: number;
  cmd: number;
  /** The caller's argument (often a user pointer): an opaque cookie. */
  arg: bigint;
  inSize: number;
  outSize: number;
  /** The in_size bytes of input data are at [dataOffset, dataOffset + inSize). */
  dataOffset: number;
}

/** IOCTL: fuse_ioctl_in, then in_size bytes of input, which must be inside the request. */
export function decodeIoctl(buf: Buffer, off: number, end: number): IoctlIn {
  const limit = checkBody(buf, off, end, Size.IOCTL_IN, 'IOCTL');
  const inSize = buf.readUInt32LE(off + 24);
  const dataOffset = off + Size.IOCTL_IN;
  if (inSize > limit - dataOffset) throw new ProtocolError(`IOCTL: in_size ${inSize} runs past the request`);
  return {
    fh: readU64(buf, off),
    flags: buf.readUInt32LE(off + 8),
    cmd: buf.readUInt32LE(off + 12),
    arg: buf.readBigUInt64LE(off + 16),
    inSize,
    outSize: buf.readUInt32LE(off + 28),
    dataOffset,
  };
}

export interface PollIn {
  fh: number;
  /** Kernel poll handle, echoed in FUSE_NOTIFY_POLL. */
  kh: bigint;
  /** PollFlag bits (SCHEDULE_NOTIFY). */
  flags: number;
  /** poll(2) events asked for. */
  events: number;
}

export function decodePoll(buf: Buffer, off: number, end: number): PollIn {
  checkBody(buf, off, end, Size.POLL_IN, 'POLL');
  return {
    fh: readU64(buf, off),
    kh: buf.readBigUInt64LE(off + 8),
    flags: buf.readUInt32LE(off + 16),
    events: buf.readUInt32LE(off + 20),
  };
}

// ---------------------------------------------------------------------------------------------
// virtio-fs DAX window

export interface SetupmappingIn {
  fh: number;
  foffset: number;
  len: number;
  /** SetupmappingFlag bits (WRITE, READ). */
  flags: number;
  moffset: number;
}

export function decodeSetupmapping(buf: Buffer, off: number, end: number): SetupmappingIn {
  checkBody(buf, off, end, Size.SETUPMAPPING_IN, 'SETUPMAPPING');
  return {
    fh: readU64(buf, off),
    foffset: readU64(buf, off + 8),
    len: readU64(buf, off + 16),
    flags: readU64(buf, off + 24),
    moffset: readU64(buf, off + 32),
  };
}

export interface RemovemappingOne {
  moffset: number;
  len: number;
}

/** REMOVEMAPPING: a u32 count, then count x {moffset, len} starting at byte 4 (the in struct is
 *  4 bytes). Unlike BATCH_FORGET this gets a reply, so a count past the body is refused. */
export function decodeRemovemapping(buf: Buffer, off: number, end: number): { items: RemovemappingOne[] } {
  const limit = checkBody(buf, off, end, Size.REMOVEMAPPING_IN, 'REMOVEMAPPING');
  const count = buf.readUInt32LE(off);
  if (count > (limit - off - Size.REMOVEMAPPING_IN) / Size.REMOVEMAPPING_ONE) {
    throw new ProtocolError(`REMOVEMAPPING: ${count} entries do not fit`);
  }
  const items = new Array<RemovemappingOne>(count);
  let p = off + Size.REMOVEMAPPING_IN;
  for (let i = 0; i < count; i++, p += Size.REMOVEMAPPING_ONE) {
    items[i] = { moffset: readU64(buf, p), len: readU64(buf, p + 8) };
  }
  return { items };
}
