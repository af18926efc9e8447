// The permission matrix: every caller (root, the owner, a group member, anyone else) tries every
// act (read, write, append, O_TRUNC, exec, directory search, FIFO and device open, chmod, chown,
// utimes, truncate, link, rename, unlink, setuid/setgid clearing on write and truncate) in a
// native directory and through a vfsd mount (--allow-other), in every cache mode and every inode
// mode, with and without FUSE passthrough and HANDLE_KILLPRIV_V2; each answer, and the tree each
// leaves behind, must be the native one.
//
// Before the callers act, root walks the whole mount: with the kernel's dentries and attributes
// cached, a path walk never reaches vfsd, so only the kernel (default_permissions) can refuse
// search permission in a 0700 directory or the open of a FIFO (issue 11, item 2).
//
// Native and export directories are siblings on one tmpfs mounted nosuid,nodev, as the vfsd
// mount is: both then refuse device opens and setuid execution alike. Each caller's acts run in
// ONE child process (both roots, same order), to keep the run short.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { C, sys } from '../../src/native/sys';
import { sessionInit, startVfsd } from '../helpers/vfsd-process';
import { scratchTmpfs, twins } from '../helpers/native-twins';
import { runAs, Identity, jsonable } from '../helpers/compare';

const root = process.geteuid?.() === 0;
const OWNER = 1000;
const CALLERS: Array<[string, Identity]> = [
  ['root', { uid: 0, gid: 0 }],
  ['owner', { uid: OWNER, gid: OWNER }],
  ['member', { uid: 1001, gid: 1001, groups: [OWNER] }],
  ['other', { uid: 65534, gid: 65534 }],
];

/** [name, vfsd arguments]: every cache mode x inode mode, then passthrough and killpriv variants. */
const CONFIGS: Array<[string, string[]]> = [];
// --xattr everywhere (POSIX ACLs are honoured only with it), but once without.
for (const cache of ['auto', 'always', 'metadata', 'never']) {
  for (const inodes of ['auto', 'never', 'prefer', 'mandatory']) {
    CONFIGS.push([`cache=${cache} inodes=${inodes}`, ['--xattr', '--cache', cache, '--inode-file-handles', inodes]]);
  }
}
CONFIGS.push(['no passthrough', ['--xattr', '--no-passthrough']]);
CONFIGS.push(['cache=never, no passthrough (direct I/O through vfsd)', ['--xattr', '--cache', 'never', '--no-passthrough']]);
CONFIGS.push(['killpriv-v2', ['--xattr', '--killpriv-v2']]);
CONFIGS.push(['killpriv-v2, no passthrough', ['--xattr', '--killpriv-v2', '--no-passthrough']]);
// Without --xattr the kernel checks mode bits only: the ACL file's answers differ (documented).
CONFIGS.push(['no --xattr (ACL file left out)', []]);

const SCRIPT = '#!/bin/sh\necho ran\n';

/** The layout each caller acts on (owned by OWNER unless said otherwise). */
function seed(r: string): void {
  const own = (p: string, mode: number, uid = OWNER, gid = OWNER) => {
    fs.chownSync(p, uid, gid);
    fs.chmodSync(p, mode);
  };
  const file = (n: string, mode: number, data = `${n}\n`) => {
    fs.writeFileSync(path.join(r, n), data);
    own(path.join(r, n), mode);
  };
  const dir = (n: string, mode: number, uid = OWNER) => {
    fs.mkdirSync(path.join(r, n));
    own(path.join(r, n), mode, uid, uid === 0 ? 0 : OWNER);
  };
  const node = (n: string, type: number, mode: number, major = 0, minor = 0) => {
    if (sys.mknodat(-100, path.join(r, n), type | mode, major, minor) < 0) throw new Error(`mknod ${n}`);
    own(path.join(r, n), mode);
  };
  fs.mkdirSync(r, 0o755);
  for (const m of [0o600, 0o640, 0o604, 0o666, 0o644]) file(`f${m.toString(8)}`, m);
  for (const m of [0o755, 0o700, 0o644, 0o711]) file(`x${m.toString(8)}`, m, SCRIPT);
  dir('priv', 0o700, 0);
  fs.writeFileSync(path.join(r, 'priv/f'), 'secret\n', { mode: 0o644 });
  dir('gdir', 0o750);
  file('gdir/f', 0o644);
  dir('wdir', 0o777, 0);
  file('wdir/r1', 0o644);
  file('wdir/l', 0o644);
  dir('sticky', 0o1777, 0);
  file('sticky/u1', 0o644);
  file('sticky/u2', 0o644);
  dir('dir755', 0o755);
  file('dir755/f644', 0o644);
  file('dir755/r', 0o644);
  file('suid', 0o4777);
  file('sgid', 0o2777);
  file('sgidnox', 0o2666);
  file('suidt', 0o4777);
  file('suido', 0o4666);
  file('gsuid', 0o6770);
  node('fifo600', C.S_IFIFO, 0o600);
  node('fifo666', C.S_IFIFO, 0o666);
  node('null600', C.S_IFCHR, 0o600, 1, 3);
  node('null666', C.S_IFCHR, 0o666, 1, 3);
  // An ACL granting "other" uid 65534 more than the mode shows to others.
  file('acl600', 0o600);
  execFileSync('setfacl', ['-m', 'u:65534:rw-', path.join(r, 'acl600')]);
}

