// Request decoders against bodies built by hand from fuse.h (7.45) struct definitions, and
// against hostile bodies: too short, names without NUL, empty names, counts past the end.
import t from 'tap';
import * as P from '../../src/protocol';
import { bytes, placed } from '../helpers/protocol-bytes';

const EINVAL = 22;

function throwsProto(tt: tap.Test, fn: () => unknown, msg: string): void {
  try {
    fn();
    tt.fail(`${msg}: did not throw`);
  } catch (e) {
    tt.ok(e instanceof P.ProtocolError && (e as P.ProtocolError).errno === EINVAL, `${msg}: ProtocolError EINVAL (${(e as Error).message})`);
  }
}

const str = (b: Buffer) => b.toString('latin1');

t.test('readInHeader reads every field at its offset', async (tt) => {
  const hdr = bytes(
    ['u32', 0x1234], ['u32', 26], ['u64', 0x8000000500000007n], ['u64', 0x100000002n],
    ['u32', 1000], ['u32', 1001], ['u32', 4242], ['u16', 3], ['u16', 0xffff],
  );
  tt.equal(hdr.length, P.IN_HEADER_SIZE);
  const { buf, off } = placed(hdr);
  const h = P.readInHeader(buf, off);
  tt.same(h, { len: 0x1234, opcode: 26, uniqueLo: 7, uniqueHi: 0x80000005, nodeid: 0x100000002, uid: 1000, gid: 1001, pid: 4242, totalExtlen: 3 });
  tt.equal(P.isResend(h), true);
  tt.equal(P.isResend({ ...h, uniqueHi: 5 }), false);
  throwsProto(tt, () => P.readInHeader(buf.subarray(0, off + 39), off), '39-byte header');
});

t.test('a hostile nodeid >= 2^53 reads as >= 2^53 and so matches none of our ids', async (tt) => {
  for (const v of [2n ** 53n, 2n ** 53n + 1n, 2n ** 64n - 1n]) {
    const h = P.readInHeader(bytes(['u32', 40], ['u32', 1], ['u64', 1], ['u64', v], ['pad', 16]), 0);
    tt.ok(h.nodeid >= 2 ** 53, `${v} -> ${h.nodeid}`);
  }
  const h = P.readInHeader(bytes(['u32', 40], ['u32', 1], ['u64', 1], ['u64', 2n ** 53n - 1n], ['pad', 16]), 0);
  tt.equal(h.nodeid, Number.MAX_SAFE_INTEGER, 'largest exact id is exact');
});

t.test('names', async (tt) => {
  let r = placed(bytes(['str', 'foo\0']));
  tt.equal(str(P.decodeLookup(r.buf, r.off, r.end).name), 'foo');
  tt.equal(P.decodeLookup(r.buf, r.off, r.end).name.length, 3, 'no NUL in the name');
  r = placed(bytes(['str', '..\0']));
  tt.equal(str(P.decodeLookup(r.buf, r.off, r.end).name), '..', 'LOOKUP may ask for ..');
  r = placed(bytes(['str', '.\0']));
  tt.equal(str(P.decodeLookup(r.buf, r.off, r.end).name), '.', 'LOOKUP may ask for .');
  r = placed(bytes(['str', 'a/b\0']));
  throwsProto(tt, () => P.decodeLookup(r.buf, r.off, r.end), 'LOOKUP a/b');
  r = placed(bytes(['str', 'foo']), 0); // a NUL right after the end must not count
  throwsProto(tt, () => P.decodeLookup(r.buf, r.off, r.end), 'LOOKUP without NUL');
  r = placed(bytes(['str', '\0']));
  throwsProto(tt, () => P.decodeLookup(r.buf, r.off, r.end), 'LOOKUP empty name');
  r = placed(bytes(['str', 'x\0']));
  tt.equal(str(P.decodeUnlink(r.buf, r.off, r.end).name), 'x');
  tt.equal(str(P.decodeRmdir(r.buf, r.off, r.end).name), 'x');
  for (const bad of ['..\0', '.\0', 'a/\0']) {
    r = placed(bytes(['str', bad]));
    throwsProto(tt, () => P.decodeUnlink(r.buf, r.off, r.end), `UNLINK ${JSON.stringify(bad)}`);
  }
  r = placed(bytes(['str', 'user.a/b\0']));
  tt.equal(str(P.decodeRemovexattr(r.buf, r.off, r.end).name), 'user.a/b', 'xattr names may hold /');
  r = placed(bytes(['str', 'big\0trailing']));
  tt.equal(str(P.decodeLookup(r.buf, r.off, r.end).name), 'big', 'bytes after the NUL are ignored');
  // a name of high bytes stays bytes (no UTF-8 decoding)
  r = placed(bytes(['raw', Uint8Array.from([0xff, 0xfe, 0x80, 0])]));
  tt.same([...P.decodeLookup(r.buf, r.off, r.end).name], [0xff, 0xfe, 0x80]);
});

