// 64-bit number handling, rdev encoding and protocol constants, checked against values written
// down from fuse.h (7.45) and the kernel's new_encode_dev(), not derived from the code.
import t from 'tap';
import * as P from '../../src/protocol';

function u64Bytes(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, v));
  return b;
}

t.test('readU64 / writeU64 are exact below 2^53 and for every integral double', async (tt) => {
  for (const v of [0n, 1n, 0xffffffffn, 0x100000000n, 2n ** 52n + 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 60n, 2n ** 64n - 2048n]) {
    tt.equal(P.readU64(u64Bytes(v), 0), Number(v), `read ${v}`);
    const b = Buffer.alloc(8);
    tt.equal(P.writeU64(b, 0, Number(v)), 8);
    tt.equal(b.readBigUInt64LE(0), BigInt(Number(v)), `write ${v}`);
  }
  const b = Buffer.alloc(8);
  P.writeU64(b, 0, 2 ** 64);
  tt.equal(b.readBigUInt64LE(0), 2n ** 64n - 1n, '2^64 saturates');
  P.writeU64(b, 0, -5);
  tt.equal(b.readBigUInt64LE(0), 0n, 'negative saturates at 0');
  P.writeU64(b, 0, NaN);
  tt.equal(b.readBigUInt64LE(0), 0n, 'NaN as 0');
});

t.test('readI64 / writeI64: two\'s complement, saturating, OFFSET_MAX round-trips', async (tt) => {
  for (const v of [0n, -1n, -86400n, 1700000000n, -(2n ** 40n) - 7n, 2n ** 53n - 1n, -(2n ** 53n) + 1n, -(2n ** 63n)]) {
    tt.equal(P.readI64(u64Bytes(v), 0), Number(v), `read ${v}`);
    const b = Buffer.alloc(8);
    P.writeI64(b, 0, Number(v));
    tt.equal(b.readBigInt64LE(0), v, `write ${v}`);
  }
  tt.equal(P.readI64(u64Bytes(2n ** 63n - 1n), 0), P.OFFSET_MAX);
  const b = Buffer.alloc(8);
  P.writeI64(b, 0, P.OFFSET_MAX);
  tt.equal(b.readBigInt64LE(0), 2n ** 63n - 1n, 'OFFSET_MAX written back exactly');
  P.writeI64(b, 0, -(2 ** 70));
  tt.equal(b.readBigInt64LE(0), -(2n ** 63n), 'saturates low');
});

t.test('rdev in new_encode_dev form', async (tt) => {
  // new_encode_dev(MKDEV(major, minor)) = (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)
  tt.equal(P.encodeRdev(8, 1), 0x801, 'sda1');
  tt.equal(P.encodeRdev(1, 3), 0x103, '/dev/null');
  tt.equal(P.encodeRdev(259, 0x12345), 0x12310345, 'major 259, 20-bit minor');
  tt.equal(P.encodeRdev(0xfff, 0xfffff), 0xffffffff);
  tt.same(P.decodeRdev(0x12310345), { major: 259, minor: 0x12345 });
  tt.same(P.decodeRdev(0xffffffff), { major: 0xfff, minor: 0xfffff });
  tt.same(P.decodeRdev(0x801), { major: 8, minor: 1 });
});

t.test('readName bounds', async (tt) => {
  const b = Buffer.from('ab\0cd\0', 'latin1');
  const r = P.readName(b, 0, 6, P.NameRule.ENTRY, 'x');
  tt.same([r.name.toString(), r.next], ['ab', 3]);
  tt.throws(() => P.readName(b, 3, 5, P.NameRule.ANY, 'x'), P.ProtocolError, 'NUL at the limit is outside');
  tt.throws(() => P.readName(b, 6, 6, P.NameRule.ANY, 'x'), P.ProtocolError, 'nothing left');
  tt.throws(() => P.readName(b, 10, 20, P.NameRule.ANY, 'x'), P.ProtocolError, 'offset past the buffer');
  tt.equal(P.isDotOrDotDot(Buffer.from('..')), true);
  tt.equal(P.isDotOrDotDot(Buffer.from('...')), false);
});

