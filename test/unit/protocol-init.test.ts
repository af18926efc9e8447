// INIT negotiation for the kernels we meet: 7.27 (Linux 4.20) .. 7.45 (Linux 6.18), a kernel
// newer than us and a kernel of another major. The offered flags are what each kernel version's
// fuse_send_init offers (all bits its header defines); expected answers are written out by hand.
import t from 'tap';
import * as P from '../../src/protocol';

const F = P.InitFlag;
const F2 = P.InitFlag2;

/** Every low flag bit a kernel of this minor defines (bits 0..21 are older than 7.27). */
function offeredLow(minor: number): number {
  let f = (1 << 22) - 1;
  if (minor >= 28) f |= F.MAX_PAGES | F.CACHE_SYMLINKS;
  if (minor >= 29) f |= F.NO_OPENDIR_SUPPORT;
  if (minor >= 30) f |= F.EXPLICIT_INVAL_DATA;
  if (minor >= 31) f |= F.MAP_ALIGNMENT;
  if (minor >= 32) f |= F.SUBMOUNTS;
  if (minor >= 33) f |= F.HANDLE_KILLPRIV_V2 | F.SETXATTR_EXT;
  if (minor >= 36) f |= F.INIT_EXT;
  return f >>> 0;
}
/** flags2 bits a kernel of this minor defines. */
function offeredHigh(minor: number): number {
  let f = 0;
  if (minor >= 36) f |= F2.SECURITY_CTX | F2.HAS_INODE_DAX;
  if (minor >= 38) f |= F2.CREATE_SUPP_GROUP | F2.HAS_EXPIRE_ONLY;
  if (minor >= 39) f |= F2.DIRECT_IO_ALLOW_MMAP;
  if (minor >= 40) f |= F2.PASSTHROUGH | F2.NO_EXPORT_SUPPORT | F2.HAS_RESEND;
  if (minor >= 41) f |= F2.ALLOW_IDMAP;
  if (minor >= 42) f |= F2.OVER_IO_URING;
  if (minor >= 43) f |= F2.REQUEST_TIMEOUT;
  return f;
}
function kernel(minor: number, extra: Partial<P.InitIn> = {}): P.InitIn {
  return { major: 7, minor, maxReadahead: 131072, flags: offeredLow(minor), flags2: minor >= 36 ? offeredHigh(minor) : 0, ...extra };
}

// What a /dev/fuse passthrough server wants.
const wants: P.InitWants = {
  flags: F.ASYNC_READ | F.POSIX_LOCKS | F.ATOMIC_O_TRUNC | F.EXPORT_SUPPORT | F.BIG_WRITES | F.DONT_MASK | F.FLOCK_LOCKS |
    F.AUTO_INVAL_DATA | F.DO_READDIRPLUS | F.READDIRPLUS_AUTO | F.ASYNC_DIO | F.PARALLEL_DIROPS | F.HANDLE_KILLPRIV_V2 |
    F.POSIX_ACL | F.MAX_PAGES | F.CACHE_SYMLINKS | F.SUBMOUNTS | F.SETXATTR_EXT | F.INIT_EXT,
  flags2: F2.SECURITY_CTX | F2.CREATE_SUPP_GROUP | F2.HAS_EXPIRE_ONLY | F2.DIRECT_IO_ALLOW_MMAP | F2.PASSTHROUGH | F2.HAS_RESEND,
  maxWrite: 1048576,
  maxReadahead: 1 << 20,
  maxBackground: 64,
  congestionThreshold: 48,
  maxStackDepth: 1,
};
const base = F.ASYNC_READ | F.POSIX_LOCKS | F.ATOMIC_O_TRUNC | F.EXPORT_SUPPORT | F.BIG_WRITES | F.DONT_MASK | F.FLOCK_LOCKS |
  F.AUTO_INVAL_DATA | F.DO_READDIRPLUS | F.READDIRPLUS_AUTO | F.ASYNC_DIO | F.PARALLEL_DIROPS | F.POSIX_ACL;