t.test('FORGET and BATCH_FORGET', async (tt) => {
  let r = placed(bytes(['u64', 0x200000003n]));
  tt.same(P.decodeForget(r.buf, r.off, r.end), { nlookup: 0x200000003 });

  const two = bytes(['u32', 2], ['u32', 0], ['u64', 10], ['u64', 3], ['u64', 2n ** 40n + 1n], ['u64', 7]);
  r = placed(two);
  tt.same(P.decodeBatchForget(r.buf, r.off, r.end), {
    count: 2, truncated: false, items: [{ nodeid: 10, nlookup: 3 }, { nodeid: 2 ** 40 + 1, nlookup: 7 }],
  });
  // hostile count: only the entries inside the body are returned, nothing past end is read
  const lying = Buffer.from(two);
  lying.writeUInt32LE(1000, 0);
  r = placed(lying);
  tt.same(P.decodeBatchForget(r.buf, r.off, r.end), {
    count: 1000, truncated: true, items: [{ nodeid: 10, nlookup: 3 }, { nodeid: 2 ** 40 + 1, nlookup: 7 }],
  });
  lying.writeUInt32LE(0xffffffff, 0);
  r = placed(Buffer.concat([lying, Buffer.alloc(8, 1)])); // half an entry more
  const d = P.decodeBatchForget(r.buf, r.off, r.end);
  tt.equal(d.items.length, 2, 'a partial entry is not read');
  tt.equal(d.truncated, true);
  r = placed(bytes(['u32', 1], ['u32', 0], ['u64', 10], ['u64', 3], ['u64', 99], ['u64', 99]));
  tt.equal(P.decodeBatchForget(r.buf, r.off, r.end).items.length, 1, 'count smaller than body wins');
  r = placed(bytes(['u32', 0]));
  throwsProto(tt, () => P.decodeBatchForget(r.buf, r.off, r.end), 'BATCH_FORGET 4-byte body');
});

t.test('GETATTR, SETATTR, STATX, ACCESS', async (tt) => {
  let r = placed(bytes(['u32', 1], ['u32', 0], ['u64', 0x100000005n]));
  tt.same(P.decodeGetattr(r.buf, r.off, r.end), { getattrFlags: 1, fh: 0x100000005 });

  r = placed(bytes(
    ['u32', 0xfff], ['u32', 0], ['u64', 77], ['u64', 2n ** 40n], ['u64', 0xfedcba9876543210n],
    ['i64', -86400], ['i64', 1700000000], ['i64', 1700000001],
    ['u32', 1], ['u32', 2], ['u32', 999999999], ['u32', 0o104755], ['u32', 0xdead], ['u32', 1000], ['u32', 1001], ['u32', 0xbeef],
  ));
  tt.equal(r.end - r.off, P.Size.SETATTR_IN);
  tt.same(P.decodeSetattr(r.buf, r.off, r.end), {
    valid: 0xfff, fh: 77, size: 2 ** 40, lockOwner: 0xfedcba9876543210n,
    atime: -86400, mtime: 1700000000, ctime: 1700000001, atimensec: 1, mtimensec: 2, ctimensec: 999999999,
    mode: 0o104755, uid: 1000, gid: 1001,
  });

  r = placed(bytes(['u32', 1], ['u32', 0], ['u64', 9], ['u32', 0x2000], ['u32', 0xfff]));
  tt.same(P.decodeStatx(r.buf, r.off, r.end), { getattrFlags: 1, fh: 9, sxFlags: 0x2000, sxMask: 0xfff });

  r = placed(bytes(['u32', 7], ['u32', 0]));
  tt.same(P.decodeAccess(r.buf, r.off, r.end), { mask: 7 });
});

