// Callers that are not root: vfsd must do every operation as the caller (uid, gid, supplementary
// groups), so the host kernel makes the permission decisions and new files belong to the caller.
// Each scenario runs in a child process as the caller, once in a native directory and once
// through the mount (--allow-other, so other uids may use it); the outcomes must be identical.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startVfsd, VfsdProcess } from '../helpers/vfsd-process';
import { runAs, Identity } from '../helpers/compare';

const root = process.geteuid?.() === 0;
const NOBODY: Identity = { uid: 65534, gid: 65534 };
const GROUP = 4242;
const MEMBER: Identity = { uid: 4243, gid: 4243, groups: [GROUP] };
const OUTSIDER: Identity = { uid: 4244, gid: 4244 };

/** Root-owned layout with every kind of permission the tests need. */
function seed(r: string): void {
  fs.mkdirSync(r, 0o755);
  fs.chmodSync(r, 0o755);
  fs.writeFileSync(path.join(r, 'rootfile'), 'root data\n', { mode: 0o644 });
  fs.writeFileSync(path.join(r, 'secret'), 'root only\n', { mode: 0o600 });
  fs.chmodSync(path.join(r, 'secret'), 0o600);
  fs.mkdirSync(path.join(r, 'pub'));
  fs.chmodSync(path.join(r, 'pub'), 0o777);
  fs.mkdirSync(path.join(r, 'sticky'));
  fs.chmodSync(path.join(r, 'sticky'), 0o1777);
  fs.writeFileSync(path.join(r, 'sticky', 'roots'), 'x');
  fs.writeFileSync(path.join(r, 'grp'), 'group data\n');
  fs.chownSync(path.join(r, 'grp'), 0, GROUP);
  fs.chmodSync(path.join(r, 'grp'), 0o640);
  fs.mkdirSync(path.join(r, 'grpdir'));
  fs.chownSync(path.join(r, 'grpdir'), 0, GROUP);
  fs.chmodSync(path.join(r, 'grpdir'), 0o770);
  fs.mkdirSync(path.join(r, 'private'));
  fs.chmodSync(path.join(r, 'private'), 0o700);
  fs.writeFileSync(path.join(r, 'private', 'inside'), 'hidden', { mode: 0o644 });
  fs.mkdirSync(path.join(r, 'sgid'));
  fs.chownSync(path.join(r, 'sgid'), 0, GROUP);
  fs.chmodSync(path.join(r, 'sgid'), 0o2777);
}

/** Everything an unprivileged caller tries; each step's outcome ('ok', a value, or the code). */
function attempts(r: string): Record<string, unknown> {
  const fs = require('node:fs') as typeof import('node:fs');
  const p = (n: string) => r + '/' + n;
  const out: Record<string, unknown> = {};
  const step = (name: string, fn: () => unknown) => {
    try { const v = fn(); out[name] = v === undefined ? 'ok' : v; } catch (e) { out[name] = (e as NodeJS.ErrnoException).code; }
  };
  step('read 0644 root file', () => fs.readFileSync(p('rootfile'), 'utf8'));
  step('write 0644 root file', () => fs.writeFileSync(p('rootfile'), 'mine'));
  step('open 0644 root file O_RDWR', () => fs.closeSync(fs.openSync(p('rootfile'), 'r+')));
  step('read 0600 root file', () => fs.readFileSync(p('secret'), 'utf8'));
  step('create in 0755 root dir', () => fs.writeFileSync(p('new'), 'x'));
  step('mkdir in 0755 root dir', () => fs.mkdirSync(p('newdir')));
  step('symlink in 0755 root dir', () => fs.symlinkSync('x', p('newlink')));
  step('unlink in 0755 root dir', () => fs.unlinkSync(p('rootfile')));
  step('rename in 0755 root dir', () => fs.renameSync(p('rootfile'), p('moved')));
  step('chmod root file', () => fs.chmodSync(p('rootfile'), 0o666));
  step('chown root file to me', () => fs.chownSync(p('rootfile'), process.getuid!(), process.getgid!()));
  step('utimes root file to fixed times', () => fs.utimesSync(p('rootfile'), 1, 1));
  step('truncate root file', () => fs.truncateSync(p('rootfile'), 0));
  step('access W_OK root file', () => fs.accessSync(p('rootfile'), fs.constants.W_OK));
  step('access R_OK secret', () => fs.accessSync(p('secret'), fs.constants.R_OK));
  step('list 0700 root dir', () => fs.readdirSync(p('private')));
  step('stat in 0700 root dir', () => fs.statSync(p('private/inside')).size);
  step('read in 0700 root dir', () => fs.readFileSync(p('private/inside'), 'utf8'));
  step('create in 0777 dir', () => fs.writeFileSync(p('pub/mine'), 'mine', { mode: 0o640 }));
  step('mkdir in 0777 dir', () => fs.mkdirSync(p('pub/mydir'), 0o750));
  step('mknod fifo in 0777 dir', () => require('node:child_process').execFileSync('mkfifo', [p('pub/myfifo')]));
  step('chmod my file', () => fs.chmodSync(p('pub/mine'), 0o604));
  step('chown my file to root', () => fs.chownSync(p('pub/mine'), 0, 0));
  step('utimes my file', () => fs.utimesSync(p('pub/mine'), 1000, 2000));
  step('my file stat', () => { const s = fs.statSync(p('pub/mine')); return [s.uid, s.gid, s.mode, s.mtimeMs]; });
  step('unlink root file in sticky dir', () => fs.unlinkSync(p('sticky/roots')));
  step('create then unlink my file in sticky dir', () => { fs.writeFileSync(p('sticky/m'), 'm'); fs.unlinkSync(p('sticky/m')); });
  step('read group file', () => fs.readFileSync(p('grp'), 'utf8'));
  step('create in group dir', () => fs.writeFileSync(p('grpdir/g'), 'g'));
  step('group dir file gid', () => fs.statSync(p('grpdir/g')).gid);
  step('create in setgid dir', () => fs.writeFileSync(p('sgid/s'), 's'));
  step('setgid dir file gid', () => fs.statSync(p('sgid/s')).gid);
  step('mkdir in setgid dir keeps setgid', () => { fs.mkdirSync(p('sgid/d')); return fs.statSync(p('sgid/d')).mode & 0o2000; });
  return out;
}