/**
 * Every act, in both roots, in the caller's child process. Self-contained (runAs serialises it).
 * Each act's answer: its value, 'ok', or the error code.
 */
function acts(roots: string[]): Record<string, unknown>[] {
  const fs = require('node:fs') as typeof import('node:fs');
  const cp = require('node:child_process') as typeof import('node:child_process');
  return roots.map((r) => {
    const p = (n: string) => r + '/' + n;
    const out: Record<string, unknown> = {};
    const step = (name: string, fn: () => unknown) => {
      try {
        const v = fn();
        out[name] = v === undefined ? 'ok' : v;
      } catch (e) {
        out[name] = (e as NodeJS.ErrnoException).code ?? String(e);
      }
    };
    const writeAt = (n: string, flags: string | number, data: string) => {
      const fd = fs.openSync(p(n), flags);
      try { fs.writeSync(fd, data, 0); } finally { fs.closeSync(fd); }
    };
    const openClose = (n: string, flags: number) => fs.closeSync(fs.openSync(p(n), flags));
    const mode = (n: string) => (fs.statSync(p(n)).mode & 0o7777).toString(8);
    const run = (cmd: string, args: string[]) => {
      const x = cp.spawnSync(cmd, args, { encoding: 'utf8' });
      return { status: x.status, stdout: x.stdout, error: (x.error as NodeJS.ErrnoException | undefined)?.code };
    };
    const { O_RDONLY, O_WRONLY, O_NONBLOCK } = fs.constants;

    for (const n of ['f600', 'f640', 'f604', 'f666', 'priv/f', 'gdir/f', 'acl600']) step(`read ${n}`, () => fs.readFileSync(p(n), 'utf8'));
    for (const n of ['priv', 'gdir', 'dir755']) step(`list ${n}`, () => fs.readdirSync(p(n)).sort());
    for (const n of ['priv/f', 'gdir/f']) step(`stat ${n}`, () => mode(n));
    for (const n of ['f600', 'f640', 'f666', 'acl600']) step(`write ${n}`, () => writeAt(n, 'r+', 'W'));
    for (const n of ['f644', 'f666']) step(`append ${n}`, () => fs.appendFileSync(p(n), 'a'));
    for (const n of ['f644', 'f666']) step(`O_TRUNC ${n}`, () => writeAt(n, 'w', 'T'));
    for (const n of ['x755', 'x700', 'x644', 'x711']) step(`exec ${n}`, () => run(p(n), []));
    step('open fifo600 for reading', () => openClose('fifo600', O_RDONLY | O_NONBLOCK));
    step('open fifo666 for reading', () => openClose('fifo666', O_RDONLY | O_NONBLOCK));
    step('open fifo666 for writing', () => openClose('fifo666', O_WRONLY | O_NONBLOCK));
    step('open null600', () => openClose('null600', O_RDONLY));
    step('open null666', () => openClose('null666', O_RDONLY));
    step('chmod f644', () => fs.chmodSync(p('f644'), 0o664));
    step('chown f640 to group 1000', () => fs.chownSync(p('f640'), -1, 1000));
    step('chown f640 to uid 65534', () => fs.chownSync(p('f640'), 65534, -1));
    step('utimes f666', () => fs.utimesSync(p('f666'), 1000, 2000));
    step('touch f666 (now)', () => run('touch', [p('f666')]).status);
    step('touch f644 (now)', () => run('touch', [p('f644')]).status);
    step('truncate f666', () => fs.truncateSync(p('f666'), 1));
    step('truncate f644', () => fs.truncateSync(p('f644'), 0));
    step('link f666 into wdir', () => fs.linkSync(p('f666'), p('wdir/ln666')));
    step('link f600 into wdir', () => fs.linkSync(p('f600'), p('wdir/ln600')));
    step('link f666 into dir755', () => fs.linkSync(p('f666'), p('dir755/ln')));
    step('rename in wdir', () => fs.renameSync(p('wdir/r1'), p('wdir/r1b')));
    step('rename in sticky', () => fs.renameSync(p('sticky/u1'), p('sticky/u1b')));
    step('rename in dir755', () => fs.renameSync(p('dir755/r'), p('dir755/rb')));
    step('unlink in wdir', () => fs.unlinkSync(p('wdir/l')));
    step('unlink in sticky', () => fs.unlinkSync(p('sticky/u2')));
    step('unlink in dir755', () => fs.unlinkSync(p('dir755/f644')));
    for (const n of ['suid', 'sgid', 'sgidnox', 'gsuid']) {
      step(`write ${n}`, () => writeAt(n, 'r+', 'w'));
      step(`mode of ${n} after the write`, () => mode(n));
    }
    step('truncate suidt', () => fs.truncateSync(p('suidt'), 1));
    step('mode of suidt after truncate', () => mode('suidt'));
    step('O_TRUNC suido', () => writeAt('suido', 'w', 'o'));
    step('mode of suido after O_TRUNC', () => mode('suido'));
    return out;
  });
}

