// Sizes of the FUSE 7.45 wire structures (include/uapi/linux/fuse.h), the COMPAT sizes older
// minors used, and the protocol version we speak. All sizes in bytes; every struct is padded to
// 8 bytes so 32-bit and 64-bit peers agree.
//
// Exports: FUSE_KERNEL_VERSION, FUSE_KERNEL_MINOR_VERSION, Size (const object of struct sizes),
// IN_HEADER_SIZE, OUT_HEADER_SIZE, FUSE_MIN_READ_BUFFER, DevIoctl (the /dev/fuse ioctl numbers),
// URING_* sizes, align8().

/** The protocol we implement: 7.45 (Linux 6.18). */
export const FUSE_KERNEL_VERSION = 7;
export const FUSE_KERNEL_MINOR_VERSION = 45;

export const IN_HEADER_SIZE = 40; // fuse_in_header
export const OUT_HEADER_SIZE = 16; // fuse_out_header

export const Size = {
  IN_HEADER: 40,
  OUT_HEADER: 16,
  ATTR: 88, // fuse_attr
  SX_TIME: 16, // fuse_sx_time
  STATX: 256, // fuse_statx (bit-compatible with the head of struct statx)
  KSTATFS: 80, // fuse_kstatfs
  FILE_LOCK: 24, // fuse_file_lock
  ENTRY_OUT: 128,
  COMPAT_ENTRY_OUT: 120, // minor < 9
  FORGET_IN: 8,
  FORGET_ONE: 16,
  BATCH_FORGET_IN: 8,
  GETATTR_IN: 16,
  ATTR_OUT: 104,
  COMPAT_ATTR_OUT: 96, // minor < 9
  STATX_IN: 24,
  STATX_OUT: 288,
  MKNOD_IN: 16,
  COMPAT_MKNOD_IN: 8, // minor < 12
  MKDIR_IN: 8,
  RENAME_IN: 8,
  RENAME2_IN: 16,
  LINK_IN: 8,
  SETATTR_IN: 88,
  OPEN_IN: 8,
  CREATE_IN: 16,
  OPEN_OUT: 16,
  RELEASE_IN: 24,
  FLUSH_IN: 24,
  READ_IN: 40,
  COMPAT_READ_IN: 24, // minor < 9
  WRITE_IN: 40,
  COMPAT_WRITE_IN: 24, // minor < 9
  WRITE_OUT: 8,
  STATFS_OUT: 80,
  COMPAT_STATFS: 48, // minor < 4
  FSYNC_IN: 16,
  SETXATTR_IN: 16, // with FUSE_SETXATTR_EXT
  COMPAT_SETXATTR_IN: 8, // without FUSE_SETXATTR_EXT
  GETXATTR_IN: 8,
  GETXATTR_OUT: 8,
  LK_IN: 48,
  LK_OUT: 24,
  ACCESS_IN: 8,
  INIT_IN: 64, // 7.36+
  COMPAT_INIT_IN: 16, // before 7.36: major, minor, max_readahead, flags
  INIT_OUT: 64,
  COMPAT_INIT_OUT: 8, // minor < 5
  COMPAT_22_INIT_OUT: 24, // minor < 23
  CUSE_INIT_IN: 16,
  CUSE_INIT_OUT: 72,
  INTERRUPT_IN: 8,
  BMAP_IN: 16,
  BMAP_OUT: 8,
  IOCTL_IN: 32,
  IOCTL_IOVEC: 16,
  IOCTL_OUT: 16,
  POLL_IN: 24,
  POLL_OUT: 8,
  NOTIFY_POLL_WAKEUP_OUT: 8,
  FALLOCATE_IN: 32,
  DIRENT: 24, // fuse_dirent without name (FUSE_NAME_OFFSET)
  DIRENTPLUS: 152, // fuse_direntplus without name (FUSE_NAME_OFFSET_DIRENTPLUS)
  NOTIFY_INVAL_INODE_OUT: 24,
  NOTIFY_INVAL_ENTRY_OUT: 16,
  NOTIFY_DELETE_OUT: 24,
  NOTIFY_STORE_OUT: 24,
  NOTIFY_RETRIEVE_OUT: 32,
  NOTIFY_RETRIEVE_IN: 40,
  NOTIFY_PRUNE_OUT: 16,
  BACKING_MAP: 16,
  LSEEK_IN: 24,
  LSEEK_OUT: 8,
  COPY_FILE_RANGE_IN: 56,
  COPY_FILE_RANGE_OUT: 8, // FUSE_COPY_FILE_RANGE_64's answer
  SETUPMAPPING_IN: 40,
  REMOVEMAPPING_IN: 4, // a bare u32 count: the entries that follow are only 4-aligned
  REMOVEMAPPING_ONE: 16,
  SYNCFS_IN: 8,
  SECCTX: 8,
  SECCTX_HEADER: 8,
  EXT_HEADER: 8,
  SUPP_GROUPS: 4, // nr_groups, then nr_groups u32
} as const;

/** The kernel refuses a /dev/fuse read buffer smaller than this. */
export const FUSE_MIN_READ_BUFFER = 8192;

/** /dev/fuse ioctl request numbers (asm-generic _IO/_IOR/_IOW encoding, magic 229). */
export const DevIoctl = {
  CLONE: 0x8004e500, // _IOR(229, 0, uint32_t)
  BACKING_OPEN: 0x4010e501, // _IOW(229, 1, struct fuse_backing_map)
  BACKING_CLOSE: 0x4004e502, // _IOW(229, 2, uint32_t)
  SYNC_INIT: 0xe503, // _IO(229, 3)
} as const;

/** FUSE-over-io_uring buffer header sizes (7.42). */
export const URING_IN_OUT_HEADER_SIZE = 128;
export const URING_OP_IN_OUT_SIZE = 128;

/** Round up to the 8-byte record alignment (FUSE_REC_ALIGN). */
export function align8(n: number): number {
  // Not `(n + 7) & ~7`: bitwise operators would wrap lengths of 2 GiB and more.
  return n + ((8 - (n % 8)) % 8);
}
