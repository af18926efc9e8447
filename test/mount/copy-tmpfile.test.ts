// COPY_FILE_RANGE and TMPFILE through a real vfsd mount, each act done twice: in a native
// directory and through the mount, with the same outcome (count or errno, and the bytes and
// names it leaves) expected. The request counts vfsd logs at unmount show the kernel really sent
// COPY_FILE_RANGE and TMPFILE (it falls back to read+write, or refuses O_TMPFILE, for a server
// that does not implement them), so these tests fail if the server stops serving them.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AT_FDCWD, C, sys } from '../../src/native/sys';
import { requestCounts, startVfsd, VfsdProcess } from '../helpers/vfsd-process';
import { sameOutcome, sysOutcome } from '../helpers/compare';

const root = process.geteuid?.() === 0;

/** The result of a -errno call, thrown as its code so that sameOutcome compares the codes. */
function ok(r: number, what: string): number {
  const o = sysOutcome(r);
  if (!o.ok) throw Object.assign(new Error(what), { code: o.code });
  return r;
}

/** copy_file_range(2) between two files of dir; returns the count and what dst then holds. */
function copyBetween(dir: string, src: string, dst: string, offIn: number, offOut: number, len: number,
                     dstFlags: number = C.O_RDWR): { copied: number; dst: string } {
  const fin = ok(sys.openat(AT_FDCWD, path.join(dir, src), C.O_RDONLY, 0), 'open src');
  try {
    const fout = ok(sys.openat(AT_FDCWD, path.join(dir, dst), dstFlags | C.O_CREAT, 0o644), 'open dst');
    try {
      const copied = ok(sys.copyFileRange(fin, offIn, fout, offOut, len, 0), 'copy_file_range');
      return { copied, dst: fs.readFileSync(path.join(dir, dst), 'latin1') };
    } finally {
      sys.close(fout);
    }
  } finally {
    sys.close(fin);
  }
}

/** An O_TMPFILE file in dir with `data` written, then (optionally) linked in as `name`. */
function tmpfile(dir: string, data: string, name: string | null, extraFlags = 0): Record<string, unknown> {
  const fd = ok(sys.openat(AT_FDCWD, dir, C.O_TMPFILE | C.O_RDWR | extraFlags, 0o640), 'open O_TMPFILE');
  try {
    const b = Buffer.from(data);
    ok(sys.pwrite(fd, b, b.length, 0), 'pwrite');
    const st = fs.fstatSync(fd);
    const before = { nlink: st.nlink, size: st.size, mode: (st.mode & 0o7777).toString(8), listed: fs.readdirSync(dir).sort() };
    if (name === null) return before;
    ok(sys.linkat(AT_FDCWD, `/proc/self/fd/${fd}`, AT_FDCWD, path.join(dir, name), C.AT_SYMLINK_FOLLOW), 'linkat');
    const named = fs.statSync(path.join(dir, name));
    return { before, content: fs.readFileSync(path.join(dir, name), 'utf8'), nlink: named.nlink, listed: fs.readdirSync(dir).sort() };
  } finally {
    sys.close(fd);
  }
}

for (const mode of [[], ['--no-passthrough']]) {
  const label = mode.join(' ') || 'passthrough';
  t.test(`COPY_FILE_RANGE and TMPFILE through vfsd (${label}) behave as native`, { skip: !root && 'needs root' }, async (t) => {
    let v: VfsdProcess;
    let N: string, M: string;
    const fill = (r: string) => {
      fs.writeFileSync(path.join(r, 'src'), 'abcdefghijklmnopqrstuvwxyz');
      fs.writeFileSync(path.join(r, 'dst'), '0123456789');
      fs.mkdirSync(path.join(r, 'tmp'));
    };
    t.before(async () => {
      v = await startVfsd(t, { args: mode, prepare: (src) => { fs.mkdirSync(path.join(src, 'native')); fs.mkdirSync(path.join(src, 'm')); } });
      N = path.join(v.src, 'native');
      M = path.join(v.mnt, 'm');
      fill(N);
      fill(M);
    });

    t.test('copy_file_range', async (t) => {
      sameOutcome(t, N, M, 'whole file into a new one (length past EOF)', (r) => copyBetween(r, 'src', 'new', 0, 0, 1000));
      sameOutcome(t, N, M, 'a middle range over the middle of another file', (r) => copyBetween(r, 'src', 'dst', 3, 4, 5));
      sameOutcome(t, N, M, 'to an offset past the end of the destination (a hole)', (r) => copyBetween(r, 'src', 'dst', 0, 20, 3));
      sameOutcome(t, N, M, 'from past the end of the source: 0 bytes', (r) => copyBetween(r, 'src', 'dst', 100, 0, 10));
      sameOutcome(t, N, M, 'into a destination opened read-only', (r) => copyBetween(r, 'src', 'dst', 0, 0, 4, C.O_RDONLY));
      t.equal(fs.readFileSync(path.join(v.src, 'm', 'dst'), 'latin1'), fs.readFileSync(path.join(N, 'dst'), 'latin1'),
        'the host file under the export holds the same bytes as the native one');
    });

    t.test('O_TMPFILE, then linkat into the tree', async (t) => {
      sameOutcome(t, N, M, 'unnamed file: written, nlink 0, not listed', (r) => tmpfile(path.join(r, 'tmp'), 'unnamed', null));
      sameOutcome(t, N, M, 'linked in by name: content, nlink 1, listed', (r) => tmpfile(path.join(r, 'tmp'), 'kept', 'named'));
      sameOutcome(t, N, M, 'O_EXCL: may not be linked', (r) => tmpfile(path.join(r, 'tmp'), 'x', 'excl', C.O_EXCL));
      sameOutcome(t, N, M, 'on a file, not a directory', (r) => tmpfile(path.join(r, 'src'), 'x', null));
      t.equal(fs.readFileSync(path.join(v.src, 'm', 'tmp', 'named'), 'utf8'), 'kept', 'the linked file is on the host');
    });

    t.test('the kernel sent the requests to vfsd (counts logged at unmount)', async (t) => {
      t.equal(await v.stop(), 0, 'vfsd exits 0 on SIGTERM');
      const counts = requestCounts(v.log());
      // The VFS answers the read-only destination (EBADF) and the source offset past EOF (0)
      // itself; the three other copies must reach the server.
      const copies = (counts.COPY_FILE_RANGE ?? 0) + (counts.COPY_FILE_RANGE_64 ?? 0);
      t.ok(copies >= 3, `COPY_FILE_RANGE reached vfsd (${copies} times)`);
      t.ok((counts.TMPFILE ?? 0) >= 3, `TMPFILE reached vfsd (${counts.TMPFILE ?? 0} times)`);
    });
  });
}
