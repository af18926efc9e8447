// Decoders of the request bodies that name entries: LOOKUP, UNLINK, RMDIR, REMOVEXATTR's name,
// FORGET and BATCH_FORGET, GETATTR, SETATTR, STATX, ACCESS, and the ops that make or move an
// entry (SYMLINK, MKNOD, MKDIR, RENAME, RENAME2, LINK, CREATE, TMPFILE). The conventions every
// decoder keeps (bounds, names, numbers) are in request.ts's header.
import { Size } from './layout';
import { readU64, readI64, checkBody, readName, NameRule } from './wire';

// ---------------------------------------------------------------------------------------------
// Name-only bodies

export interface NameIn {
  name: Buffer;
}

/** LOOKUP: name. "." and ".." are allowed (the kernel sends them for NFS export support); the
 *  passthrough must resolve them itself and never let ".." leave the export. */
export function decodeLookup(buf: Buffer, off: number, end: number): NameIn {
  return { name: readName(buf, off, end, NameRule.COMPONENT, 'LOOKUP').name };
}

/** UNLINK, RMDIR: name (not "." or ".."). */
export function decodeEntryName(buf: Buffer, off: number, end: number): NameIn {
  return { name: readName(buf, off, end, NameRule.ENTRY, 'UNLINK/RMDIR').name };
}
export const decodeUnlink = decodeEntryName;
export const decodeRmdir = decodeEntryName;

/** REMOVEXATTR: xattr name. */
export function decodeRemovexattr(buf: Buffer, off: number, end: number): NameIn {
  return { name: readName(buf, off, end, NameRule.ANY, 'REMOVEXATTR').name };
}

// ---------------------------------------------------------------------------------------------
// Forget

export interface ForgetIn {
  nlookup: number;
}

export function decodeForget(buf: Buffer, off: number, end: number): ForgetIn {
  checkBody(buf, off, end, Size.FORGET_IN, 'FORGET');
  return { nlookup: readU64(buf, off) };
}

export interface ForgetOne {
  nodeid: number;
  nlookup: number;
}

export interface BatchForgetIn {
  /** The count the request claims. */
  count: number;
  /** The entries actually present: at most `count`, and only whole entries inside the body. */
  items: ForgetOne[];
  /** True if `count` promised more entries than the body holds. */
  truncated: boolean;
}

/** BATCH_FORGET: a count, then count x {nodeid, nlookup}. A forget has no reply to carry an
 *  error, so a hostile count larger than the body is not refused: we forget what is really
 *  there (never reading past end) and report `truncated`. */
export function decodeBatchForget(buf: Buffer, off: number, end: number): BatchForgetIn {
  const limit = checkBody(buf, off, end, Size.BATCH_FORGET_IN, 'BATCH_FORGET');
  const count = buf.readUInt32LE(off);
  const fit = Math.floor((limit - off - Size.BATCH_FORGET_IN) / Size.FORGET_ONE);
  const n = Math.min(count, fit);
  const items = new Array<ForgetOne>(n);
  let p = off + Size.BATCH_FORGET_IN;
  for (let i = 0; i < n; i++, p += Size.FORGET_ONE) {
    items[i] = { nodeid: readU64(buf, p), nlookup: readU64(buf, p + 8) };
  }
  return { count, items, truncated: count > fit };
}

// ---------------------------------------------------------------------------------------------
// Attributes

export interface GetattrIn {
  getattrFlags: number;
  /** Valid only when getattrFlags has GetattrFlag.FH. */
  fh: number;
}

export function decodeGetattr(buf: Buffer, off: number, end: number): GetattrIn {
  checkBody(buf, off, end, Size.GETATTR_IN, 'GETATTR');
  return { getattrFlags: buf.readUInt32LE(off), fh: readU64(buf, off + 8) };
}

export interface SetattrIn {
  /** Fattr bits saying which fields below are meaningful. */
  valid: number;
  fh: number;
  size: number;
  lockOwner: bigint;
  atime: number;
  mtime: number;
  ctime: number;
  atimensec: number;
  mtimensec: number;
  ctimensec: number;
  mode: number;
  uid: number;
  gid: number;
}

export function decodeSetattr(buf: Buffer, off: number, end: number): SetattrIn {
  checkBody(buf, off, end, Size.SETATTR_IN, 'SETATTR');
  return {
    valid: buf.readUInt32LE(off),
    fh: readU64(buf, off + 8),
    size: readU64(buf, off + 16),
    lockOwner: buf.readBigUInt64LE(off + 24),
    atime: readI64(buf, off + 32),
    mtime: readI64(buf, off + 40),
    ctime: readI64(buf, off + 48),
    atimensec: buf.readUInt32LE(off + 56),
    mtimensec: buf.readUInt32LE(off + 60),
    ctimensec: buf.readUInt32LE(off + 64),
    mode: buf.readUInt32LE(off + 68),
    uid: buf.readUInt32LE(off + 76),
    gid: buf.readUInt32LE(off + 80),
  };
}

export interface StatxIn {
  getattrFlags: number;
  fh: number;
  /** AT_STATX_* sync flags of statx(2). */
  sxFlags: number;
  /** STATX_* mask the caller asked for. */
  sxMask: number;
}

export function decodeStatx(buf: Buffer, off: number, end: number): StatxIn {
  checkBody(buf, off, end, Size.STATX_IN, 'STATX');
  return {
    getattrFlags: buf.readUInt32LE(off),
    fh: readU64(buf, off + 8),
    sxFlags: buf.readUInt32LE(off + 16),
    sxMask: buf.readUInt32LE(off + 20),
  };
}

export interface AccessIn {
  mask: number;
}