function ok(r: P.InitResult) {
  if (r.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r;
}

t.test('7.27: no MAX_PAGES, no SETXATTR_EXT, no flags2', async (tt) => {
  const r = ok(P.negotiateInit(kernel(27), wants));
  tt.equal(r.minor, 27);
  tt.equal(r.flags, base);
  tt.equal(r.flags2, 0);
  tt.equal(r.setxattrExt, false);
  tt.equal(r.passthrough, false);
  tt.same(r.out, {
    major: 7, minor: 27, maxReadahead: 131072, flags: base, maxBackground: 64, congestionThreshold: 48, maxWrite: 1048576,
    timeGran: 1, maxPages: 0, mapAlignment: 0, flags2: 0, maxStackDepth: 0, requestTimeout: 0,
  });
  const buf = Buffer.alloc(80, 0xff);
  tt.equal(P.writeInitOut(buf, 0, r.out, r.minor), 64);
  tt.equal(buf.readUInt32LE(4), 27);
  tt.equal(buf.readUInt32LE(12), base);
  tt.equal(buf.readUInt32LE(32), 0, 'no flags2 written');
});

t.test('7.31: MAX_PAGES gives max_pages = max_write / 4096', async (tt) => {
  const r = ok(P.negotiateInit(kernel(31), wants));
  tt.equal(r.flags, (base | F.MAX_PAGES | F.CACHE_SYMLINKS) >>> 0);
  tt.equal(r.out.maxPages, 256);
  tt.equal(r.flags2, 0);
  tt.equal(r.setxattrExt, false);
});

t.test('7.36: INIT_EXT appears, flags2 negotiated, SETXATTR_EXT on', async (tt) => {
  const r = ok(P.negotiateInit(kernel(36), wants));
  tt.equal(r.flags, (base | F.MAX_PAGES | F.CACHE_SYMLINKS | F.SUBMOUNTS | F.HANDLE_KILLPRIV_V2 | F.SETXATTR_EXT | F.INIT_EXT) >>> 0);
  tt.equal(r.flags2, F2.SECURITY_CTX);
  tt.equal(r.setxattrExt, true);
  tt.equal(r.out.flags2, F2.SECURITY_CTX);
});

t.test('7.38: supplementary groups and expire-only', async (tt) => {
  const r = ok(P.negotiateInit(kernel(38), wants));
  tt.equal(r.flags2, F2.SECURITY_CTX | F2.CREATE_SUPP_GROUP | F2.HAS_EXPIRE_ONLY);
  tt.equal(r.passthrough, false);
});

t.test('7.40: passthrough with max_stack_depth, only without writeback cache', async (tt) => {
  let r = ok(P.negotiateInit(kernel(40), wants));
  tt.equal(r.flags2, F2.SECURITY_CTX | F2.CREATE_SUPP_GROUP | F2.HAS_EXPIRE_ONLY | F2.DIRECT_IO_ALLOW_MMAP | F2.PASSTHROUGH | F2.HAS_RESEND);
  tt.equal(r.passthrough, true);
  tt.equal(r.out.maxStackDepth, 1);

  r = ok(P.negotiateInit(kernel(40), { ...wants, flags: wants.flags | F.WRITEBACK_CACHE }));
  tt.equal(r.passthrough, false, 'writeback cache disables passthrough');
  tt.equal(r.flags2 & F2.PASSTHROUGH, 0);
  tt.equal(r.out.maxStackDepth, 0);
  tt.ok(r.flags & F.WRITEBACK_CACHE);

  for (const depth of [0, 3, undefined]) {
    r = ok(P.negotiateInit(kernel(40), { ...wants, maxStackDepth: depth }));
    tt.equal(r.passthrough, false, `max_stack_depth ${depth} disables passthrough`);
    tt.equal(r.out.flags2 & F2.PASSTHROUGH, 0);
  }
  r = ok(P.negotiateInit(kernel(40), { ...wants, maxStackDepth: 2 }));
  tt.equal(r.out.maxStackDepth, 2);
});

t.test('7.45 (this machine): full reply, request timeout only when asked', async (tt) => {
  let r = ok(P.negotiateInit(kernel(45), wants));
  tt.equal(r.minor, 45);
  tt.equal(r.out.requestTimeout, 0);
  tt.equal(r.flags2 & F2.REQUEST_TIMEOUT, 0);
  r = ok(P.negotiateInit(kernel(45), { ...wants, flags2: wants.flags2 | F2.REQUEST_TIMEOUT, requestTimeout: 20 }));
  tt.equal(r.out.requestTimeout, 20);
  tt.ok(r.flags2 & F2.REQUEST_TIMEOUT);
  r = ok(P.negotiateInit(kernel(45), { ...wants, flags2: wants.flags2 | F2.REQUEST_TIMEOUT }));
  tt.equal(r.flags2 & F2.REQUEST_TIMEOUT, 0, 'flag dropped when no timeout given');

  const buf = Buffer.alloc(64, 0xff);
  tt.equal(P.writeInitOut(buf, 0, ok(P.negotiateInit(kernel(45), wants)).out, 45), 64);
  tt.equal(buf.readUInt32LE(0), 7);
  tt.equal(buf.readUInt32LE(4), 45);
  tt.equal(buf.readUInt32LE(8), 131072, 'max_readahead: the kernel\'s, below our cap');
  tt.equal(buf.readUInt16LE(16), 64);
  tt.equal(buf.readUInt32LE(20), 1048576);
  tt.equal(buf.readUInt16LE(28), 256);
  tt.equal(buf.readUInt32LE(32), F2.SECURITY_CTX | F2.CREATE_SUPP_GROUP | F2.HAS_EXPIRE_ONLY | F2.DIRECT_IO_ALLOW_MMAP | F2.PASSTHROUGH | F2.HAS_RESEND);
  tt.equal(buf.readUInt32LE(36), 1);
  tt.ok(buf.subarray(42).every((b) => b === 0), 'unused zeroed');
});

t.test('flags2 only when the kernel set INIT_EXT', async (tt) => {
  const r = ok(P.negotiateInit(kernel(45, { flags: offeredLow(45) & ~F.INIT_EXT }), wants));
  tt.equal(r.flags2, 0);
  tt.equal(r.flags & F.INIT_EXT, 0);
  tt.equal(r.passthrough, false);
  const r2 = ok(P.negotiateInit(kernel(45), { ...wants, flags: wants.flags & ~F.INIT_EXT }));
  tt.ok(r2.flags & F.INIT_EXT, 'INIT_EXT answered whenever offered: the kernel reads flags2 only then');
});

t.test('a newer kernel (7.50) gets 7.45 and only the bits we know and want', async (tt) => {
  const r = ok(P.negotiateInit({ major: 7, minor: 50, maxReadahead: 4 << 20, flags: 0xffffffff, flags2: 0xffffffff }, wants));
  tt.equal(r.minor, 45);
  tt.equal(r.out.minor, 45);
  tt.equal(r.flags, (wants.flags & ~F.INIT_RESERVED) >>> 0);
  tt.equal(r.flags2, wants.flags2);
  tt.equal(r.out.maxReadahead, 1 << 20, 'capped at our max_readahead');
});

t.test('major 8: answer 7.45 and wait for a retry; major 6 and minor 26: refuse', async (tt) => {
  const r = P.negotiateInit({ major: 8, minor: 0, maxReadahead: 0, flags: 0, flags2: 0 }, wants);
  tt.equal(r.kind, 'retry');
  if (r.kind === 'retry') {
    const buf = Buffer.alloc(64, 0xff);
    tt.equal(P.writeInitOut(buf, 0, r.out, r.out.minor), 64);
    tt.same([buf.readUInt32LE(0), buf.readUInt32LE(4)], [7, 45]);
    tt.ok(buf.subarray(8).every((b) => b === 0), 'nothing else offered');
  }
  for (const k of [{ major: 6, minor: 99 }, { major: 7, minor: 26 }, { major: 0, minor: 0 }]) {
    const x = P.negotiateInit({ ...k, maxReadahead: 0, flags: 0, flags2: 0 }, wants);
    tt.same(x.kind === 'refuse' && x.errno, P.Errno.EPROTO, `${k.major}.${k.minor} refused with EPROTO`);
  }
});

t.test('limits are clamped to what the wire can carry', async (tt) => {
  const r = ok(P.negotiateInit(kernel(45), { flags: F.MAX_PAGES, flags2: 0, maxWrite: 100, maxBackground: 1e6, timeGran: 0 }));
  tt.equal(r.out.maxWrite, 4096, 'max_write at least 4096');
  tt.equal(r.out.maxPages, 1);
  tt.equal(r.out.maxBackground, 0xffff);
  tt.equal(r.out.timeGran, 1);
  const big = ok(P.negotiateInit(kernel(45), { flags: F.MAX_PAGES, flags2: 0, maxWrite: 2 ** 31 }));
  tt.equal(big.out.maxPages, 0xffff, 'max_pages fits u16');
});
