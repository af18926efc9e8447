// Reply encoders against byte layouts built by hand from fuse.h (7.45). Each encoder writes at a
// nonzero offset into a buffer full of stale 0xff bytes: the test checks the exact bytes, the
// returned offset, that padding was zeroed, and that nothing after the record was touched.
import t from 'tap';
import * as P from '../../src/protocol';
import { bytes } from '../helpers/protocol-bytes';

const OFF = 3;

function check(tt: tap.Test, write: (buf: Buffer, off: number) => number, expected: Buffer, msg: string): void {
  const buf = Buffer.alloc(expected.length + 32, 0xff);
  const end = write(buf, OFF);
  tt.equal(end, OFF + expected.length, `${msg}: returns the offset after ${expected.length} bytes`);
  tt.equal(buf.subarray(OFF, OFF + expected.length).toString('hex'), expected.toString('hex'), `${msg}: bytes`);
  tt.ok(buf.subarray(0, OFF).every((b) => b === 0xff) && buf.subarray(OFF + expected.length).every((b) => b === 0xff), `${msg}: nothing written outside`);
}

const attr: P.Attr = {
  ino: 2 ** 40 + 3, size: Number.MAX_SAFE_INTEGER, blocks: 8, atime: -1, mtime: 1700000000, ctime: 2 ** 33,
  atimensec: 1, mtimensec: 999999999, ctimensec: 3, mode: 0o40755, nlink: 2, uid: 1000, gid: 4294967294,
  rdev: P.encodeRdev(8, 1), blksize: 4096, flags: P.FUSE_ATTR_SUBMOUNT,
};
const attrBytes = bytes(
  ['u64', 2n ** 40n + 3n], ['u64', 2n ** 53n - 1n], ['u64', 8], ['i64', -1], ['i64', 1700000000], ['i64', 2n ** 33n],
  ['u32', 1], ['u32', 999999999], ['u32', 3], ['u32', 0o40755], ['u32', 2], ['u32', 1000], ['u32', 4294967294],
  ['u32', 0x801], ['u32', 4096], ['u32', 1],
);
const entry: P.EntryOut = { nodeid: 0x100000007, generation: 5, entryValid: 86400, entryValidNsec: 500, attrValid: 1, attrValidNsec: 2, attr };
const entryBytes = bytes(['u64', 0x100000007n], ['u64', 5], ['u64', 86400], ['u64', 1], ['u32', 500], ['u32', 2], ['raw', attrBytes]);

t.test('out header', async (tt) => {
  check(tt, (b, o) => P.writeOutHeader(b, o, 104, 0), bytes(['u32', 104], ['i32', 0], ['u64', 0]), 'success');
  check(tt, (b, o) => P.writeOutHeader(b, o, 16, P.Errno.ENOENT), bytes(['u32', 16], ['i32', -2], ['u64', 0]), 'ENOENT');
  for (const bad of [-2, 512, 1.5, NaN]) {
    tt.throws(() => P.writeOutHeader(Buffer.alloc(16), 0, 16, bad), RangeError, `errno ${bad} refused`);
  }
});

t.test('attr, entry, attr_out, open, write, copy_file_range', async (tt) => {
  tt.equal(attrBytes.length, P.Size.ATTR);
  check(tt, (b, o) => P.writeAttr(b, o, attr), attrBytes, 'fuse_attr');
  tt.equal(entryBytes.length, P.Size.ENTRY_OUT);
  check(tt, (b, o) => P.writeEntryOut(b, o, entry), entryBytes, 'fuse_entry_out');
  check(tt, (b, o) => P.writeAttrOut(b, o, 2 ** 32 + 1, 7, attr), bytes(['u64', 2n ** 32n + 1n], ['u32', 7], ['u32', 0], ['raw', attrBytes]), 'fuse_attr_out');
  check(tt, (b, o) => P.writeOpenOut(b, o, 0x200000001, P.Fopen.PASSTHROUGH | P.Fopen.KEEP_CACHE, 5), bytes(['u64', 0x200000001n], ['u32', 0x82], ['i32', 5]), 'fuse_open_out');
  check(tt, (b, o) => P.writeOpenOut(b, o, 1, 0, -1), bytes(['u64', 1], ['u32', 0], ['i32', -1]), 'fuse_open_out negative backing id');
  check(tt, (b, o) => P.writeWriteOut(b, o, 131072), bytes(['u32', 131072], ['u32', 0]), 'fuse_write_out');
  check(tt, (b, o) => P.writeCopyFileRangeOut(b, o, 2 ** 40), bytes(['u64', 2n ** 40n]), 'fuse_copy_file_range_out');
  // CREATE = entry_out + open_out
  check(tt, (b, o) => P.writeOpenOut(b, P.writeEntryOut(b, o, entry), 9, 0, 0), Buffer.concat([entryBytes, bytes(['u64', 9], ['u32', 0], ['i32', 0])]), 'CREATE reply');
});