t.test('unprivileged callers get exactly the host kernel\'s decisions', { skip: !root && 'needs root' }, async (t) => {
  let v: VfsdProcess;
  t.before(async () => {
    v = await startVfsd(t, { args: ['--allow-other'] });
  });

  for (const [who, id] of [['nobody', NOBODY], ['a member of group 4242 (supplementary)', MEMBER], ['an outsider', OUTSIDER]] as const) {
    t.test(`as ${who}`, async (t) => {
      // A fresh copy of the layout for each caller (the previous one changed things), under new
      // names: replacing a directory behind the mount's back would leave the kernel's cached
      // entry on the deleted one for the entry timeout, as on any network filesystem.
      const tag = String(id.uid);
      const N = path.join(v.src, `native-${tag}`);
      const H = path.join(v.src, `m-${tag}`);
      const M = path.join(v.mnt, `m-${tag}`);
      seed(N);
      seed(H);
      const native = runAs(id, attempts, N) as Record<string, unknown>;
      const mount = runAs(id, attempts, M) as Record<string, unknown>;
      for (const k of Object.keys(native)) t.same(mount[k], native[k], `${k}: ${JSON.stringify(native[k])} natively, ${JSON.stringify(mount[k])} through vfsd`);
      // Make sure the scenario really exercised refusals and successes (a test that cannot fail is a defect).
      t.equal(native['write 0644 root file'], 'EACCES', 'natively, writing a 0644 root file is refused');
      t.equal(native['create in 0755 root dir'], 'EACCES', 'natively, creating in a 0755 root dir is refused');
      t.equal(native['read 0600 root file'], 'EACCES', 'natively, a 0600 root file is unreadable');
      t.equal(native['unlink root file in sticky dir'], 'EPERM', 'natively, the sticky bit protects root\'s file');
      t.equal(native['read group file'], id === MEMBER ? 'group data\n' : 'EACCES', 'the group file is readable only by the member');

      // Ownership on the HOST of what the caller made through the mount.
      const st = fs.statSync(path.join(H, 'pub', 'mine'));
      t.equal(st.uid, id.uid, 'a file created through vfsd is owned by the caller\'s uid on the host');
      t.equal(st.gid, id.gid, '... and the caller\'s gid');
      t.equal(st.mode & 0o7777, 0o604, '... with the mode the caller set');
      const d = fs.statSync(path.join(H, 'pub', 'mydir'));
      t.same([d.uid, d.gid], [id.uid, id.gid], 'a directory created through vfsd is the caller\'s on the host');
      const f = fs.statSync(path.join(H, 'pub', 'myfifo'));
      t.same([f.uid, f.gid, f.isFIFO()], [id.uid, id.gid, true], 'a fifo created through vfsd is the caller\'s on the host');
      if (id === MEMBER) {
        t.equal(fs.statSync(path.join(H, 'grpdir', 'g')).uid, id.uid, 'a file created in the group dir (via supplementary group) is the caller\'s');
        t.equal(fs.statSync(path.join(H, 'sgid', 's')).gid, GROUP, 'setgid dir: the new file inherits the dir\'s group');
      }
      t.equal(fs.readFileSync(path.join(H, 'rootfile'), 'utf8'), 'root data\n', 'the root file is unchanged on the host');
      t.equal(fs.statSync(path.join(H, 'rootfile')).uid, 0, 'and still root\'s');
    });
  }

  t.test('the daemon\'s root never leaks: a caller cannot read through vfsd what it cannot read natively', async (t) => {
    seed(path.join(v.src, 'last'));
    const r = runAs(NOBODY, (p: string) => require('node:fs').readFileSync(p, 'utf8'), path.join(v.mnt, 'last', 'secret'));
    t.same(r, { error: 'EACCES' }, 'reading a root-only file through the mount: EACCES');
  });
});