t.test('SYMLINK, MKNOD, MKDIR, RENAME, RENAME2, LINK, CREATE, TMPFILE', async (tt) => {
  let r = placed(bytes(['str', 'link\0../target/x\0']));
  const s = P.decodeSymlink(r.buf, r.off, r.end);
  tt.same([str(s.name), str(s.target)], ['link', '../target/x'], 'entry name first, then target');
  r = placed(bytes(['str', 'link\0']));
  throwsProto(tt, () => P.decodeSymlink(r.buf, r.off, r.end), 'SYMLINK without target');
  r = placed(bytes(['str', 'link\0\0']));
  throwsProto(tt, () => P.decodeSymlink(r.buf, r.off, r.end), 'SYMLINK with empty target');
  r = placed(bytes(['str', '\0target\0']));
  throwsProto(tt, () => P.decodeSymlink(r.buf, r.off, r.end), 'SYMLINK with empty name');
  r = placed(bytes(['str', 'link\0target']), 0);
  throwsProto(tt, () => P.decodeSymlink(r.buf, r.off, r.end), 'SYMLINK target without NUL');

  r = placed(bytes(['u32', 0o20644], ['u32', 0x12345], ['u32', 0o022], ['u32', 0], ['str', 'dev\0']));
  tt.same({ ...P.decodeMknod(r.buf, r.off, r.end), name: '' }, { mode: 0o20644, rdev: 0x12345, umask: 0o022, name: '', nameEnd: r.end });
  tt.equal(str(P.decodeMknod(r.buf, r.off, r.end).name), 'dev');

  r = placed(bytes(['u32', 0o755], ['u32', 0o077], ['str', 'd\0']));
  const m = P.decodeMkdir(r.buf, r.off, r.end);
  tt.same([m.mode, m.umask, str(m.name)], [0o755, 0o077, 'd']);
  r = placed(bytes(['u32', 0o755], ['u32', 0o077], ['str', '..\0']));
  throwsProto(tt, () => P.decodeMkdir(r.buf, r.off, r.end), 'MKDIR ..');

  r = placed(bytes(['u64', 42], ['str', 'old\0new\0']));
  let rn = P.decodeRename(r.buf, r.off, r.end);
  tt.same([rn.newdir, rn.flags, str(rn.oldName), str(rn.newName)], [42, 0, 'old', 'new']);
  r = placed(bytes(['u64', 42], ['str', 'old\0\0new\0']));
  throwsProto(tt, () => P.decodeRename(r.buf, r.off, r.end), 'RENAME with an embedded empty name');
  r = placed(bytes(['u64', 42], ['str', '..\0new\0']));
  throwsProto(tt, () => P.decodeRename(r.buf, r.off, r.end), 'RENAME of ..');
  r = placed(bytes(['u64', 42], ['str', 'old\0new']), 0);
  throwsProto(tt, () => P.decodeRename(r.buf, r.off, r.end), 'RENAME new name without NUL');

  r = placed(bytes(['u64', 43], ['u32', P.RenameFlag.EXCHANGE], ['u32', 0], ['str', 'a\0b\0']));
  rn = P.decodeRename2(r.buf, r.off, r.end);
  tt.same([rn.newdir, rn.flags, str(rn.oldName), str(rn.newName)], [43, 2, 'a', 'b']);

  r = placed(bytes(['u64', 0x300000001n], ['str', 'hard\0']));
  const l = P.decodeLink(r.buf, r.off, r.end);
  tt.same([l.oldNodeid, str(l.name)], [0x300000001, 'hard']);

  r = placed(bytes(['u32', 0o101], ['u32', 0o100644], ['u32', 0o022], ['u32', P.FUSE_OPEN_KILL_SUIDGID], ['str', 'f\0']));
  const c = P.decodeCreate(r.buf, r.off, r.end);
  tt.same([c.flags, c.mode, c.umask, c.openFlags, str(c.name)], [0o101, 0o100644, 0o022, 1, 'f']);
  r = placed(bytes(['u32', 0o20000002], ['u32', 0o100600], ['u32', 0], ['u32', 0], ['str', '/\0']));
  tt.equal(str(P.decodeTmpfile(r.buf, r.off, r.end).name), '/', 'TMPFILE carries the placeholder name /');
  r = placed(bytes(['u32', 0o101], ['u32', 0o100644], ['u32', 0o022], ['u32', 0], ['str', '/\0']));
  throwsProto(tt, () => P.decodeCreate(r.buf, r.off, r.end), 'CREATE /');
});

t.test('OPEN, READ, WRITE, RELEASE, FLUSH, FSYNC', async (tt) => {
  let r = placed(bytes(['u32', 0o2], ['u32', 1]));
  tt.same(P.decodeOpen(r.buf, r.off, r.end), { flags: 2, openFlags: 1 });

  const rw = (extra: Buffer) => bytes(
    ['u64', 5], ['i64', 2n ** 33n + 5n], ['u32', 131072], ['u32', 3], ['u64', 0x8877665544332211n], ['u32', 0o100002], ['u32', 0],
    ['raw', extra],
  );
  r = placed(rw(Buffer.alloc(0)));
  tt.same(P.decodeRead(r.buf, r.off, r.end), {
    fh: 5, offset: 2 ** 33 + 5, size: 131072, readFlags: 3, lockOwner: 0x8877665544332211n, flags: 0o100002,
  });
  r = placed(rw(Buffer.from('data')));
  tt.same(P.decodeWrite(r.buf, r.off, r.end), {
    fh: 5, offset: 2 ** 33 + 5, size: 131072, writeFlags: 3, lockOwner: 0x8877665544332211n, flags: 0o100002, dataOffset: r.off + 40,
  });
  tt.equal(r.buf.toString('latin1', r.off + 40, r.off + 44), 'data');
  r = placed(rw(Buffer.alloc(0)));
  tt.equal(P.decodeWrite(r.buf, r.off, r.end).dataOffset, r.off + 40, 'WRITE without data in the inbox (vhost-user) decodes');

  r = placed(bytes(['u64', 6], ['u32', 0o2], ['u32', P.ReleaseFlag.FLUSH | P.ReleaseFlag.FLOCK_UNLOCK], ['u64', 0xffffffffffffffffn]));
  tt.same(P.decodeRelease(r.buf, r.off, r.end), { fh: 6, flags: 2, releaseFlags: 3, lockOwner: 0xffffffffffffffffn });

  r = placed(bytes(['u64', 7], ['u32', 0], ['u32', 0], ['u64', 0x0123456789abcdefn]));
  tt.same(P.decodeFlush(r.buf, r.off, r.end), { fh: 7, lockOwner: 0x0123456789abcdefn });

  r = placed(bytes(['u64', 8], ['u32', P.FsyncFlag.FDATASYNC], ['u32', 0]));
  tt.same(P.decodeFsync(r.buf, r.off, r.end), { fh: 8, fsyncFlags: 1 });
});

