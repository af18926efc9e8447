// The INIT bits of virtiofsd's --posix-acl, --security-label, --writeback and --allow-mmap (src/server/init.ts),
// in-process against INITs with and without the client's support: an old guest without
// FUSE_POSIX_ACL (or FUSE_SECURITY_CTX) still mounts under 'auto' and is refused (EPROTO, as
// virtiofsd) under 'always'.
import t from 'tap';
import * as P from '../../src/protocol';
import { negotiate, ServerWants } from '../../src/server/init';

const F = P.InitFlag;
const base: ServerWants = { maxWrite: 1 << 20, announceSubmounts: false, posixLocks: true, flock: true, passthrough: false, cacheAlways: false };
/** A 7.39 kernel's INIT offering `flags` (INIT_EXT always, so flags2 counts). */
const kernel = (flags: number, flags2 = 0): P.InitIn => ({ major: 7, minor: 39, maxReadahead: 1 << 17, flags: (flags | F.INIT_EXT) >>> 0, flags2 });
const everything = (F.ASYNC_READ | F.POSIX_ACL | F.WRITEBACK_CACHE | F.DONT_MASK | F.SETXATTR_EXT) >>> 0;

t.test('--posix-acl modes', async (t) => {
  const ok = (r: ReturnType<typeof negotiate>) => {
    if (r.kind !== 'ok') throw new Error(`not ok: ${JSON.stringify(r)}`);
    return r;
  };
  t.equal(ok(negotiate(kernel(everything), base)).flags & F.POSIX_ACL, 0, 'not given: not offered');
  t.equal(ok(negotiate(kernel(everything), { ...base, aclMode: 'never' })).flags & F.POSIX_ACL, 0, 'never: not offered');
  t.not(ok(negotiate(kernel(everything), { ...base, aclMode: 'auto' })).flags & F.POSIX_ACL, 0, 'auto, client offers it: on');
  const old = negotiate(kernel(F.ASYNC_READ), { ...base, aclMode: 'auto' });
  t.equal(old.kind, 'ok', 'auto, an old client without FUSE_POSIX_ACL: still mounts');
  t.equal(ok(old).flags & F.POSIX_ACL, 0, '... without ACLs');
  t.not(ok(negotiate(kernel(everything), { ...base, aclMode: 'always' })).flags & F.POSIX_ACL, 0, 'always, client offers it: on');
  const refused = negotiate(kernel(F.ASYNC_READ), { ...base, aclMode: 'always' });
  t.same(refused.kind === 'refuse' && [refused.errno, /--posix-acl=always/.test(refused.reason)], [P.Errno.EPROTO, true], 'always, client without it: INIT refused with EPROTO');
});

t.test('--writeback and --allow-mmap', async (t) => {
  const wb = negotiate(kernel(everything), { ...base, writeback: true });
  t.ok(wb.kind === 'ok' && wb.writeback && (wb.flags & F.WRITEBACK_CACHE), 'writeback: FUSE_WRITEBACK_CACHE on, and known to the session');
  const none = negotiate(kernel(everything), base);
  t.ok(none.kind === 'ok' && !none.writeback && !(none.flags & F.WRITEBACK_CACHE), 'not given: off');
  const noClient = negotiate(kernel(F.ASYNC_READ), { ...base, writeback: true });
  t.ok(noClient.kind === 'ok' && !noClient.writeback, 'a client without it: off (not believed on)');
  const mm = negotiate(kernel(F.ASYNC_READ, P.InitFlag2.DIRECT_IO_ALLOW_MMAP), { ...base, allowMmap: true });
  t.ok(mm.kind === 'ok' && (mm.flags2 & P.InitFlag2.DIRECT_IO_ALLOW_MMAP), 'allow-mmap: FUSE_DIRECT_IO_ALLOW_MMAP on');
  const noMm = negotiate(kernel(F.ASYNC_READ, P.InitFlag2.DIRECT_IO_ALLOW_MMAP), base);
  t.ok(noMm.kind === 'ok' && !(noMm.flags2 & P.InitFlag2.DIRECT_IO_ALLOW_MMAP), 'not given: off');
});

t.test('--security-label modes', async (t) => {
  const S = P.InitFlag2.SECURITY_CTX;
  const on = (r: ReturnType<typeof negotiate>) => r.kind === 'ok' && r.securityLabel && (r.flags2 & S) !== 0;
  const off = (r: ReturnType<typeof negotiate>) => r.kind === 'ok' && !r.securityLabel && (r.flags2 & S) === 0;
  t.ok(off(negotiate(kernel(F.ASYNC_READ, S), base)), 'not given: not offered, off');
  t.ok(off(negotiate(kernel(F.ASYNC_READ, S), { ...base, labelMode: 'never' })), 'never: not offered, off');
  t.ok(on(negotiate(kernel(F.ASYNC_READ, S), { ...base, labelMode: 'auto' })), 'auto, client offers it: on');
  t.ok(off(negotiate(kernel(F.ASYNC_READ), { ...base, labelMode: 'auto' })), 'auto, a client without it: mounts, off');
  t.ok(on(negotiate(kernel(F.ASYNC_READ, S), { ...base, labelMode: 'always' })), 'always, client offers it: on');
  const refused = negotiate(kernel(F.ASYNC_READ), { ...base, labelMode: 'always' });
  t.same(refused.kind === 'refuse' && [refused.errno, /--security-label=always/.test(refused.reason)], [P.Errno.EPROTO, true], 'always, client without it: INIT refused with EPROTO');
  // A 7.35 kernel has no flags2 at all (no FUSE_INIT_EXT): it cannot offer the feature.
  const k35: P.InitIn = { major: 7, minor: 35, maxReadahead: 1 << 17, flags: F.ASYNC_READ, flags2: S };
  t.ok(off(negotiate(k35, { ...base, labelMode: 'auto' })), 'auto, a 7.35 kernel (no flags2): off');
  t.equal(negotiate(k35, { ...base, labelMode: 'always' }).kind, 'refuse', 'always, a 7.35 kernel: refused');
});
