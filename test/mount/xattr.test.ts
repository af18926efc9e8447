// Extended attributes through vfsd: with --xattr, user.* attributes set/get/list/remove behave as
// on the native directory and land on the host file; without it, the kernel is told "not
// supported" and every xattr call through the mount fails cleanly (recorded below).
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { C, sys } from '../../src/native/sys';
import { startVfsd, VfsdProcess } from '../helpers/vfsd-process';
import { errnoName, runAs, sameOutcome } from '../helpers/compare';

const root = process.geteuid?.() === 0;

function fail(r: number, what: string): never {
  throw Object.assign(new Error(what), { code: errnoName(-r) });
}
function setx(p: string, name: string, value: string, flags = 0): void {
  const r = sys.setxattr(p, name, Buffer.from(value), flags, true);
  if (r < 0) fail(r, 'setxattr');
}
function getx(p: string, name: string): string {
  const size = sys.getxattr(p, name, Buffer.alloc(0), true);
  if (size < 0) fail(size, 'getxattr size');
  const out = Buffer.alloc(size);
  const r = sys.getxattr(p, name, out, true);
  if (r < 0) fail(r, 'getxattr');
  return out.toString('utf8', 0, r);
}
function listx(p: string): string[] {
  const size = sys.listxattr(p, Buffer.alloc(0), true);
  if (size < 0) fail(size, 'listxattr size');
  const out = Buffer.alloc(size);
  const r = sys.listxattr(p, out, true);
  if (r < 0) fail(r, 'listxattr');
  return out.toString('utf8', 0, r).split('\0').filter(Boolean).sort();
}
function removex(p: string, name: string): void {
  const r = sys.removexattr(p, name, true);
  if (r < 0) fail(r, 'removexattr');
}

function prepare(src: string): void {
  for (const d of ['native', 'm']) {
    fs.mkdirSync(path.join(src, d));
    fs.writeFileSync(path.join(src, d, 'f'), 'data');
    fs.mkdirSync(path.join(src, d, 'dir'));
    fs.symlinkSync('f', path.join(src, d, 'link'));
  }
}