t.test('LK, FALLOCATE, LSEEK, COPY_FILE_RANGE, BMAP, IOCTL, POLL', async (tt) => {
  let r = placed(bytes(
    ['u64', 9], ['u64', 0xa1b2c3d4e5f60718n], ['i64', 100], ['i64', 0x7fffffffffffffffn], ['u32', P.LockType.WRLCK], ['u32', 321],
    ['u32', P.LkFlag.FLOCK], ['u32', 0],
  ));
  tt.equal(r.end - r.off, P.Size.LK_IN);
  const lk = P.decodeLk(r.buf, r.off, r.end);
  tt.same(lk, { fh: 9, owner: 0xa1b2c3d4e5f60718n, start: 100, end: P.OFFSET_MAX, type: 1, pid: 321, lkFlags: 1 });
  tt.equal(lk.end, 2 ** 63, 'OFFSET_MAX reads as the double 2^63');

  r = placed(bytes(['u64', 10], ['i64', 4096], ['i64', 2n ** 34n], ['u32', P.FallocateMode.PUNCH_HOLE | P.FallocateMode.KEEP_SIZE], ['u32', 0]));
  tt.same(P.decodeFallocate(r.buf, r.off, r.end), { fh: 10, offset: 4096, length: 2 ** 34, mode: 3 });

  r = placed(bytes(['u64', 11], ['i64', 12345], ['u32', P.Whence.HOLE], ['u32', 0]));
  tt.same(P.decodeLseek(r.buf, r.off, r.end), { fh: 11, offset: 12345, whence: 4 });

  r = placed(bytes(['u64', 1], ['i64', 2], ['u64', 3], ['u64', 4], ['i64', 5], ['u64', 2n ** 52n], ['u64', 0]));
  tt.same(P.decodeCopyFileRange(r.buf, r.off, r.end), { fhIn: 1, offIn: 2, nodeidOut: 3, fhOut: 4, offOut: 5, len: 2 ** 52, flags: 0 });

  r = placed(bytes(['u64', 77], ['u32', 4096], ['u32', 0]));
  tt.same(P.decodeBmap(r.buf, r.off, r.end), { block: 77, blocksize: 4096 });

  r = placed(bytes(['u64', 12], ['u32', P.IoctlFlag.DIR], ['u32', 0x80086601], ['u64', 0x7ffc12345678n], ['u32', 4], ['u32', 8], ['str', 'ABCD']));
  const io = P.decodeIoctl(r.buf, r.off, r.end);
  tt.same(io, { fh: 12, flags: 16, cmd: 0x80086601, arg: 0x7ffc12345678n, inSize: 4, outSize: 8, dataOffset: r.off + 32 });
  tt.equal(r.buf.toString('latin1', io.dataOffset, io.dataOffset + io.inSize), 'ABCD');
  r = placed(bytes(['u64', 12], ['u32', 0], ['u32', 1], ['u64', 0], ['u32', 5], ['u32', 0], ['str', 'ABCD']));
  throwsProto(tt, () => P.decodeIoctl(r.buf, r.off, r.end), 'IOCTL in_size past the end');

  r = placed(bytes(['u64', 13], ['u64', 0xffff888812345678n], ['u32', 1], ['u32', 0x19]));
  tt.same(P.decodePoll(r.buf, r.off, r.end), { fh: 13, kh: 0xffff888812345678n, flags: 1, events: 0x19 });
});