t.test('opcodes are the numbers of enum fuse_opcode', async (tt) => {
  const expected: Record<string, number> = {
    LOOKUP: 1, FORGET: 2, GETATTR: 3, SETATTR: 4, READLINK: 5, SYMLINK: 6, MKNOD: 8, MKDIR: 9, UNLINK: 10, RMDIR: 11,
    RENAME: 12, LINK: 13, OPEN: 14, READ: 15, WRITE: 16, STATFS: 17, RELEASE: 18, FSYNC: 20, SETXATTR: 21,
    GETXATTR: 22, LISTXATTR: 23, REMOVEXATTR: 24, FLUSH: 25, INIT: 26, OPENDIR: 27, READDIR: 28, RELEASEDIR: 29,
    FSYNCDIR: 30, GETLK: 31, SETLK: 32, SETLKW: 33, ACCESS: 34, CREATE: 35, INTERRUPT: 36, BMAP: 37, DESTROY: 38,
    IOCTL: 39, POLL: 40, NOTIFY_REPLY: 41, BATCH_FORGET: 42, FALLOCATE: 43, READDIRPLUS: 44, RENAME2: 45, LSEEK: 46,
    COPY_FILE_RANGE: 47, SETUPMAPPING: 48, REMOVEMAPPING: 49, SYNCFS: 50, TMPFILE: 51, STATX: 52,
    COPY_FILE_RANGE_64: 53, CUSE_INIT: 4096, CUSE_INIT_BSWAP_RESERVED: 1048576, FUSE_INIT_BSWAP_RESERVED: 436207616,
  };
  tt.same({ ...P.Op }, expected);
  tt.equal(P.opName(26), 'INIT');
  tt.equal(P.opName(53), 'COPY_FILE_RANGE_64');
  tt.equal(P.opName(7), 'UNKNOWN(7)');
  tt.equal(P.opName(0xffffffff), 'UNKNOWN(4294967295)');
  tt.same({ ...P.NotifyCode }, { POLL: 1, INVAL_INODE: 2, INVAL_ENTRY: 3, STORE: 4, RETRIEVE: 5, DELETE: 6, RESEND: 7, INC_EPOCH: 8, PRUNE: 9 });
});

