// Basic operations through a real vfsd mount, each done twice: in a native directory and through
// the mount, with the same outcome (value or errno) expected; and every object made through the
// mount must look on the host exactly as it looks through the mount (stat fields, contents).
// Run as root; unprivileged callers are in credentials.test.ts.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AT_FDCWD, C, sys } from '../../src/native/sys';
import { startVfsd, VfsdProcess } from '../helpers/vfsd-process';
import { sameAsHost, sameOutcome, shapeView, statView, errnoName, jsonable, Asserts } from '../helpers/compare';

const root = process.geteuid?.() === 0;

/** The same layout in the native dir and the mount dir. */
function seed(r: string): void {
  fs.mkdirSync(r, { recursive: true });
  fs.writeFileSync(path.join(r, 'file'), 'file contents\n');
  fs.mkdirSync(path.join(r, 'full'));
  fs.writeFileSync(path.join(r, 'full', 'x'), 'x');
  fs.mkdirSync(path.join(r, 'empty'));
}

function basicSuite(t: Test, args: string[]): void {
  let v: VfsdProcess;
  let N: string; // native
  let M: string; // through the mount
  let H: string; // what the mount dir is on the host

  t.before(async () => {
    v = await startVfsd(t, { args, prepare: (src) => { seed(path.join(src, 'native')); seed(path.join(src, 'm')); } });
    N = path.join(v.src, 'native');
    M = path.join(v.mnt, 'm');
    H = path.join(v.src, 'm');
  });

  const both = <T>(t: Asserts, what: string, fn: (r: string) => T, norm?: (v: T) => unknown) => sameOutcome(t, N, M, what, fn, norm);
  const host = (t: Asserts, rel: string, what = rel) => sameAsHost(t, path.join(M, rel), path.join(H, rel), what);
  const shape = (t: Asserts, rel: string) =>
    t.same(jsonable(shapeView(path.join(M, rel))), jsonable(shapeView(path.join(N, rel))), `${rel}: made through vfsd it has the native twin's mode/nlink/owner/size/blocks`);

  t.test('create, write, read', async (t) => {
    both(t, 'write a new file', (r) => fs.writeFileSync(path.join(r, 'new'), 'hello world\n'));
    both(t, 'read it back', (r) => fs.readFileSync(path.join(r, 'new'), 'utf8'));
    both(t, 'append', (r) => fs.appendFileSync(path.join(r, 'new'), 'more\n'));
    both(t, 'pread in the middle', (r) => {
      const fd = fs.openSync(path.join(r, 'new'), 'r');
      try {
        const b = Buffer.alloc(5);
        return b.subarray(0, fs.readSync(fd, b, 0, 5, 6)).toString();
      } finally { fs.closeSync(fd); }
    });
    both(t, 'O_EXCL create of an existing file', (r) => fs.writeFileSync(path.join(r, 'new'), 'x', { flag: 'wx' }));
    both(t, 'open a missing file', (r) => fs.readFileSync(path.join(r, 'missing')));
    both(t, 'read a directory as a file', (r) => fs.readFileSync(path.join(r, 'full')));
    both(t, 'open a directory for writing', (r) => fs.openSync(path.join(r, 'full'), 'w'));
    both(t, 'create below a file', (r) => fs.writeFileSync(path.join(r, 'file', 'below'), 'x'));
    both(t, 'large write and read (3 MiB)', (r) => {
      const data = Buffer.alloc(3 << 20);
      for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i, i);
      fs.writeFileSync(path.join(r, 'big'), data);
      return fs.readFileSync(path.join(r, 'big')).equals(data);
    });
    host(t, 'new');
    host(t, 'big');
    shape(t, 'new');
    shape(t, 'big');
  });

  t.test('mkdir and rmdir', async (t) => {
    both(t, 'mkdir', (r) => fs.mkdirSync(path.join(r, 'd1'), 0o750));
    both(t, 'mkdir again: EEXIST', (r) => fs.mkdirSync(path.join(r, 'd1')));
    both(t, 'mkdir over a file: EEXIST', (r) => fs.mkdirSync(path.join(r, 'file')));
    both(t, 'mkdir below a file: ENOTDIR', (r) => fs.mkdirSync(path.join(r, 'file', 'sub')));
    both(t, 'mkdir in a missing dir: ENOENT', (r) => fs.mkdirSync(path.join(r, 'nope', 'sub')));
    host(t, 'd1');
    shape(t, 'd1');
    both(t, 'rmdir a non-empty dir: ENOTEMPTY', (r) => fs.rmdirSync(path.join(r, 'full')));
    both(t, 'rmdir a file: ENOTDIR', (r) => fs.rmdirSync(path.join(r, 'file')));
    both(t, 'rmdir a missing dir: ENOENT', (r) => fs.rmdirSync(path.join(r, 'nope')));
    both(t, 'rmdir', (r) => fs.rmdirSync(path.join(r, 'd1')));
    t.notOk(fs.existsSync(path.join(H, 'd1')), 'the directory is gone on the host');
    host(t, 'full', 'parent dir after the changes');
    host(t, '.', 'the test dir itself (nlink counts subdirs)');
  });

  t.test('unlink', async (t) => {
    both(t, 'make a file', (r) => fs.writeFileSync(path.join(r, 'u'), 'u'));
    both(t, 'unlink', (r) => fs.unlinkSync(path.join(r, 'u')));
    both(t, 'unlink again: ENOENT', (r) => fs.unlinkSync(path.join(r, 'u')));
    both(t, 'unlink a directory: EISDIR', (r) => fs.unlinkSync(path.join(r, 'empty')));
    both(t, 'unlink below a file: ENOTDIR', (r) => fs.unlinkSync(path.join(r, 'file', 'x')));
    t.notOk(fs.existsSync(path.join(H, 'u')), 'gone on the host');
    t.notOk(fs.existsSync(path.join(M, 'u')), 'gone through the mount');
  });

  t.test('rename, RENAME_NOREPLACE, RENAME_EXCHANGE', async (t) => {
    both(t, 'setup', (r) => {
      fs.writeFileSync(path.join(r, 'r1'), 'one');
      fs.writeFileSync(path.join(r, 'r2'), 'two');
      fs.mkdirSync(path.join(r, 'rd'));
    });
    both(t, 'rename to a new name', (r) => fs.renameSync(path.join(r, 'r1'), path.join(r, 'r3')));
    both(t, 'rename over an existing file', (r) => fs.renameSync(path.join(r, 'r3'), path.join(r, 'r2')));
    both(t, 'the target has the moved contents', (r) => fs.readFileSync(path.join(r, 'r2'), 'utf8'));
    both(t, 'rename a missing file: ENOENT', (r) => fs.renameSync(path.join(r, 'r1'), path.join(r, 'r4')));
    both(t, 'rename a dir over a non-empty dir: ENOTEMPTY', (r) => fs.renameSync(path.join(r, 'rd'), path.join(r, 'full')));
    both(t, 'rename a file over a dir: EISDIR', (r) => fs.renameSync(path.join(r, 'r2'), path.join(r, 'rd')));
    both(t, 'rename a dir over a file: ENOTDIR', (r) => fs.renameSync(path.join(r, 'rd'), path.join(r, 'r2')));
    both(t, 'rename into a subdir', (r) => fs.renameSync(path.join(r, 'r2'), path.join(r, 'rd', 'moved')));
    both(t, 'rename a dir into itself: EINVAL', (r) => fs.renameSync(path.join(r, 'rd'), path.join(r, 'rd', 'inner')));
    host(t, 'rd/moved');

    both(t, 'setup for renameat2', (r) => {
      fs.writeFileSync(path.join(r, 'a'), 'AAA');
      fs.mkdirSync(path.join(r, 'b'));
      fs.writeFileSync(path.join(r, 'b', 'inside'), 'in b');
    });
    const r2 = (r: string, a: string, b: string, flags: number) => {
      const e = sys.renameat2(AT_FDCWD, path.join(r, a), AT_FDCWD, path.join(r, b), flags);
      if (e < 0) throw Object.assign(new Error('renameat2'), { code: errnoName(-e) });
    };
    both(t, 'RENAME_NOREPLACE onto an existing name: EEXIST', (r) => r2(r, 'a', 'file', C.RENAME_NOREPLACE));
    both(t, 'RENAME_NOREPLACE onto a free name', (r) => r2(r, 'a', 'a2', C.RENAME_NOREPLACE));
    both(t, 'RENAME_EXCHANGE of a file and a directory', (r) => r2(r, 'a2', 'b', C.RENAME_EXCHANGE));
    both(t, 'after the exchange: b is the file', (r) => fs.readFileSync(path.join(r, 'b'), 'utf8'));
    both(t, 'after the exchange: a2 is the dir', (r) => fs.readdirSync(path.join(r, 'a2')));
    both(t, 'RENAME_EXCHANGE with a missing name: ENOENT', (r) => r2(r, 'b', 'nothing', C.RENAME_EXCHANGE));
    both(t, 'RENAME_NOREPLACE|RENAME_EXCHANGE together: EINVAL', (r) => r2(r, 'b', 'a2', C.RENAME_NOREPLACE | C.RENAME_EXCHANGE));
    host(t, 'b');
    host(t, 'a2/inside');
  });

  t.test('symlink and readlink', async (t) => {
    both(t, 'symlink to a missing target', (r) => fs.symlinkSync('no/such/target', path.join(r, 'dangling')));
    both(t, 'symlink pointing out of the export', (r) => fs.symlinkSync('/etc/hostname', path.join(r, 'outside')));
    both(t, 'symlink to a file in the dir', (r) => fs.symlinkSync('file', path.join(r, 'tofile')));
    both(t, 'symlink over an existing name: EEXIST', (r) => fs.symlinkSync('x', path.join(r, 'file')));
    both(t, 'readlink', (r) => ['dangling', 'outside', 'tofile'].map((n) => fs.readlinkSync(path.join(r, n))));
    both(t, 'readlink of a file: EINVAL', (r) => fs.readlinkSync(path.join(r, 'file')));
    both(t, 'read through the relative symlink (client-side resolution)', (r) => fs.readFileSync(path.join(r, 'tofile'), 'utf8'));
    both(t, 'stat of the dangling symlink: ENOENT', (r) => fs.statSync(path.join(r, 'dangling')));
    // An absolute target is resolved by the client kernel in the client's namespace: here the
    // client is the same host, so /etc/hostname is the host's, read by the caller, not by vfsd.
    host(t, 'dangling');
    host(t, 'outside');
    shape(t, 'dangling');
  });

  t.test('hard links share one node', async (t) => {
    both(t, 'link', (r) => fs.linkSync(path.join(r, 'file'), path.join(r, 'hl')));
    both(t, 'link onto an existing name: EEXIST', (r) => fs.linkSync(path.join(r, 'file'), path.join(r, 'hl')));
    both(t, 'link a directory: EPERM', (r) => fs.linkSync(path.join(r, 'full'), path.join(r, 'dl')));
    const a = statView(path.join(M, 'file'));
    const b = statView(path.join(M, 'hl'));
    t.equal(a.ino, b.ino, 'both names have one st_ino through the mount');
    t.equal(a.nlink, 2, 'nlink is 2 through the mount');
    t.equal(a.ino, statView(path.join(H, 'file')).ino, 'and it is the host inode number');
    host(t, 'hl');
    // Same node, not two nodes that happen to share a number: a change made through one name is
    // seen at once through the other, although attributes are cached per node for a second.
    fs.statSync(path.join(M, 'hl'));
    fs.chmodSync(path.join(M, 'file'), 0o600);
    t.equal(fs.statSync(path.join(M, 'hl')).mode & 0o7777, 0o600, 'chmod via one name shows at once via the other');
    fs.writeFileSync(path.join(M, 'hl'), 'via the link');
    t.equal(fs.readFileSync(path.join(M, 'file'), 'utf8'), 'via the link', 'data written via one name is read via the other');
    both(t, 'unlink one name', (r) => fs.unlinkSync(path.join(r, 'hl')));
    t.equal(fs.statSync(path.join(M, 'file')).nlink, 1, 'nlink back to 1 through the mount');
    fs.chmodSync(path.join(M, 'file'), 0o644);
    fs.chmodSync(path.join(N, 'file'), 0o644);
  });

  t.test('chmod, chown, utimes, truncate', async (t) => {
    both(t, 'setup', (r) => fs.writeFileSync(path.join(r, 'attrs'), '0123456789'));
    both(t, 'chmod 0751', (r) => fs.chmodSync(path.join(r, 'attrs'), 0o751));
    both(t, 'chmod with setuid/setgid/sticky bits', (r) => fs.chmodSync(path.join(r, 'empty'), 0o3775));
    both(t, 'chown 1234:5678', (r) => fs.chownSync(path.join(r, 'attrs'), 1234, 5678));
    both(t, 'lchown of a symlink', (r) => { fs.symlinkSync('attrs', path.join(r, 'sl')); fs.lchownSync(path.join(r, 'sl'), 42, 43); });
    both(t, 'truncate shorter', (r) => fs.truncateSync(path.join(r, 'attrs'), 4));
    both(t, 'truncate longer', (r) => fs.truncateSync(path.join(r, 'attrs'), 100_000));
    both(t, 'ftruncate on an open fd', (r) => {
      const fd = fs.openSync(path.join(r, 'attrs'), 'r+');
      try { fs.ftruncateSync(fd, 7); } finally { fs.closeSync(fd); }
    });
    both(t, 'utimes to fixed times', (r) => fs.utimesSync(path.join(r, 'attrs'), 1_000_000_000, 1_234_567_890.5));
    both(t, 'truncate a directory: EISDIR', (r) => fs.truncateSync(path.join(r, 'empty'), 0));
    both(t, 'chmod a missing file: ENOENT', (r) => fs.chmodSync(path.join(r, 'missing'), 0o644));
    both(t, 'the result', (r) => {
      const s = fs.lstatSync(path.join(r, 'attrs'));
      return { mode: s.mode, uid: s.uid, gid: s.gid, size: s.size, mtimeMs: s.mtimeMs, atimeMs: s.atimeMs, link: fs.lstatSync(path.join(r, 'sl')).uid };
    });
    host(t, 'attrs');
    host(t, 'sl');
    host(t, 'empty');
    const m = statView(path.join(M, 'attrs'));
    t.equal(m.mtimeNs, 1_234_567_890_500_000_000n, 'mtime through the mount to the nanosecond');
  });

  t.test('stat fields of every kind of object equal the host', async (t) => {
    for (const rel of ['.', 'file', 'full', 'full/x', 'empty', 'big', 'tofile', 'a2', 'b']) host(t, rel);
    const statfsM = fs.statfsSync(v.mnt);
    const statfsH = fs.statfsSync(v.src);
    t.equal(statfsM.bsize, statfsH.bsize, 'statfs block size is the host filesystem\'s');
    t.equal(statfsM.blocks, statfsH.blocks, 'statfs block count is the host filesystem\'s');
  });

  t.test('the export root is the host directory', async (t) => {
    t.same(fs.readdirSync(v.mnt).sort(), fs.readdirSync(v.src).sort(), 'same names at the root');
    const m = statView(v.mnt);
    const h = statView(v.src);
    t.same(jsonable({ ...m, ino: 0 }), jsonable({ ...h, ino: 0 }), 'root attributes equal the host dir\'s');
    t.same(fs.readdirSync(path.join(v.mnt, '..')).includes('src'), true, '`..` of the mount point is the host parent (client-side)');
  });
}


for (const handles of ['never', 'prefer', 'mandatory']) {
  t.test(`basic operations, native vs vfsd (--inode-file-handles=${handles})`, { skip: !root && 'needs root' },
    async (t) => basicSuite(t, [`--inode-file-handles=${handles}`]));
}
