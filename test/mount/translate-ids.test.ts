// --translate-uid / --translate-gid on a real /dev/fuse mount, through the vfsd command. Over
// /dev/fuse the "guest" is the local caller: its uid/gid are the guest ids the rules translate,
// the native directory is the host. Callers run as child processes with their own uid/gid.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { startVfsd, VfsdProcess } from '../helpers/vfsd-process';
import { runAs, Identity } from '../helpers/compare';
import { AT_FDCWD, C, sys } from '../../src/native/sys';

const root = process.geteuid?.() === 0;

const RULES = [
  '--translate-uid', 'map:1000:2000:10', '--translate-gid', 'map:1000:2000:10',
  '--translate-uid=forbid-guest:3000:10', '--translate-gid=forbid-guest:3000:10',
  '--translate-uid', 'squash-guest:5000:4242:100', '--translate-gid', 'squash-guest:5000:4343:100',
];

const who = (uid: number, gid = uid, groups: number[] = []): Identity => ({ uid, gid, groups });

/** [uid, gid] of a path as seen from where it is stat'ed. */
const owner = (p: string): [number, number] => {
  const s = fs.lstatSync(p);
  return [s.uid, s.gid];
};

/** Creates a file and a directory, then reports what the caller sees of them. */
function create(dir: string): unknown {
  const fs = require('node:fs') as typeof import('node:fs');
  fs.writeFileSync(dir + '/file', 'made by me', { mode: 0o644 });
  fs.mkdirSync(dir + '/dir');
  const f = fs.statSync(dir + '/file'), d = fs.statSync(dir + '/dir');
  return [[f.uid, f.gid], [d.uid, d.gid]];
}

/** What a caller may do with files owned by other host ids (see seedAccess). */
function access(dir: string): unknown {
  const fs = require('node:fs') as typeof import('node:fs');
  const out: Record<string, unknown> = {};
  for (const n of ['mine-0600', 'group-0640', 'other-0600']) {
    try { out[n] = fs.readFileSync(dir + '/' + n, 'utf8'); } catch (e) { out[n] = (e as NodeJS.ErrnoException).code; }
  }
  try { fs.writeFileSync(dir + '/in-my-dir/x', 'x'); out['create in my 0700 dir'] = 'ok'; } catch (e) { out['create in my 0700 dir'] = (e as NodeJS.ErrnoException).code; }
  return out;
}

/** Files owned by host 2005 / group 2005 / host 2006, for a caller that is host 2005. */
function seedAccess(dir: string): void {
  fs.mkdirSync(dir, { mode: 0o755 });
  const mk = (n: string, uid: number, gid: number, mode: number) => {
    fs.writeFileSync(path.join(dir, n), n);
    fs.chownSync(path.join(dir, n), uid, gid);
    fs.chmodSync(path.join(dir, n), mode);
  };
  mk('mine-0600', 2005, 0, 0o600);
  mk('group-0640', 0, 2005, 0o640);
  mk('other-0600', 2006, 2006, 0o600);
  fs.mkdirSync(path.join(dir, 'in-my-dir'));
  fs.chownSync(path.join(dir, 'in-my-dir'), 2005, 2005);
  fs.chmodSync(path.join(dir, 'in-my-dir'), 0o700);
}

/** A POSIX ACL xattr value (linux/posix_acl_xattr.h) granting `uid` read access. */
function aclValue(uid: number): string {
  const entries: Array<[number, number, number]> = [[0x01, 6, -1], [0x02, 4, uid], [0x04, 4, -1], [0x10, 4, -1], [0x20, 4, -1]];
  const b = Buffer.alloc(4 + 8 * entries.length);
  b.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm, id], i) => {
    b.writeUInt16LE(tag, 4 + 8 * i);
    b.writeUInt16LE(perm, 6 + 8 * i);
    b.writeUInt32LE(id >>> 0, 8 + 8 * i);
  });
  return '0x' + b.toString('hex');
}

