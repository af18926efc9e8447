// Every flag word of FUSE protocol 7.45 as named numeric constants.
//
// INIT flags are 64 bits wide on the wire but split in two u32 fields: `flags` (bits 0..31,
// the InitFlag object) and, only when both sides set FUSE_INIT_EXT, `flags2` (bits 32..63 shifted
// down by 32, the InitFlag2 object). Keeping them as two u32 words avoids BigInt and avoids the
// sign trap of `1 << 31` (InitFlag.INIT_RESERVED is written as 0x80000000, a positive number; use
// `>>> 0` after combining flags with | if bit 31 can be involved).
//
// Exports: InitFlag, InitFlag2, CuseInitFlag, Fattr, Fopen, AttrFlag, ReleaseFlag, GetattrFlag,
// LkFlag, WriteFlag, ReadFlag, OpenInFlag, SetxattrFlag, IoctlFlag, IOCTL_MAX_IOV, PollFlag,
// FsyncFlag, NotifyInvalEntryFlag, ExtType, RenameFlag, SetupmappingFlag, UNIQUE_RESEND_HI,
// INVALID_UIDGID, ROOT_ID, DirentType, direntTypeOfMode(), FallocateMode, Whence, LockType.

/** fuse_init_in/out.flags (low 32 bits of the INIT capability word). */
export const InitFlag = {
  ASYNC_READ: 1 << 0,
  POSIX_LOCKS: 1 << 1,
  FILE_OPS: 1 << 2,
  ATOMIC_O_TRUNC: 1 << 3,
  EXPORT_SUPPORT: 1 << 4,
  BIG_WRITES: 1 << 5,
  DONT_MASK: 1 << 6,
  SPLICE_WRITE: 1 << 7,
  SPLICE_MOVE: 1 << 8,
  SPLICE_READ: 1 << 9,
  FLOCK_LOCKS: 1 << 10,
  HAS_IOCTL_DIR: 1 << 11,
  AUTO_INVAL_DATA: 1 << 12,
  DO_READDIRPLUS: 1 << 13,
  READDIRPLUS_AUTO: 1 << 14,
  ASYNC_DIO: 1 << 15,
  WRITEBACK_CACHE: 1 << 16,
  NO_OPEN_SUPPORT: 1 << 17,
  PARALLEL_DIROPS: 1 << 18,
  HANDLE_KILLPRIV: 1 << 19,
  POSIX_ACL: 1 << 20,
  ABORT_ERROR: 1 << 21,
  MAX_PAGES: 1 << 22, // 7.28: init_out.max_pages is valid
  CACHE_SYMLINKS: 1 << 23,
  NO_OPENDIR_SUPPORT: 1 << 24,
  EXPLICIT_INVAL_DATA: 1 << 25,
  MAP_ALIGNMENT: 1 << 26, // 7.31: init_out.map_alignment is valid
  SUBMOUNTS: 1 << 27, // 7.32: offered by virtio-fs only
  HANDLE_KILLPRIV_V2: 1 << 28, // 7.33
  SETXATTR_EXT: 1 << 29, // 7.33: SETXATTR carries the 16-byte fuse_setxattr_in
  INIT_EXT: 1 << 30, // 7.36: init_in/out carry flags2
  INIT_RESERVED: 0x80000000,
} as const;

/** fuse_init_in/out.flags2: INIT capability bits 32..63, shifted down by 32. */
export const InitFlag2 = {
  SECURITY_CTX: 1 << 0, // bit 32, 7.36
  HAS_INODE_DAX: 1 << 1, // bit 33, 7.36
  CREATE_SUPP_GROUP: 1 << 2, // bit 34, 7.38
  HAS_EXPIRE_ONLY: 1 << 3, // bit 35, 7.38
  DIRECT_IO_ALLOW_MMAP: 1 << 4, // bit 36, 7.39 (alias DIRECT_IO_RELAX)
  PASSTHROUGH: 1 << 5, // bit 37, 7.40
  NO_EXPORT_SUPPORT: 1 << 6, // bit 38, 7.40
  HAS_RESEND: 1 << 7, // bit 39, 7.40
  ALLOW_IDMAP: 1 << 8, // bit 40, 7.41
  OVER_IO_URING: 1 << 9, // bit 41, 7.42
  REQUEST_TIMEOUT: 1 << 10, // bit 42, 7.43: init_out.request_timeout is valid
} as const;

// Flat aliases with the kernel's names, for readers who grep for them.
export const FUSE_SUBMOUNTS = InitFlag.SUBMOUNTS;
export const FUSE_SETXATTR_EXT = InitFlag.SETXATTR_EXT;
export const FUSE_INIT_EXT = InitFlag.INIT_EXT;
export const FUSE_SECURITY_CTX = InitFlag2.SECURITY_CTX;
export const FUSE_CREATE_SUPP_GROUP = InitFlag2.CREATE_SUPP_GROUP;
export const FUSE_DIRECT_IO_ALLOW_MMAP = InitFlag2.DIRECT_IO_ALLOW_MMAP;
export const FUSE_PASSTHROUGH = InitFlag2.PASSTHROUGH;
export const FUSE_HAS_RESEND = InitFlag2.HAS_RESEND;
export const FUSE_ALLOW_IDMAP = InitFlag2.ALLOW_IDMAP;
export const FUSE_OVER_IO_URING = InitFlag2.OVER_IO_URING;
export const FUSE_REQUEST_TIMEOUT = InitFlag2.REQUEST_TIMEOUT;

export const CuseInitFlag = { UNRESTRICTED_IOCTL: 1 << 0 } as const;

