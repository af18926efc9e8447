// FIFOs, sockets and device nodes through vfsd: created on the host with the right type and rdev,
// and used through the mount as the CLIENT kernel's objects (it never asks the server to open
// them; vfsd refuses if asked, see hostile.test.ts).
import t from 'tap';
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AT_FDCWD, C, sys } from '../../src/native/sys';
import { mountLine, requestCounts, startVfsd, VfsdProcess } from '../helpers/vfsd-process';
import { errnoName, jsonable, sameAsHost, sameOutcome, shapeView } from '../helpers/compare';

const root = process.geteuid?.() === 0;

function mknod(p: string, mode: number, major: number, minor: number): void {
  const e = sys.mknodat(AT_FDCWD, p, mode, major, minor);
  if (e < 0) throw Object.assign(new Error(`mknod ${p}`), { code: errnoName(-e) });
}

t.test('fifos and device nodes', { skip: !root && 'needs root' }, async (t) => {
  let v: VfsdProcess;
  let N: string, M: string, H: string;
  t.before(async () => {
    v = await startVfsd(t, { prepare: (src) => { fs.mkdirSync(path.join(src, 'native')); fs.mkdirSync(path.join(src, 'm')); } });
    N = path.join(v.src, 'native');
    M = path.join(v.mnt, 'm');
    H = path.join(v.src, 'm');
  });

  t.test('mkfifo through the mount makes a fifo on the host; a reader and a writer meet in it', async (t) => {
    sameOutcome(t, N, M, 'mkfifo', (r) => execFileSync('mkfifo', ['-m', '0640', path.join(r, 'fifo')]).length);
    t.ok(fs.lstatSync(path.join(H, 'fifo')).isFIFO(), 'the host has a fifo');
    t.same(jsonable(shapeView(path.join(M, 'fifo'))), jsonable(shapeView(path.join(N, 'fifo'))), 'same type/mode/owner as the native fifo');
    sameAsHost(t, path.join(M, 'fifo'), path.join(H, 'fifo'), 'fifo');

    // The writer is another process; this one blocks in open()/read() until it writes and exits.
    const fifo = path.join(M, 'fifo');
    const writer = spawn('sh', ['-c', `printf 'through the fifo' > '${fifo}'`], { stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => writer.on('exit', r));
    const got = fs.readFileSync(fifo, 'utf8');
    t.equal(got, 'through the fifo', 'the reader got what the writer wrote, through the mount');
    t.equal(await exited, 0, 'the writer finished');
    // Note: the fifo seen through the mount is the client kernel's own pipe (FUSE attaches pipes
    // to its own inode), not the host inode's: a writer on the host path would not meet a reader
    // on the mount path, exactly as with NFS or virtio-fs.
  });

  t.test('a unix socket node', async (t) => {
    sameOutcome(t, N, M, 'mknod S_IFSOCK', (r) => mknod(path.join(r, 'sock'), C.S_IFSOCK | 0o600, 0, 0));
    t.ok(fs.lstatSync(path.join(H, 'sock')).isSocket(), 'the host has a socket node');
    sameAsHost(t, path.join(M, 'sock'), path.join(H, 'sock'), 'socket node');
  });

  t.test('mknod of a character device (1:3, like /dev/null) and a block device', async (t) => {
    sameOutcome(t, N, M, 'mknod c 1 3', (r) => mknod(path.join(r, 'null'), C.S_IFCHR | 0o666, 1, 3));
    sameOutcome(t, N, M, 'mknod c 1 5 (zero)', (r) => mknod(path.join(r, 'zero'), C.S_IFCHR | 0o666, 1, 5));
    sameOutcome(t, N, M, 'mknod b 7 200 (a loop device number)', (r) => mknod(path.join(r, 'blk'), C.S_IFBLK | 0o600, 7, 200));
    sameOutcome(t, N, M, 'mknod over an existing name: EEXIST', (r) => mknod(path.join(r, 'null'), C.S_IFCHR | 0o666, 1, 3));
    const h = fs.lstatSync(path.join(H, 'null'));
    t.ok(h.isCharacterDevice(), 'the host has a character device');
    t.equal(h.rdev, (1 << 8) | 3, 'with rdev 1:3 on the host');
    t.equal(fs.lstatSync(path.join(M, 'null')).rdev, (1 << 8) | 3, 'and 1:3 through the mount');
    t.equal(fs.lstatSync(path.join(H, 'blk')).rdev, (7 << 8) | 200, 'the block device is 7:200 on the host');
    t.ok(fs.lstatSync(path.join(M, 'blk')).isBlockDevice(), 'and a block device through the mount');
    for (const n of ['null', 'zero', 'blk']) sameAsHost(t, path.join(M, n), path.join(H, n), n);
    const big = sameOutcome(t, N, M, 'mknod with a big major:minor (259:1048575)', (r) => {
      mknod(path.join(r, 'bigdev'), C.S_IFCHR | 0o600, 259, 1048575);
      return fs.lstatSync(path.join(r, 'bigdev')).rdev;
    });
    t.ok(big.native.ok, 'natively the big device number works (the test can see a mismatch)');
  });

  t.test('a device node through the mount is the client kernel\'s device', async (t) => {
    // vfsd mounts nodev (as FUSE mounts are): opening a device node there is refused by the client
    // kernel before any request reaches vfsd.
    t.match(mountLine(v.mnt) ?? '', / \S*nodev\S* /, 'the mount is nodev');
    t.throws(() => fs.openSync(path.join(M, 'null'), 'w'), { code: 'EACCES' }, 'so opening the device node gives EACCES');
    // Lift nodev on our mount point (a per-mount flag): now the client kernel opens its own 1:3.
    execFileSync('mount', ['-o', 'remount,bind,dev', v.mnt]);
    t.notMatch(mountLine(v.mnt) ?? '', / \S*nodev\S* - /, 'nodev lifted');
    const fd = fs.openSync(path.join(M, 'null'), 'r+');
    t.equal(fs.writeSync(fd, 'swallowed'), 9, 'writing to 1:3 through the mount succeeds');
    t.equal(fs.readSync(fd, Buffer.alloc(16), 0, 16, null), 0, 'and reading gives EOF: it is /dev/null');
    fs.closeSync(fd);
    const z = fs.openSync(path.join(M, 'zero'), 'r');
    const buf = Buffer.alloc(32, 0xff);
    t.equal(fs.readSync(z, buf, 0, 32, null), 32, 'reading 1:5 through the mount gives bytes');
    t.ok(buf.every((b) => b === 0), '... zeros: it is /dev/zero');
    fs.closeSync(z);
    t.equal(fs.lstatSync(path.join(H, 'null')).size, 0, 'the host node is untouched (no data went to the export)');
  });

  t.test('vfsd was never asked to open a special file', async (t) => {
    await v.stop();
    const counts = requestCounts(v.log());
    // OPENs seen: none of our special-file opens above reached vfsd (only regular files open).
    t.notOk(counts.OPEN, `no OPEN reached vfsd (${counts.OPEN ?? 0})`);
  });
});