export function decodeAccess(buf: Buffer, off: number, end: number): AccessIn {
  checkBody(buf, off, end, Size.ACCESS_IN, 'ACCESS');
  return { mask: buf.readUInt32LE(off) };
}

// ---------------------------------------------------------------------------------------------
// Creating and naming entries

export interface SymlinkIn {
  /** The new entry's name in the parent (nodeid). */
  name: Buffer;
  /** What the link points to (any bytes but NUL, not empty). */
  target: Buffer;
  /** Just past the target's NUL: a 7.36/7.37 kernel's security context follows. */
  nameEnd: number;
}

/** SYMLINK: name NUL, then target NUL (the kernel sends the entry name first). */
export function decodeSymlink(buf: Buffer, off: number, end: number): SymlinkIn {
  const a = readName(buf, off, end, NameRule.ENTRY, 'SYMLINK name');
  const b = readName(buf, a.next, end, NameRule.ANY, 'SYMLINK target');
  return { name: a.name, target: b.name, nameEnd: b.next };
}

export interface MknodIn {
  mode: number;
  /** new_encode_dev form; see decodeRdev(). */
  rdev: number;
  umask: number;
  name: Buffer;
  /** Just past the name's NUL: a 7.36/7.37 kernel's security context follows. */
  nameEnd: number;
}

export function decodeMknod(buf: Buffer, off: number, end: number): MknodIn {
  checkBody(buf, off, end, Size.MKNOD_IN, 'MKNOD');
  const n = readName(buf, off + Size.MKNOD_IN, end, NameRule.ENTRY, 'MKNOD');
  return {
    mode: buf.readUInt32LE(off),
    rdev: buf.readUInt32LE(off + 4),
    umask: buf.readUInt32LE(off + 8),
    name: n.name,
    nameEnd: n.next,
  };
}

export interface MkdirIn {
  mode: number;
  umask: number;
  name: Buffer;
  /** Just past the name's NUL: a 7.36/7.37 kernel's security context follows. */
  nameEnd: number;
}

export function decodeMkdir(buf: Buffer, off: number, end: number): MkdirIn {
  checkBody(buf, off, end, Size.MKDIR_IN, 'MKDIR');
  const n = readName(buf, off + Size.MKDIR_IN, end, NameRule.ENTRY, 'MKDIR');
  return { mode: buf.readUInt32LE(off), umask: buf.readUInt32LE(off + 4), name: n.name, nameEnd: n.next };
}

export interface RenameIn {
  newdir: number;
  /** RenameFlag bits (0 for plain RENAME). */
  flags: number;
  oldName: Buffer;
  newName: Buffer;
}

function decodeRenameNames(buf: Buffer, p: number, end: number, newdir: number, flags: number, what: string): RenameIn {
  const a = readName(buf, p, end, NameRule.ENTRY, `${what} old name`);
  const b = readName(buf, a.next, end, NameRule.ENTRY, `${what} new name`);
  return { newdir, flags, oldName: a.name, newName: b.name };
}

/** RENAME: fuse_rename_in {newdir}, old name NUL, new name NUL. */
export function decodeRename(buf: Buffer, off: number, end: number): RenameIn {
  checkBody(buf, off, end, Size.RENAME_IN, 'RENAME');
  return decodeRenameNames(buf, off + Size.RENAME_IN, end, readU64(buf, off), 0, 'RENAME');
}

/** RENAME2: fuse_rename2_in {newdir, flags, padding}, old name NUL, new name NUL. */
export function decodeRename2(buf: Buffer, off: number, end: number): RenameIn {
  checkBody(buf, off, end, Size.RENAME2_IN, 'RENAME2');
  return decodeRenameNames(buf, off + Size.RENAME2_IN, end, readU64(buf, off), buf.readUInt32LE(off + 8), 'RENAME2');
}

export interface LinkIn {
  /** The existing inode to link. */
  oldNodeid: number;
  /** The new name in the parent (header nodeid). */
  name: Buffer;
}

export function decodeLink(buf: Buffer, off: number, end: number): LinkIn {
  checkBody(buf, off, end, Size.LINK_IN, 'LINK');
  return { oldNodeid: readU64(buf, off), name: readName(buf, off + Size.LINK_IN, end, NameRule.ENTRY, 'LINK').name };
}

export interface CreateIn {
  /** open(2) flags. */
  flags: number;
  mode: number;
  umask: number;
  /** OpenInFlag bits (FUSE_OPEN_KILL_SUIDGID). */
  openFlags: number;
  name: Buffer;
  /** Just past the name's NUL: a 7.36/7.37 kernel's security context follows. */
  nameEnd: number;
}

/** CREATE: fuse_create_in, then the new entry's name. */
export function decodeCreate(buf: Buffer, off: number, end: number): CreateIn {
  return decodeCreateLike(buf, off, end, NameRule.ENTRY, 'CREATE');
}

/** TMPFILE (7.37): same body as CREATE. The kernel's name is the placeholder "/" of an unnamed
 *  dentry, so the name is only checked to be present, never used as a path. */
export function decodeTmpfile(buf: Buffer, off: number, end: number): CreateIn {
  return decodeCreateLike(buf, off, end, NameRule.ANY, 'TMPFILE');
}

function decodeCreateLike(buf: Buffer, off: number, end: number, rule: NameRule, what: string): CreateIn {
  checkBody(buf, off, end, Size.CREATE_IN, what);
  const n = readName(buf, off + Size.CREATE_IN, end, rule, what);
  return {
    flags: buf.readUInt32LE(off),
    mode: buf.readUInt32LE(off + 4),
    umask: buf.readUInt32LE(off + 8),
    openFlags: buf.readUInt32LE(off + 12),
    name: n.name,
    nameEnd: n.next,
  };
}