t.test('SETXATTR honours FUSE_SETXATTR_EXT; GETXATTR, LISTXATTR', async (tt) => {
  let r = placed(bytes(['u32', 3], ['u32', 1], ['u32', P.SetxattrFlag.ACL_KILL_SGID], ['u32', 0], ['str', 'user.x\0abc']));
  let sx = P.decodeSetxattr(r.buf, r.off, r.end, true);
  tt.same([sx.size, sx.flags, sx.setxattrFlags, str(sx.name), str(sx.value)], [3, 1, 1, 'user.x', 'abc']);

  r = placed(bytes(['u32', 3], ['u32', 2], ['str', 'user.y\0xyz']));
  sx = P.decodeSetxattr(r.buf, r.off, r.end, false);
  tt.same([sx.size, sx.flags, sx.setxattrFlags, str(sx.name), str(sx.value)], [3, 2, 0, 'user.y', 'xyz'], 'compat 8-byte header');

  r = placed(bytes(['u32', 0], ['u32', 0], ['str', 'user.e\0']));
  sx = P.decodeSetxattr(r.buf, r.off, r.end, false);
  tt.equal(sx.value.length, 0, 'empty value');
  r = placed(bytes(['u32', 4], ['u32', 0], ['str', 'user.x\0abc']));
  throwsProto(tt, () => P.decodeSetxattr(r.buf, r.off, r.end, false), 'SETXATTR value size past the end');
  r = placed(bytes(['u32', 0xffffffff], ['u32', 0], ['str', 'user.x\0abc']));
  throwsProto(tt, () => P.decodeSetxattr(r.buf, r.off, r.end, false), 'SETXATTR value size 2^32-1');
  r = placed(bytes(['u32', 3], ['u32', 0], ['u32', 0], ['u32', 0], ['str', 'user.x']), 0);
  throwsProto(tt, () => P.decodeSetxattr(r.buf, r.off, r.end, true), 'SETXATTR name without NUL');

  r = placed(bytes(['u32', 256], ['u32', 0], ['str', 'security.capability\0']));
  const g = P.decodeGetxattr(r.buf, r.off, r.end);
  tt.same([g.size, str(g.name)], [256, 'security.capability']);
  r = placed(bytes(['u32', 0], ['u32', 0]));
  tt.same(P.decodeListxattr(r.buf, r.off, r.end), { size: 0 });
});

t.test('INIT, CUSE_INIT, INTERRUPT, SYNCFS, NOTIFY_REPLY', async (tt) => {
  let r = placed(bytes(['u32', 7], ['u32', 45], ['u32', 131072], ['u32', 0xc3fffffb], ['u32', 0x7ff], ['pad', 44]));
  tt.equal(r.end - r.off, P.Size.INIT_IN);
  tt.same(P.decodeInit(r.buf, r.off, r.end), { major: 7, minor: 45, maxReadahead: 131072, flags: 0xc3fffffb, flags2: 0x7ff });
  r = placed(bytes(['u32', 7], ['u32', 31], ['u32', 65536], ['u32', 0x3ffffff]));
  tt.same(P.decodeInit(r.buf, r.off, r.end), { major: 7, minor: 31, maxReadahead: 65536, flags: 0x3ffffff, flags2: 0 }, '16-byte pre-7.36 body');
  r = placed(bytes(['u32', 8], ['u32', 0]));
  tt.same(P.decodeInit(r.buf, r.off, r.end), { major: 8, minor: 0, maxReadahead: 0, flags: 0, flags2: 0 }, 'another major: only major/minor needed');

  r = placed(bytes(['u32', 7], ['u32', 45], ['u32', 0], ['u32', 1]));
  tt.same(P.decodeCuseInit(r.buf, r.off, r.end), { major: 7, minor: 45, flags: 1 });

  r = placed(bytes(['u64', 0x8000000200000001n]));
  tt.same(P.decodeInterrupt(r.buf, r.off, r.end), { uniqueLo: 1, uniqueHi: 0x80000002 });

  r = placed(bytes(['u64', 0]));
  tt.same(P.decodeSyncfs(r.buf, r.off, r.end), {});

  r = placed(bytes(['u64', 0], ['u64', 8192], ['u32', 3], ['u32', 0], ['u64', 0], ['u64', 0], ['str', 'xyz']));
  tt.same(P.decodeNotifyReply(r.buf, r.off, r.end), { offset: 8192, size: 3, dataOffset: r.off + 40 });
  r = placed(bytes(['u64', 0], ['u64', 8192], ['u32', 4], ['u32', 0], ['u64', 0], ['u64', 0], ['str', 'xyz']));
  throwsProto(tt, () => P.decodeNotifyReply(r.buf, r.off, r.end), 'NOTIFY_REPLY size past the end');
});