t.test('statfs, init, cuse_init', async (tt) => {
  check(tt, (b, o) => P.writeStatfsOut(b, o, { blocks: 2 ** 40, bfree: 5, bavail: 4, files: 1000, ffree: 900, bsize: 4096, namelen: 255, frsize: 512 }),
    bytes(['u64', 2n ** 40n], ['u64', 5], ['u64', 4], ['u64', 1000], ['u64', 900], ['u32', 4096], ['u32', 255], ['u32', 512], ['pad', 28]), 'fuse_statfs_out');

  const init: P.InitOut = {
    major: 7, minor: 45, maxReadahead: 131072, flags: 0xc0000001, maxBackground: 64, congestionThreshold: 48,
    maxWrite: 1048576, timeGran: 1, maxPages: 256, mapAlignment: 12, flags2: 0x20, maxStackDepth: 1, requestTimeout: 30,
  };
  const full = bytes(
    ['u32', 7], ['u32', 45], ['u32', 131072], ['u32', 0xc0000001], ['u16', 64], ['u16', 48], ['u32', 1048576],
    ['u32', 1], ['u16', 256], ['u16', 12], ['u32', 0x20], ['u32', 1], ['u16', 30], ['pad', 22],
  );
  tt.equal(full.length, P.Size.INIT_OUT);
  check(tt, (b, o) => P.writeInitOut(b, o, init, 45), full, 'fuse_init_out 7.45');
  check(tt, (b, o) => P.writeInitOut(b, o, init, 27), full, 'fuse_init_out 7.27 (64 bytes since 7.23)');
  check(tt, (b, o) => P.writeInitOut(b, o, init, 22), full.subarray(0, 24), 'FUSE_COMPAT_22_INIT_OUT_SIZE');
  check(tt, (b, o) => P.writeInitOut(b, o, init, 4), full.subarray(0, 8), 'FUSE_COMPAT_INIT_OUT_SIZE');
  tt.same([P.initOutSize(4), P.initOutSize(5), P.initOutSize(22), P.initOutSize(23), P.initOutSize(45)], [8, 24, 24, 64, 64]);

  check(tt, (b, o) => P.writeCuseInitOut(b, o, 7, 45, 1, 65536, 65536, 240, 3),
    bytes(['u32', 7], ['u32', 45], ['u32', 0], ['u32', 1], ['u32', 65536], ['u32', 65536], ['u32', 240], ['u32', 3], ['pad', 40]), 'cuse_init_out');
});