t.test('xattrs with --xattr match the host', { skip: !root && 'needs root' }, async (t) => {
  let v: VfsdProcess;
  let N: string, M: string, H: string;
  t.before(async () => {
    v = await startVfsd(t, { args: ['--xattr', '--allow-other'], prepare });
    N = path.join(v.src, 'native');
    M = path.join(v.mnt, 'm');
    H = path.join(v.src, 'm');
  });
  const both = <T>(t: Test, what: string, fn: (r: string) => T) => sameOutcome(t, N, M, what, fn);

  t.test('set, get, list, remove', async (t) => {
    both(t, 'set user.a', (r) => setx(path.join(r, 'f'), 'user.a', 'alpha'));
    both(t, 'set user.b (binary-ish, 3000 bytes)', (r) => setx(path.join(r, 'f'), 'user.b', 'b'.repeat(3000)));
    both(t, 'set an empty value', (r) => setx(path.join(r, 'f'), 'user.empty', ''));
    both(t, 'get user.a', (r) => getx(path.join(r, 'f'), 'user.a'));
    both(t, 'get user.b length', (r) => getx(path.join(r, 'f'), 'user.b').length);
    both(t, 'get the empty value', (r) => getx(path.join(r, 'f'), 'user.empty'));
    both(t, 'get a missing name: ENODATA', (r) => getx(path.join(r, 'f'), 'user.missing'));
    both(t, 'get into a too small buffer: ERANGE', (r) => {
      const e = sys.getxattr(path.join(r, 'f'), 'user.a', Buffer.alloc(2), true);
      if (e < 0) fail(e, 'getxattr');
      return e;
    });
    both(t, 'list', (r) => listx(path.join(r, 'f')));
    both(t, 'list into a too small buffer: ERANGE', (r) => {
      const e = sys.listxattr(path.join(r, 'f'), Buffer.alloc(3), true);
      if (e < 0) fail(e, 'listxattr');
      return e;
    });
    both(t, 'XATTR_CREATE on an existing name: EEXIST', (r) => setx(path.join(r, 'f'), 'user.a', 'x', C.XATTR_CREATE));
    both(t, 'XATTR_REPLACE on a missing name: ENODATA', (r) => setx(path.join(r, 'f'), 'user.nope', 'x', C.XATTR_REPLACE));
    both(t, 'XATTR_REPLACE on an existing name', (r) => setx(path.join(r, 'f'), 'user.a', 'replaced', C.XATTR_REPLACE));
    both(t, 'remove user.b', (r) => removex(path.join(r, 'f'), 'user.b'));
    both(t, 'remove it again: ENODATA', (r) => removex(path.join(r, 'f'), 'user.b'));
    both(t, 'list after', (r) => listx(path.join(r, 'f')));
    both(t, 'an unknown namespace: EOPNOTSUPP', (r) => setx(path.join(r, 'f'), 'bogus.a', 'x'));
    both(t, 'a name longer than XATTR_NAME_MAX: ERANGE', (r) => setx(path.join(r, 'f'), 'user.' + 'n'.repeat(300), 'x'));
    both(t, 'on a directory', (r) => { setx(path.join(r, 'dir'), 'user.d', 'dirval'); return getx(path.join(r, 'dir'), 'user.d'); });
    both(t, 'user.* on a symlink itself: EPERM', (r) => setx(path.join(r, 'link'), 'user.l', 'x'));
    both(t, 'trusted.* as root', (r) => { setx(path.join(r, 'f'), 'trusted.t', 'tv'); return getx(path.join(r, 'f'), 'trusted.t'); });

    // What landed on the host file, read natively.
    t.equal(getx(path.join(H, 'f'), 'user.a'), 'replaced', 'the host file carries the value set through the mount');
    t.same(listx(path.join(H, 'f')), listx(path.join(M, 'f')), 'the host\'s list equals the mount\'s');
    t.equal(getx(path.join(H, 'dir'), 'user.d'), 'dirval', 'the directory\'s attribute is on the host');
    setx(path.join(H, 'f'), 'user.fromhost', 'set natively');
    t.equal(getx(path.join(M, 'f'), 'user.fromhost'), 'set natively', 'an attribute set on the host is read through the mount');
  });

  t.test('an unprivileged caller gets the host\'s xattr permission decisions', async (t) => {
    fs.chmodSync(path.join(H, 'f'), 0o644);
    fs.chmodSync(path.join(N, 'f'), 0o644);
    const attempt = (a: { p: string; sys: string }) => {
      const { sys } = require(a.sys);
      const b = Buffer.alloc(64);
      return { get: sys.getxattr(a.p, 'user.a', b, true), set: sys.setxattr(a.p, 'user.x', Buffer.from('x'), 0, true) };
    };
    const sysPath = require.resolve('../../src/native/sys');
    const native = runAs({ uid: 65534, gid: 65534 }, attempt, { p: path.join(N, 'f'), sys: sysPath });
    const mount = runAs({ uid: 65534, gid: 65534 }, attempt, { p: path.join(M, 'f'), sys: sysPath });
    t.same(mount, native, `as nobody: ${JSON.stringify(native)} natively, ${JSON.stringify(mount)} through vfsd`);
    t.ok((native as { set: number }).set < 0, 'natively, nobody cannot set an xattr on root\'s 0644 file');
  });
});

t.test('without --xattr', { skip: !root && 'needs root' }, async (t) => {
  const v = await startVfsd(t, { prepare });
  const f = path.join(v.mnt, 'm', 'f');
  setx(path.join(v.src, 'm', 'f'), 'user.hidden', 'host value');
  // Recorded behaviour: vfsd answers ENOSYS, which the kernel remembers and turns into
  // EOPNOTSUPP for every later call of that kind; listing answers as an empty list.
  const r = {
    set: sys.setxattr(f, 'user.a', Buffer.from('x'), 0, true),
    get: sys.getxattr(f, 'user.hidden', Buffer.alloc(64), true),
    list: sys.listxattr(f, Buffer.alloc(64), true),
    remove: sys.removexattr(f, 'user.hidden', true),
  };
  const EOPNOTSUPP = -os.constants.errno.EOPNOTSUPP; // ENOTSUP is the same number on Linux
  t.equal(r.set, EOPNOTSUPP, 'setxattr: EOPNOTSUPP');
  t.equal(r.get, EOPNOTSUPP, 'getxattr: EOPNOTSUPP (the host value is not exposed)');
  t.ok(r.list === 0 || r.list === EOPNOTSUPP, `listxattr: empty or EOPNOTSUPP (got ${r.list < 0 ? errnoName(-r.list) : r.list})`);
  t.equal(r.remove, EOPNOTSUPP, 'removexattr: EOPNOTSUPP');
  t.equal(getx(path.join(v.src, 'm', 'f'), 'user.hidden'), 'host value', 'the host attribute is untouched');
  t.equal(fs.readFileSync(f, 'utf8'), 'data', 'the file itself still works');
  t.comment(`without --xattr: ${JSON.stringify(Object.fromEntries(Object.entries(r).map(([k, x]) => [k, x < 0 ? errnoName(-x) : x])))}`);
});