/** fuse_setattr_in.valid */
export const Fattr = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  FH: 1 << 6,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
  LOCKOWNER: 1 << 9,
  CTIME: 1 << 10,
  KILL_SUIDGID: 1 << 11, // 7.33
} as const;

/** fuse_open_out.open_flags */
export const Fopen = {
  DIRECT_IO: 1 << 0,
  KEEP_CACHE: 1 << 1,
  NONSEEKABLE: 1 << 2,
  CACHE_DIR: 1 << 3,
  STREAM: 1 << 4,
  NOFLUSH: 1 << 5,
  PARALLEL_DIRECT_WRITES: 1 << 6,
  PASSTHROUGH: 1 << 7, // backing_id is valid
} as const;

/** fuse_attr.flags */
export const AttrFlag = { SUBMOUNT: 1 << 0, DAX: 1 << 1 } as const;
export const FUSE_ATTR_SUBMOUNT = AttrFlag.SUBMOUNT;
export const FUSE_ATTR_DAX = AttrFlag.DAX;

/** fuse_release_in.release_flags */
export const ReleaseFlag = { FLUSH: 1 << 0, FLOCK_UNLOCK: 1 << 1 } as const;
/** fuse_getattr_in.getattr_flags (also fuse_statx_in.getattr_flags) */
export const GetattrFlag = { FH: 1 << 0 } as const;
/** fuse_lk_in.lk_flags */
export const LkFlag = { FLOCK: 1 << 0 } as const;
/** fuse_write_in.write_flags */
export const WriteFlag = { CACHE: 1 << 0, LOCKOWNER: 1 << 1, KILL_SUIDGID: 1 << 2 } as const;
/** fuse_read_in.read_flags */
export const ReadFlag = { LOCKOWNER: 1 << 1 } as const;
/** fuse_open_in/fuse_create_in.open_flags */
export const OpenInFlag = { KILL_SUIDGID: 1 << 0 } as const;
export const FUSE_OPEN_KILL_SUIDGID = OpenInFlag.KILL_SUIDGID;
/** fuse_setxattr_in.setxattr_flags (only present with FUSE_SETXATTR_EXT) */
export const SetxattrFlag = { ACL_KILL_SGID: 1 << 0 } as const;

/** fuse_ioctl_in.flags / fuse_ioctl_out.flags */
export const IoctlFlag = {
  COMPAT: 1 << 0,
  UNRESTRICTED: 1 << 1,
  RETRY: 1 << 2,
  BIT32: 1 << 3, // FUSE_IOCTL_32BIT
  DIR: 1 << 4,
  COMPAT_X32: 1 << 5,
} as const;
export const IOCTL_MAX_IOV = 256;

/** fuse_poll_in.flags */
export const PollFlag = { SCHEDULE_NOTIFY: 1 << 0 } as const;
/** fuse_fsync_in.fsync_flags */
export const FsyncFlag = { FDATASYNC: 1 << 0 } as const;
/** fuse_notify_inval_entry_out.flags */
export const NotifyInvalEntryFlag = { EXPIRE_ONLY: 1 << 0 } as const;
export const FUSE_EXPIRE_ONLY = NotifyInvalEntryFlag.EXPIRE_ONLY;

/** fuse_ext_header.type. Types 0..MAX_NR_SECCTX are a fuse_secctx_header whose type field is
 *  its nr_secctx. */
export const ExtType = { MAX_NR_SECCTX: 31, GROUPS: 32 } as const;
export const FUSE_MAX_NR_SECCTX = ExtType.MAX_NR_SECCTX;
export const FUSE_EXT_GROUPS = ExtType.GROUPS;

/** fuse_rename2_in.flags: renameat2(2) flags, passed through. */
export const RenameFlag = { NOREPLACE: 1 << 0, EXCHANGE: 1 << 1, WHITEOUT: 1 << 2 } as const;

/** fuse_setupmapping_in.flags */
export const SetupmappingFlag = { WRITE: 1 << 0, READ: 1 << 1 } as const;

/** Bit 63 of fuse_in_header.unique (FUSE_UNIQUE_RESEND) as a bit of the high u32. */
export const UNIQUE_RESEND_HI = 0x80000000;
/** uid/gid in fuse_in_header when an idmapped mount cannot map the caller (FUSE_ALLOW_IDMAP). */
export const INVALID_UIDGID = 0xffffffff;
/** Node id of the root inode. */
export const ROOT_ID = 1;

/** fuse_dirent.type: the d_type values of dirent.h. */
export const DirentType = {
  UNKNOWN: 0,
  FIFO: 1,
  CHR: 2,
  DIR: 4,
  BLK: 6,
  REG: 8,
  LNK: 10,
  SOCK: 12,
  WHT: 14,
} as const;

/** d_type from st_mode, as the kernel derives it: (mode & S_IFMT) >> 12. */
export function direntTypeOfMode(mode: number): number {
  return (mode & 0o170000) >>> 12;
}

/** fuse_fallocate_in.mode: fallocate(2) modes, passed through. */
export const FallocateMode = {
  KEEP_SIZE: 0x01,
  PUNCH_HOLE: 0x02,
  NO_HIDE_STALE: 0x04,
  COLLAPSE_RANGE: 0x08,
  ZERO_RANGE: 0x10,
  INSERT_RANGE: 0x20,
  UNSHARE_RANGE: 0x40,
} as const;

/** fuse_lseek_in.whence */
export const Whence = { SET: 0, CUR: 1, END: 2, DATA: 3, HOLE: 4 } as const;

/** fuse_file_lock.type (Linux F_RDLCK/F_WRLCK/F_UNLCK) */
export const LockType = { RDLCK: 0, WRLCK: 1, UNLCK: 2 } as const;