t.test('SETUPMAPPING, REMOVEMAPPING', async (tt) => {
  let r = placed(bytes(['u64', 1], ['u64', 2n ** 21n], ['u64', 2n ** 21n], ['u64', 3], ['u64', 2n ** 30n]));
  tt.same(P.decodeSetupmapping(r.buf, r.off, r.end), { fh: 1, foffset: 2 ** 21, len: 2 ** 21, flags: 3, moffset: 2 ** 30 });

  // count is a bare u32: the entries start at byte 4
  r = placed(bytes(['u32', 2], ['u64', 0], ['u64', 4096], ['u64', 2n ** 21n], ['u64', 8192]));
  tt.same(P.decodeRemovemapping(r.buf, r.off, r.end), { items: [{ moffset: 0, len: 4096 }, { moffset: 2 ** 21, len: 8192 }] });
  r = placed(bytes(['u32', 3], ['u64', 0], ['u64', 4096], ['u64', 2n ** 21n], ['u64', 8192]));
  throwsProto(tt, () => P.decodeRemovemapping(r.buf, r.off, r.end), 'REMOVEMAPPING count past the end');
  r = placed(bytes(['u32', 0xffffffff]));
  throwsProto(tt, () => P.decodeRemovemapping(r.buf, r.off, r.end), 'REMOVEMAPPING count 2^32-1');
});

t.test('every decoder refuses a body one byte short of its struct', async (tt) => {
  type Dec = (b: Buffer, o: number, e: number) => unknown;
  const fixed: [string, Dec, number][] = [
    ['FORGET', P.decodeForget, 8], ['BATCH_FORGET', P.decodeBatchForget, 8], ['GETATTR', P.decodeGetattr, 16],
    ['SETATTR', P.decodeSetattr, 88], ['STATX', P.decodeStatx, 24], ['ACCESS', P.decodeAccess, 8],
    ['MKNOD', P.decodeMknod, 16], ['MKDIR', P.decodeMkdir, 8], ['RENAME', P.decodeRename, 8],
    ['RENAME2', P.decodeRename2, 16], ['LINK', P.decodeLink, 8], ['CREATE', P.decodeCreate, 16],
    ['TMPFILE', P.decodeTmpfile, 16], ['OPEN', P.decodeOpen, 8], ['READ', P.decodeRead, 40],
    ['WRITE', P.decodeWrite, 40], ['RELEASE', P.decodeRelease, 24], ['FLUSH', P.decodeFlush, 24],
    ['FSYNC', P.decodeFsync, 16], ['LK', P.decodeLk, 48], ['FALLOCATE', P.decodeFallocate, 32],
    ['LSEEK', P.decodeLseek, 24], ['COPY_FILE_RANGE', P.decodeCopyFileRange, 56], ['BMAP', P.decodeBmap, 16],
    ['IOCTL', P.decodeIoctl, 32], ['POLL', P.decodePoll, 24], ['GETXATTR', P.decodeGetxattr, 8],
    ['LISTXATTR', P.decodeListxattr, 8], ['INIT', P.decodeInit, 8], ['CUSE_INIT', P.decodeCuseInit, 16],
    ['INTERRUPT', P.decodeInterrupt, 8], ['SYNCFS', P.decodeSyncfs, 8], ['NOTIFY_REPLY', P.decodeNotifyReply, 40],
    ['SETUPMAPPING', P.decodeSetupmapping, 40], ['REMOVEMAPPING', P.decodeRemovemapping, 4],
    ['SETXATTR ext', (b, o, e) => P.decodeSetxattr(b, o, e, true), 16],
    ['SETXATTR compat', (b, o, e) => P.decodeSetxattr(b, o, e, false), 8],
  ];
  for (const [name, dec, size] of fixed) {
    // Nonzero filler, so a decoder that ignored the length would find no NUL-free name...
    const r = placed(Buffer.alloc(size - 1, 0x61), 0);
    throwsProto(tt, () => dec(r.buf, r.off, r.end), `${name} with ${size - 1} bytes`);
    // ...and the same bytes inside a big buffer: `end`, not buf.length, bounds the read.
    const big = Buffer.alloc(4096, 0);
    big.fill(0x61, 100, 100 + size - 1);
    throwsProto(tt, () => dec(big, 100, 100 + size - 1), `${name} with ${size - 1} bytes in a large buffer`);
  }
  const withName: [string, Dec, number][] = [
    ['MKNOD', P.decodeMknod, 16], ['MKDIR', P.decodeMkdir, 8], ['RENAME', P.decodeRename, 8],
    ['RENAME2', P.decodeRename2, 16], ['LINK', P.decodeLink, 8], ['CREATE', P.decodeCreate, 16],
    ['TMPFILE', P.decodeTmpfile, 16], ['GETXATTR', P.decodeGetxattr, 8],
    ['SETXATTR', (b, o, e) => P.decodeSetxattr(b, o, e, true), 16],
  ];
  for (const [name, dec, size] of withName) {
    const r = placed(Buffer.alloc(size, 0x61), 0);
    throwsProto(tt, () => dec(r.buf, r.off, r.end), `${name} with its struct but no name`);
  }
  for (const [name, dec] of [['LOOKUP', P.decodeLookup], ['UNLINK', P.decodeUnlink], ['REMOVEXATTR', P.decodeRemovexattr], ['SYMLINK', P.decodeSymlink]] as [string, Dec][]) {
    const r = placed(Buffer.alloc(0), 0);
    throwsProto(tt, () => dec(r.buf, r.off, r.end), `${name} with an empty body`);
  }
});