/** Every object below r: type and mode, owner, size, link count and (small files) contents. */
function snapshot(r: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const walk = (rel: string) => {
    for (const n of fs.readdirSync(path.join(r, rel)).sort()) {
      const q = rel ? `${rel}/${n}` : n;
      const st = fs.lstatSync(path.join(r, q));
      out[q] = [st.mode.toString(8), st.uid, st.gid, st.nlink, st.isDirectory() ? 0 : st.size,
        st.isFile() ? fs.readFileSync(path.join(r, q), 'utf8') : null];
      if (st.isDirectory()) walk(q);
    }
  };
  walk('');
  return out;
}

/** Root walks the mount: every name looked up, every file read (dentries and pages cached). */
function warm(dir: string): void {
  for (const n of fs.readdirSync(dir)) {
    const p = path.join(dir, n);
    const st = fs.lstatSync(p);
    if (st.isDirectory()) warm(p);
    else if (st.isFile()) fs.readFileSync(p);
  }
}

t.test('permission matrix: every caller, cache mode and inode mode answers as the host', { skip: !root && 'needs root' }, async (t) => {
  // One tmpfs, nosuid,nodev like the vfsd mount, holds the export and the native twins.
  const scratch = scratchTmpfs(t, 'vfsd-perm-', C.MS_NOSUID | C.MS_NODEV);
  const checked = new Set<string>();

  for (const [name, args] of CONFIGS) {
    t.test(name, async (t) => {
      const { src, native } = twins(scratch, name, CALLERS.map(([who]) => who), seed);
      const acls = args.includes('--xattr');
      const v = await startVfsd(t, { sharedDir: src, args: ['--allow-other', ...args] });
      warm(v.mnt);
      for (const [who, id] of CALLERS) {
        const [n, m] = runAs(id, acts, [path.join(native, who), path.join(v.mnt, who)]) as Record<string, unknown>[];
        for (const act of Object.keys(n)) {
          if (!acls && act.includes('acl600')) continue;
          t.same(jsonable(m[act]), jsonable(n[act]), `${who}: ${act}: ${JSON.stringify(n[act])} natively, ${JSON.stringify(m[act])} through vfsd`);
          checked.add(`${who}: ${act} = ${JSON.stringify(n[act])}`);
        }
        const view = (r: string) => {
          const all = snapshot(r);
          if (!acls) delete all.acl600;
          return all;
        };
        const want = view(path.join(native, who));
        t.same(view(path.join(v.mnt, who)), want, `${who}: the tree through the mount is the native one after the acts`);
        t.same(view(path.join(src, who)), want, `${who}: the export on the host is the native one after the acts`);
      }
      await v.stop();
      // What the configuration was meant to exercise was really negotiated.
      const init = sessionInit(v.log());
      t.equal(init.killprivV2, args.includes('--killpriv-v2'), `HANDLE_KILLPRIV_V2 ${args.includes('--killpriv-v2') ? 'on' : 'off'}`);
      t.equal(init.posixAcl, acls, `POSIX ACLs ${acls ? '' : 'not '}negotiated`);
      const pt = !args.includes('--no-passthrough');
      t.equal(init.passthrough, pt, `FUSE passthrough ${pt ? 'on' : 'off'}`);
    });
  }

  // The matrix must have exercised both sides of each rule (a matrix that cannot fail is a defect).
  t.test('the native answers cover refusals and successes', async (t) => {
    for (const want of [
      'other: read priv/f = "EACCES"', 'root: read priv/f = "secret\\n"', 'member: read f640 = "f640\\n"',
      'other: read f604 = "f604\\n"', 'member: read f604 = "EACCES"', 'other: read acl600 = "acl600\\n"',
      'other: open fifo600 for reading = "EACCES"', 'other: open fifo666 for reading = "ok"',
      'other: open null666 = "EACCES"', 'member: exec x700 = {"status":null,"stdout":null,"error":"EACCES"}',
      'other: write suid = "ok"', 'other: mode of suid after the write = "777"', 'member: mode of gsuid after the write = "770"',
      'root: mode of suid after the write = "4777"', 'member: mode of sgidnox after the write = "2666"',
      'other: mode of sgidnox after the write = "666"',
      'other: mode of suidt after truncate = "777"', 'other: unlink in sticky = "EPERM"', 'owner: chmod f644 = "ok"',
      'member: chown f640 to group 1000 = "EPERM"', 'owner: chown f640 to group 1000 = "ok"',
    ]) t.ok(checked.has(want), want);
  });
});