t.test('flags are the bits of fuse.h', async (tt) => {
  tt.equal(P.InitFlag.ASYNC_READ, 1);
  tt.equal(P.InitFlag.MAX_PAGES, 0x400000);
  tt.equal(P.FUSE_SUBMOUNTS, 0x8000000);
  tt.equal(P.FUSE_SETXATTR_EXT, 0x20000000);
  tt.equal(P.FUSE_INIT_EXT, 0x40000000);
  tt.equal(P.InitFlag.INIT_RESERVED, 0x80000000, 'bit 31 is a positive number');
  // flags2 = bits 32.. shifted down
  tt.same(
    [P.FUSE_SECURITY_CTX, P.InitFlag2.HAS_INODE_DAX, P.FUSE_CREATE_SUPP_GROUP, P.InitFlag2.HAS_EXPIRE_ONLY, P.FUSE_DIRECT_IO_ALLOW_MMAP,
      P.FUSE_PASSTHROUGH, P.InitFlag2.NO_EXPORT_SUPPORT, P.FUSE_HAS_RESEND, P.FUSE_ALLOW_IDMAP, P.FUSE_OVER_IO_URING, P.FUSE_REQUEST_TIMEOUT],
    [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
  );
  tt.same({ ...P.Fattr }, { MODE: 1, UID: 2, GID: 4, SIZE: 8, ATIME: 16, MTIME: 32, FH: 64, ATIME_NOW: 128, MTIME_NOW: 256, LOCKOWNER: 512, CTIME: 1024, KILL_SUIDGID: 2048 });
  tt.same({ ...P.Fopen }, { DIRECT_IO: 1, KEEP_CACHE: 2, NONSEEKABLE: 4, CACHE_DIR: 8, STREAM: 16, NOFLUSH: 32, PARALLEL_DIRECT_WRITES: 64, PASSTHROUGH: 128 });
  tt.same([P.FUSE_ATTR_SUBMOUNT, P.FUSE_ATTR_DAX], [1, 2]);
  tt.same([P.WriteFlag.CACHE, P.WriteFlag.LOCKOWNER, P.WriteFlag.KILL_SUIDGID, P.ReadFlag.LOCKOWNER], [1, 2, 4, 2]);
  tt.same([P.ReleaseFlag.FLUSH, P.ReleaseFlag.FLOCK_UNLOCK, P.GetattrFlag.FH, P.LkFlag.FLOCK, P.FUSE_OPEN_KILL_SUIDGID, P.SetxattrFlag.ACL_KILL_SGID], [1, 2, 1, 1, 1, 1]);
  tt.same({ ...P.IoctlFlag }, { COMPAT: 1, UNRESTRICTED: 2, RETRY: 4, BIT32: 8, DIR: 16, COMPAT_X32: 32 });
  tt.same([P.IOCTL_MAX_IOV, P.PollFlag.SCHEDULE_NOTIFY, P.FsyncFlag.FDATASYNC, P.FUSE_EXPIRE_ONLY], [256, 1, 1, 1]);
  tt.same([P.FUSE_MAX_NR_SECCTX, P.FUSE_EXT_GROUPS], [31, 32]);
  tt.same([P.UNIQUE_RESEND_HI, P.INVALID_UIDGID, P.ROOT_ID], [0x80000000, 0xffffffff, 1]);
});

t.test('struct sizes and version', async (tt) => {
  tt.same([P.FUSE_KERNEL_VERSION, P.FUSE_KERNEL_MINOR_VERSION], [7, 45]);
  tt.same([P.IN_HEADER_SIZE, P.OUT_HEADER_SIZE], [40, 16]);
  const S = P.Size;
  tt.same(
    [S.ATTR, S.ENTRY_OUT, S.COMPAT_ENTRY_OUT, S.ATTR_OUT, S.COMPAT_ATTR_OUT, S.MKNOD_IN, S.COMPAT_MKNOD_IN, S.WRITE_IN, S.COMPAT_WRITE_IN],
    [88, 128, 120, 104, 96, 16, 8, 40, 24],
  );
  tt.same([S.STATFS_OUT, S.COMPAT_STATFS, S.INIT_OUT, S.COMPAT_INIT_OUT, S.COMPAT_22_INIT_OUT, S.SETXATTR_IN, S.COMPAT_SETXATTR_IN], [80, 48, 64, 8, 24, 16, 8]);
  tt.same([S.STATX, S.STATX_OUT, S.STATX_IN, S.LK_IN, S.SETATTR_IN, S.COPY_FILE_RANGE_IN, S.REMOVEMAPPING_IN, S.DIRENT, S.DIRENTPLUS], [256, 288, 24, 48, 88, 56, 4, 24, 152]);
  tt.same({ ...P.DevIoctl }, { CLONE: 0x8004e500, BACKING_OPEN: 0x4010e501, BACKING_CLOSE: 0x4004e502, SYNC_INIT: 0xe503 });
  tt.same([P.align8(0), P.align8(1), P.align8(8), P.align8(2 ** 31 + 1)], [0, 8, 8, 2 ** 31 + 8]);
});

t.test('errno values', async (tt) => {
  const E = P.Errno;
  tt.same(
    [E.EPERM, E.ENOENT, E.EINTR, E.EIO, E.ENXIO, E.EBADF, E.EAGAIN, E.ENOMEM, E.EACCES, E.EEXIST, E.EXDEV, E.ENODEV, E.ENOTDIR, E.EISDIR, E.EINVAL],
    [1, 2, 4, 5, 6, 9, 11, 12, 13, 17, 18, 19, 20, 21, 22],
  );
  tt.same(
    [E.ENFILE, E.EMFILE, E.EFBIG, E.ENOSPC, E.EROFS, E.ERANGE, E.EDEADLK, E.ENAMETOOLONG, E.ENOLCK, E.ENOSYS, E.ENOTEMPTY, E.ELOOP, E.ENODATA, E.EPROTO, E.EOVERFLOW, E.ENOTSUP, E.EOPNOTSUPP, E.ESTALE],
    [23, 24, 27, 28, 30, 34, 35, 36, 37, 38, 39, 40, 61, 71, 75, 95, 95, 116],
  );
});