t.test('decodeExtensions: groups and security context', async (tt) => {
  const ctx = 'system_u:object_r:tmp_t:s0\0';
  const secName = 'security.selinux\0';
  const secLen = 8 + 8 + secName.length + ctx.length;
  const secPad = (8 - (secLen % 8)) % 8;
  const secRec = bytes(['u32', secLen + secPad], ['u32', 1], ['u32', ctx.length], ['u32', 0], ['str', secName], ['str', ctx], ['pad', secPad]);
  const grpRec = bytes(['u32', 24], ['u32', P.FUSE_EXT_GROUPS], ['u32', 2], ['u32', 100], ['u32', 4294967294], ['pad', 4]);
  const body = bytes(['u32', 0o755], ['u32', 0o022], ['str', 'dir\0']);
  const req = Buffer.concat([body, secRec, grpRec]);
  const r = placed(req);
  const ext = P.decodeExtensions(r.buf, r.off, r.end, (secRec.length + grpRec.length) / 8);
  tt.equal(ext.bodyEnd, r.off + body.length);
  tt.same(ext.groups, [100, 4294967294]);
  tt.equal(ext.secctx!.length, 1);
  tt.equal(str(ext.secctx![0].name), 'security.selinux');
  tt.equal(str(ext.secctx![0].value), ctx);
  const m = P.decodeMkdir(r.buf, r.off, ext.bodyEnd);
  tt.equal(str(m.name), 'dir', 'the body decodes up to bodyEnd');

  const none = P.decodeExtensions(r.buf, r.off, r.end, 0);
  tt.same(none, { bodyEnd: r.end, groups: null, secctx: null });

  const empty = placed(Buffer.concat([body, bytes(['u32', 8], ['u32', 0])]));
  tt.same(P.decodeExtensions(empty.buf, empty.off, empty.end, 1).secctx, [], 'nr_secctx 0');
  const unknown = placed(Buffer.concat([body, bytes(['u32', 16], ['u32', 99], ['u64', 0]), grpRec]));
  tt.same(P.decodeExtensions(unknown.buf, unknown.off, unknown.end, 5).groups, [100, 4294967294], 'unknown type skipped');
});

t.test('decodeExtensions refuses hostile lengths', async (tt) => {
  const body = bytes(['str', 'x\0'], ['pad', 6]);
  const cases: [string, Buffer, number][] = [
    ['total_extlen past the body', bytes(['u32', 8], ['u32', 0]), 3],
    ['total_extlen 0xffff', bytes(['u32', 8], ['u32', 0]), 0xffff],
    ['record size 0', bytes(['u32', 0], ['u32', 32]), 1],
    ['record size 4', bytes(['u32', 4], ['u32', 32]), 1],
    ['record size not a multiple of 8', bytes(['u32', 12], ['u32', 99], ['u64', 0]), 2],
    ['record size past the end', bytes(['u32', 24], ['u32', 32], ['u32', 0], ['u32', 0]), 2],
    ['record size 2^32-8', bytes(['u32', 0xfffffff8], ['u32', 32], ['u32', 0], ['u32', 0]), 2],
    ['groups count past its record', bytes(['u32', 16], ['u32', 32], ['u32', 2], ['u32', 5]), 2],
    ['groups count 2^32-1', bytes(['u32', 16], ['u32', 32], ['u32', 0xffffffff], ['u32', 5]), 2],
    ['group record without count', bytes(['u32', 8], ['u32', 32]), 1],
    ['two group records', bytes(['u32', 16], ['u32', 32], ['u32', 1], ['u32', 5], ['u32', 16], ['u32', 32], ['u32', 1], ['u32', 6]), 4],
    ['secctx value past its record', bytes(['u32', 24], ['u32', 1], ['u32', 100], ['u32', 0], ['str', 'sec\0ab\0\0']), 3],
    ['secctx name without NUL', bytes(['u32', 24], ['u32', 1], ['u32', 0], ['u32', 0], ['str', 'security']), 3],
    ['more secctx than fit', bytes(['u32', 8], ['u32', 2]), 1],
  ];
  for (const [name, ext, units] of cases) {
    const r = placed(Buffer.concat([body, ext]));
    throwsProto(tt, () => P.decodeExtensions(r.buf, r.off, r.end, units), name);
  }
});