t.test('--translate-uid/--translate-gid on a /dev/fuse mount', { skip: !root && 'needs root (callers run as other uids)' }, async (t) => {
  let v: VfsdProcess;
  t.before(async () => {
    v = await startVfsd(t, {
      args: ['--allow-other', '--xattr', ...RULES],
      prepare: (src) => {
        fs.mkdirSync(path.join(src, 'pub'));
        fs.chmodSync(path.join(src, 'pub'), 0o777);
        for (const [n, uid, gid] of [['h2003', 2003, 2003], ['h4000', 4000, 4001], ['h1005', 1005, 1005], ['h0', 0, 0]] as const) {
          fs.writeFileSync(path.join(src, n), n);
          fs.chownSync(path.join(src, n), uid, gid);
        }
        seedAccess(path.join(src, 'acc'));
      },
    });
  });

  t.test('a file made by guest 1005 is host 2005, and shows as 1005', async (t) => {
    fs.mkdirSync(path.join(v.src, 'pub', 'c1005'), { mode: 0o777 });
    fs.chmodSync(path.join(v.src, 'pub', 'c1005'), 0o777);
    const seen = runAs(who(1005), create, path.join(v.mnt, 'pub', 'c1005'));
    t.same(seen, [[1005, 1005], [1005, 1005]], 'the caller sees its own ids on what it made');
    t.same(owner(path.join(v.src, 'pub', 'c1005', 'file')), [2005, 2005], 'on the host the file is 2005:2005');
    t.same(owner(path.join(v.src, 'pub', 'c1005', 'dir')), [2005, 2005], 'and the directory too');
    t.same(owner(path.join(v.mnt, 'pub', 'c1005', 'file')), [1005, 1005], 'any other caller sees 1005:1005 too');
  });

  t.test('guest 1005 gets exactly the rights host 2005 has natively', async (t) => {
    // The same layout twice: through the mount as guest 1005, natively as host 2005.
    seedAccess(path.join(v.src, 'acc-native'));
    const mount = runAs(who(1005), access, path.join(v.mnt, 'acc'));
    const native = runAs(who(2005), access, path.join(v.src, 'acc-native'));
    t.same(mount, native, `${JSON.stringify(native)} natively`);
    t.equal((native as Record<string, string>)['mine-0600'], 'mine-0600', 'the owner reads its 0600 file');
    t.equal((native as Record<string, string>)['other-0600'], 'EACCES', 'another uid\'s 0600 file is refused');
    t.equal((native as Record<string, string>)['group-0640'], 'group-0640', 'the group file is readable through the primary gid');
    const untranslated = runAs(who(1006), access, path.join(v.mnt, 'acc')) as Record<string, string>;
    t.equal(untranslated['mine-0600'], 'EACCES', 'guest 1006 (host 2006) may not read host 2005\'s file');
    t.equal(untranslated['other-0600'], 'other-0600', '... but reads host 2006\'s');
  });

  t.test('host owners shown to the guest: in range translated, outside unchanged (as virtiofsd)', async (t) => {
    t.same(owner(path.join(v.mnt, 'h2003')), [1003, 1003], 'host 2003 shows as 1003');
    t.same(owner(path.join(v.mnt, 'h4000')), [4000, 4001], 'host ids no rule covers show unchanged');
    t.same(owner(path.join(v.mnt, 'h1005')), [1005, 1005], 'host 1005 (outside the host range 2000..2009) shows unchanged');
    t.same(owner(path.join(v.mnt, 'h0')), [0, 0], 'root stays root');
  });

  t.test('READDIRPLUS and STATX answers are translated too', async (t) => {
    const dir = path.join(v.src, 'listing');
    fs.mkdirSync(dir);
    for (let i = 0; i < 5; i++) {
      fs.writeFileSync(path.join(dir, `f${i}`), '');
      fs.chownSync(path.join(dir, `f${i}`), 2000 + i, 2009 - i);
    }
    // A fresh directory: listing it with attributes (READDIRPLUS) fills the kernel's cache, so
    // the stats that follow within the attribute timeout come from READDIRPLUS' attributes.
    const seen = fs.readdirSync(path.join(v.mnt, 'listing')).sort().map((n) => owner(path.join(v.mnt, 'listing', n)));
    t.same(seen, [0, 1, 2, 3, 4].map((i) => [1000 + i, 1009 - i]), 'every entry shows translated owners');
    // statx asking for the birth time with FORCE_SYNC makes the kernel send FUSE_STATX.
    const buf = Buffer.alloc(256);
    const AT_STATX_FORCE_SYNC = 0x2000;
    t.equal(sys.statx(AT_FDCWD, path.join(v.mnt, 'listing', 'f2'), AT_STATX_FORCE_SYNC, C.STATX_BASIC_STATS | C.STATX_BTIME, buf), 0);
    t.ok(buf.readUInt32LE(0) & C.STATX_BTIME, 'the answer has a birth time: it came from FUSE_STATX, not GETATTR');
    t.same([buf.readUInt32LE(20), buf.readUInt32LE(24)], [1002, 1007], 'STATX shows translated owners');
  });

  t.test('chown through the mount: guest ids become host ids; forbidden ones are refused', async (t) => {
    const f = path.join(v.src, 'pub', 'chowned');
    fs.writeFileSync(f, '');
    fs.chownSync(path.join(v.mnt, 'pub', 'chowned'), 1007, 1008);
    t.same(owner(f), [2007, 2008], 'chown to 1007:1008 makes it 2007:2008 on the host');
    t.same(owner(path.join(v.mnt, 'pub', 'chowned')), [1007, 1008], 'and shows 1007:1008');
    fs.chownSync(path.join(v.mnt, 'pub', 'chowned'), -1, 1002);
    t.same(owner(f), [2007, 2002], 'chgrp alone keeps the owner');
    t.throws(() => fs.chownSync(path.join(v.mnt, 'pub', 'chowned'), 3005, -1), { code: 'EPERM' }, 'chown to a forbidden uid: EPERM');
    t.throws(() => fs.chownSync(path.join(v.mnt, 'pub', 'chowned'), 1001, 3009), { code: 'EPERM' }, 'chown to a forbidden gid: EPERM');
    t.same(owner(f), [2007, 2002], 'nothing changed on the host');
    fs.chownSync(path.join(v.mnt, 'pub', 'chowned'), 7000, 7001);
    t.same(owner(f), [7000, 7001], 'ids no rule covers pass unchanged');
    fs.chownSync(path.join(v.mnt, 'pub', 'chowned'), 5050, 5099);
    t.same(owner(f), [4242, 4343], 'squash-guest ids squash on chown too');
  });

  t.test('forbid-guest: every request of a forbidden caller fails with EPERM', async (t) => {
    const attempt = (dir: string) => {
      const fs = require('node:fs') as typeof import('node:fs');
      const r: Record<string, string> = {};
      const step = (n: string, fn: () => unknown) => { try { fn(); r[n] = 'ok'; } catch (e) { r[n] = (e as NodeJS.ErrnoException).code!; } };
      step('create', () => fs.writeFileSync(dir + '/pub/forbidden-' + process.getuid!() + '-' + process.getgid!(), 'x'));
      step('mkdir', () => fs.mkdirSync(dir + '/pub/forbidden-dir-' + process.getuid!() + '-' + process.getgid!()));
      step('read', () => fs.readFileSync(dir + '/h0'));
      step('list', () => fs.readdirSync(dir + '/pub'));
      return r;
    };
    const refused = { create: 'EPERM', mkdir: 'EPERM', read: 'EPERM', list: 'EPERM' };
    t.same(runAs(who(3003), attempt, v.mnt), refused, 'a forbidden uid');
    t.same(runAs(who(1001, 3001), attempt, v.mnt), refused, 'an allowed uid with a forbidden gid');
    t.same(runAs(who(1002, 1002, [3002]), attempt, v.mnt), refused, 'an allowed uid with a forbidden supplementary group');
    t.notOk(fs.existsSync(path.join(v.src, 'pub', 'forbidden-3003-3003')), 'nothing was created for the forbidden caller');
    t.same(runAs(who(3003), attempt, v.src), { create: 'ok', mkdir: 'ok', read: 'ok', list: 'ok' }, 'natively the same caller may do all of it');
    t.same(runAs(who(3010), attempt, v.mnt), { create: 'ok', mkdir: 'ok', read: 'ok', list: 'ok' }, 'the first id after the range is allowed');
    t.same(owner(path.join(v.src, 'pub', 'forbidden-3010-3010')), [3010, 3010], '... and unchanged');
  });

  t.test('squash-guest: every caller of the range is one host id', async (t) => {
    const mk = (dir: string) => {
      const fs = require('node:fs') as typeof import('node:fs');
      fs.writeFileSync(dir + '/sq-' + process.getuid!(), 'x');
      return null;
    };
    for (const uid of [5000, 5001, 5099]) runAs(who(uid), mk, path.join(v.mnt, 'pub'));
    runAs(who(5100), mk, path.join(v.mnt, 'pub'));
    for (const uid of [5000, 5001, 5099]) t.same(owner(path.join(v.src, 'pub', `sq-${uid}`)), [4242, 4343], `guest ${uid} is host 4242:4343`);
    t.same(owner(path.join(v.src, 'pub', 'sq-5100')), [5100, 5100], 'guest 5100, past the range, is itself');
    t.same(owner(path.join(v.mnt, 'pub', 'sq-5001')), [4242, 4343], 'the guest sees 4242:4343 (squash-guest has no way back)');
  });

  t.test('POSIX ACL xattrs (ids inside the value) are refused; other xattrs work', async (t) => {
    const set = (p: string) => spawnSync('setfattr', ['-n', 'system.posix_acl_access', '-v', aclValue(1003), p], { encoding: 'utf8' });
    const nat = path.join(v.src, 'pub', 'acl-native');
    fs.writeFileSync(nat, '');
    t.equal(set(nat).status, 0, 'natively the ACL is set');
    const f = path.join(v.mnt, 'pub', 'acl-file');
    fs.writeFileSync(f, '');
    const r = set(f);
    t.not(r.status, 0, 'through the mount it is refused');
    t.match(r.stderr, /Operation not supported/);
    t.throws(() => execFileSync('getfattr', ['-n', 'system.posix_acl_access', path.join(v.mnt, 'pub', 'acl-native')], { stdio: 'pipe' }), 'reading the native file\'s ACL through the mount is refused');
    execFileSync('setfattr', ['-n', 'user.k', '-v', 'v', f]);
    t.equal(execFileSync('getfattr', ['--only-values', '-n', 'user.k', f], { encoding: 'utf8' }), 'v', 'user.* xattrs pass');
  });
});

t.test('control: without a translation the same ACL passes through vfsd', { skip: !root && 'needs root' }, async (t) => {
  const v = await startVfsd(t, { args: ['--xattr'] });
  const f = path.join(v.mnt, 'acl-file');
  fs.writeFileSync(f, '');
  execFileSync('setfattr', ['-n', 'system.posix_acl_access', '-v', aclValue(1003), f]);
  t.equal(execFileSync('getfattr', ['-e', 'hex', '--only-values', '-n', 'system.posix_acl_access', path.join(v.src, 'acl-file')]).toString('hex'),
    Buffer.from(aclValue(1003).slice(2), 'hex').toString('hex'), 'the host file has the ACL: the refusal above is the translation\'s');
});

t.test('a bad rule stops vfsd with a usage error before mounting', { skip: !root && 'needs root' }, async (t) => {
  await t.rejects(startVfsd(t, { args: ['--translate-uid', 'map:1:1:5', '--translate-uid', 'forbid-guest:4:1'] }),
    /vfsd exited \(2\) before mounting:\nvfsd: --translate-uid: 'forbid-guest:4:1' and 'map:1:1:5' both translate guest id 4 \(rules of one direction must not intersect\)\n/);
});