t.test('lk, bmap, lseek, getxattr, ioctl, poll', async (tt) => {
  check(tt, (b, o) => P.writeLkOut(b, o, 0, P.OFFSET_MAX, P.LockType.RDLCK, 77),
    bytes(['i64', 0], ['i64', 0x7fffffffffffffffn], ['u32', 0], ['u32', 77]), 'fuse_lk_out to EOF: exactly OFFSET_MAX');
  check(tt, (b, o) => P.writeLkOut(b, o, 4096, 8191, P.LockType.WRLCK, 1), bytes(['i64', 4096], ['i64', 8191], ['u32', 1], ['u32', 1]), 'fuse_lk_out');
  check(tt, (b, o) => P.writeBmapOut(b, o, 2 ** 35), bytes(['u64', 2n ** 35n]), 'fuse_bmap_out');
  check(tt, (b, o) => P.writeLseekOut(b, o, 2 ** 36 + 1), bytes(['u64', 2n ** 36n + 1n]), 'fuse_lseek_out');
  check(tt, (b, o) => P.writeGetxattrOut(b, o, 70), bytes(['u32', 70], ['u32', 0]), 'fuse_getxattr_out');
  check(tt, (b, o) => P.writeIoctlOut(b, o, -25, P.IoctlFlag.RETRY, 1, 2), bytes(['i32', -25], ['u32', 4], ['u32', 1], ['u32', 2]), 'fuse_ioctl_out');
  check(tt, (b, o) => P.writeIoctlIovec(b, o, 0x7ffc00001000n, 16), bytes(['u64', 0x7ffc00001000n], ['u64', 16]), 'fuse_ioctl_iovec');
  check(tt, (b, o) => P.writePollOut(b, o, 0x41), bytes(['u32', 0x41], ['u32', 0]), 'fuse_poll_out');
});

t.test('statx_out', async (tt) => {
  const sx: P.FuseStatx = {
    mask: 0xfff, blksize: 4096, attributes: 0x100000, nlink: 1, uid: 0, gid: 0, mode: 0o100644,
    ino: 2 ** 45, size: 12, blocks: 8, attributesMask: 0x3000f4,
    atime: { sec: -5, nsec: 6 }, btime: { sec: 1600000000, nsec: 7 }, ctime: { sec: 1700000000, nsec: 8 }, mtime: { sec: 2 ** 34, nsec: 9 },
    rdevMajor: 0, rdevMinor: 0, devMajor: 259, devMinor: 2,
  };
  const t2 = (s: number | bigint, n: number) => bytes(['i64', s], ['u32', n], ['i32', 0]);
  const statx = bytes(
    ['u32', 0xfff], ['u32', 4096], ['u64', 0x100000], ['u32', 1], ['u32', 0], ['u32', 0], ['u16', 0o100644], ['u16', 0],
    ['u64', 2n ** 45n], ['u64', 12], ['u64', 8], ['u64', 0x3000f4],
    ['raw', t2(-5, 6)], ['raw', t2(1600000000, 7)], ['raw', t2(1700000000, 8)], ['raw', t2(2n ** 34n, 9)],
    ['u32', 0], ['u32', 0], ['u32', 259], ['u32', 2], ['pad', 112],
  );
  tt.equal(statx.length, P.Size.STATX);
  const out = bytes(['u64', 10], ['u32', 11], ['u32', 0], ['pad', 16], ['raw', statx]);
  tt.equal(out.length, P.Size.STATX_OUT);
  check(tt, (b, o) => P.writeStatxOut(b, o, 10, 11, 0, sx), out, 'fuse_statx_out');
});

t.test('dirent and direntplus: 8-byte aligned, zero padded', async (tt) => {
  tt.same([P.direntSize(0), P.direntSize(1), P.direntSize(8), P.direntSize(9), P.direntSize(255)], [24, 32, 32, 40, 280]);
  tt.same([P.direntplusSize(1), P.direntplusSize(8), P.direntplusSize(9)], [160, 160, 168]);
  const name = Buffer.from('abc');
  check(tt, (b, o) => P.writeDirent(b, o, 2 ** 40, 3, P.DirentType.REG, name),
    bytes(['u64', 2n ** 40n], ['u64', 3], ['u32', 3], ['u32', 8], ['str', 'abc'], ['pad', 5]), 'fuse_dirent "abc"');
  check(tt, (b, o) => P.writeDirent(b, o, 5, 1, P.DirentType.DIR, Buffer.from('12345678')),
    bytes(['u64', 5], ['u64', 1], ['u32', 8], ['u32', 4], ['str', '12345678']), 'fuse_dirent of 8 bytes has no padding');
  check(tt, (b, o) => P.writeDirentplus(b, o, entry, attr.ino, 7, P.DirentType.DIR, Buffer.from('hello')),
    Buffer.concat([entryBytes, bytes(['u64', 2n ** 40n + 3n], ['u64', 7], ['u32', 5], ['u32', 4], ['str', 'hello'], ['pad', 3])]), 'fuse_direntplus');
  // two records back to back
  const buf = Buffer.alloc(128, 0xff);
  const p = P.writeDirent(buf, 0, 1, 1, 4, Buffer.from('.'));
  const q = P.writeDirent(buf, p, 1, 2, 4, Buffer.from('..'));
  tt.same([p, q], [32, 64]);
  tt.equal(buf.readUInt32LE(32 + 16), 2, 'second record starts at the aligned offset');
  tt.equal(P.direntTypeOfMode(0o120777), P.DirentType.LNK);
  tt.equal(P.direntTypeOfMode(0o060600), P.DirentType.BLK);
});