t.test('decodeCreateSecctx: the label of a creating request, 7.38+ (extension) and 7.36/7.37 (after the name)', async (tt) => {
  const ctx = 'system_u:object_r:vfsd_t:s0\0';
  // One fuse_secctx_header record as fs/fuse/dir.c builds it: header, fuse_secctx, name, value,
  // padded to 8; nr_secctx in the header's second field. `size` overrides the context's length.
  const record = (nr: number, secName: string, value: string, size = value.length) => {
    const inner = bytes(['u32', size], ['u32', 0], ['str', secName], ['str', value]);
    const pad = (8 - (inner.length % 8)) % 8;
    return bytes(['u32', 8 + inner.length + pad], ['u32', nr], ['raw', inner], ['pad', pad]);
  };
  const good = record(1, 'security.selinux\0', ctx);
  const body = bytes(['u32', 0o755], ['u32', 0o022], ['str', 'dir\0']);
  const hdr = (len: number, extlen: number): P.InHeader => ({ len, opcode: P.Op.MKDIR, uniqueLo: 1, uniqueHi: 0, nodeid: 1, uid: 0, gid: 0, pid: 0, totalExtlen: extlen });
  /** Places body + rec as a 7.38 request (rec in the extension area, total_extlen set) or a 7.37
   *  one (rec the argument after the name, total_extlen 0). */
  const decode = (rec: Buffer, minor: number, extUnits = rec.length / 8) => {
    const r = placed(Buffer.concat([body, rec]));
    const len = P.IN_HEADER_SIZE + body.length + rec.length;
    const h = hdr(len, minor >= 38 ? extUnits : 0);
    const bodyEnd = minor >= 38 ? P.decodeExtensions(r.buf, r.off, r.end, h.totalExtlen).bodyEnd : r.end;
    const m = P.decodeMkdir(r.buf, r.off, bodyEnd);
    tt.equal(str(m.name), 'dir', `minor ${minor}: the name still decodes`);
    return P.decodeCreateSecctx(r.buf, { off: r.off, h, nameEnd: m.nameEnd, bodyEnd });
  };
  for (const minor of [45, 38, 37, 36]) {
    const c = decode(good, minor)!;
    tt.same([str(c.name), str(c.value)], ['security.selinux', ctx], `minor ${minor}: name and value, the value with its NUL`);
    tt.equal(decode(bytes(['u32', 8], ['u32', 0]), minor), null, `minor ${minor}: nr_secctx 0 is no label`);
    throwsProto(tt, () => decode(Buffer.alloc(0), minor, 0), `minor ${minor}: no record at all`);
    if (minor >= 38) throwsProto(tt, () => decode(bytes(['u32', 16], ['u32', P.FUSE_EXT_GROUPS], ['u32', 1], ['u32', 5]), minor), 'extensions without a context record');
    throwsProto(tt, () => decode(good.subarray(0, 24), minor), `minor ${minor}: record cut short (its size says more)`);
    throwsProto(tt, () => decode(record(2, 'security.selinux\0', ctx), minor), `minor ${minor}: nr_secctx 2 with one context`);
    const two = Buffer.concat([record(1, 'security.a\0', 'x\0'), record(1, 'security.b\0', 'y\0').subarray(8)]);
    two.writeUInt32LE(two.length, 0);
    two.writeUInt32LE(2, 4);
    throwsProto(tt, () => decode(two, minor), `minor ${minor}: two well-formed contexts (a kernel sends one)`);
    throwsProto(tt, () => decode(record(32, 'security.selinux\0', ctx), minor), `minor ${minor}: type 32 is not a secctx record`);
    throwsProto(tt, () => decode(record(1, 'security.selinux', 'nonul'), minor), `minor ${minor}: name not NUL-terminated`);
    throwsProto(tt, () => decode(record(1, 'security.selinux\0', ctx, 4096), minor), `minor ${minor}: value length past the record`);
    throwsProto(tt, () => decode(record(1, 'security.selinux\0', ctx, 0xffffffff), minor), `minor ${minor}: value length 2^32-1`);
    throwsProto(tt, () => decode(record(1, 'security.selinux\0', '', 0), minor), `minor ${minor}: empty value`);
    throwsProto(tt, () => decode(record(1, `security.${'n'.repeat(300)}\0`, ctx), minor), `minor ${minor}: a name longer than XATTR_NAME_MAX`);
    throwsProto(tt, () => decode(record(1, 'security.big\0', 'v'.repeat(65537)), minor), `minor ${minor}: a value longer than XATTR_SIZE_MAX`);
  }
  // The 7.37 record must fill the rest of the body exactly (it is the last argument).
  const lying = Buffer.from(good);
  lying.writeUInt32LE(good.length + 8, 0);
  throwsProto(tt, () => decode(lying, 37), 'minor 37: record size larger than the body');
  lying.writeUInt32LE(good.length - 8, 0);
  throwsProto(tt, () => decode(lying, 37), 'minor 37: record size smaller than what follows the name');
  throwsProto(tt, () => decode(good, 45, 0xffff), 'minor 45: total_extlen past the request');
});