t.test('notifications', async (tt) => {
  check(tt, (b, o) => P.writeNotifyInvalInode(b, o, 42, -1, 0),
    bytes(['u32', 40], ['i32', 2], ['u64', 0], ['u64', 42], ['i64', -1], ['i64', 0]), 'NOTIFY_INVAL_INODE');
  check(tt, (b, o) => P.writeNotifyInvalEntry(b, o, 1, Buffer.from('name'), P.FUSE_EXPIRE_ONLY),
    bytes(['u32', 16 + 16 + 5], ['i32', 3], ['u64', 0], ['u64', 1], ['u32', 4], ['u32', 1], ['str', 'name\0']), 'NOTIFY_INVAL_ENTRY: exact length, no padding');
  check(tt, (b, o) => P.writeNotifyDelete(b, o, 1, 99, Buffer.from('gone')),
    bytes(['u32', 16 + 24 + 5], ['i32', 6], ['u64', 0], ['u64', 1], ['u64', 99], ['u32', 4], ['u32', 0], ['str', 'gone\0']), 'NOTIFY_DELETE');
  check(tt, (b, o) => P.writeNotifyPollWakeup(b, o, 0xffff888800001234n),
    bytes(['u32', 24], ['i32', 1], ['u64', 0], ['u64', 0xffff888800001234n]), 'NOTIFY_POLL');
  check(tt, (b, o) => P.writeNotifyStore(b, o, 5, 4096, 100),
    bytes(['u32', 16 + 24 + 100], ['i32', 4], ['u64', 0], ['u64', 5], ['u64', 4096], ['u32', 100], ['u32', 0]), 'NOTIFY_STORE (len counts the data)');
  check(tt, (b, o) => P.writeNotifyRetrieve(b, o, 77, 5, 0, 4096),
    bytes(['u32', 48], ['i32', 5], ['u64', 0], ['u64', 77], ['u64', 5], ['u64', 0], ['u32', 4096], ['u32', 0]), 'NOTIFY_RETRIEVE');
  check(tt, (b, o) => P.writeNotifyResend(b, o), bytes(['u32', 16], ['i32', 7], ['u64', 0]), 'NOTIFY_RESEND');
  check(tt, (b, o) => P.writeNotifyIncEpoch(b, o), bytes(['u32', 16], ['i32', 8], ['u64', 0]), 'NOTIFY_INC_EPOCH');
  check(tt, (b, o) => P.writeNotifyPrune(b, o, [3, 2 ** 40]),
    bytes(['u32', 16 + 16 + 16], ['i32', 9], ['u64', 0], ['u32', 2], ['u32', 0], ['u64', 0], ['u64', 3], ['u64', 2n ** 40n]), 'NOTIFY_PRUNE');
});

t.test('encoders never write past the buffer', async (tt) => {
  tt.throws(() => P.writeEntryOut(Buffer.alloc(127), 0, entry), RangeError);
  tt.throws(() => P.writeDirent(Buffer.alloc(26), 0, 1, 1, 8, Buffer.from('abc')), RangeError);
});
