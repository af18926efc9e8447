// Open flags and caching options that change how host files are opened, as in virtiofsd:
// O_NOATIME is stripped unless --preserve-noatime (then a read through the mount leaves the host
// file's atime alone, as a native O_NOATIME read does; the native directory is the control);
// O_DIRECT only with --allow-direct-io; --writeback opens write-only files read-write and
// without O_APPEND; --allow-mmap lets direct-I/O files be mapped shared.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startVfsd, tempBase } from '../helpers/vfsd-process';
import { mmapSharedWrite } from '../helpers/mmap-write';
import { C, sys } from '../../src/native/sys';
import { PassthroughFs } from '../../src/passthrough/passthrough-fs';
import { Credentials } from '../../src/passthrough/credentials';
import { defaultPassthroughConfig, PassthroughConfig } from '../../src/passthrough/config';
import * as fileOps from '../../src/passthrough/file-ops';
import { lookup, create as createFile } from '../../src/passthrough/entry-ops';

const root = process.geteuid?.() === 0;
const OLD = 1000000000; // 2001: older than the mtime, so relatime updates it on any read

/** Sets f's atime and mtime to OLD, reads it opened with flags, returns its atime (seconds). */
function readWith(f: string, hostPath: string, flags: number): number {
  fs.utimesSync(hostPath, OLD, OLD);
  const fd = sys.openat(-100, f, C.O_RDONLY | flags, 0);
  if (fd < 0) throw new Error(`open ${f}: errno ${-fd}`);
  const n = sys.pread(fd, Buffer.alloc(16), 16, 0);
  sys.close(fd);
  if (n !== 4) throw new Error(`read ${f}: ${n}`);
  return Math.floor(fs.statSync(hostPath).atimeMs / 1000);
}

const prepare = (src: string) => {
  fs.writeFileSync(path.join(src, 'f'), 'data');
  fs.mkdirSync(path.join(src, 'native'));
  fs.writeFileSync(path.join(src, 'native', 'f'), 'data');
};

t.test('O_NOATIME through the mount', { skip: !root && 'needs root' }, async (t) => {
  // cache=never without FUSE passthrough: every read reaches vfsd (no page cache, and no backing
  // file the kernel reads itself, opened with the client's flags).
  const keep = await startVfsd(t, { args: ['--cache', 'never', '--no-passthrough', '--preserve-noatime'], prepare });
  const nat = path.join(keep.src, 'native', 'f');
  t.not(readWith(nat, nat, 0), OLD, 'control: natively a plain read updates the atime');
  t.equal(readWith(nat, nat, C.O_NOATIME), OLD, 'control: natively an O_NOATIME read does not');

  t.equal(readWith(path.join(keep.mnt, 'f'), path.join(keep.src, 'f'), C.O_NOATIME), OLD,
    '--preserve-noatime: the host file keeps its atime');
  t.not(readWith(path.join(keep.mnt, 'f'), path.join(keep.src, 'f'), 0), OLD, 'and a plain read still updates it');
  await keep.stop();

  const strip = await startVfsd(t, { args: ['--cache', 'never', '--no-passthrough'], prepare });
  t.not(readWith(path.join(strip.mnt, 'f'), path.join(strip.src, 'f'), C.O_NOATIME), OLD,
    'default: O_NOATIME is stripped (as virtiofsd does), the host atime moves');
});

/** The host fd's open flags (fcntl F_GETFL) behind a handle vfsd opened in-process. */
function hostFlagsOf(pfs: PassthroughFs, r: { fh: number } | number | Promise<unknown>): number {
  // In-process without a worker pool, every open completes inline.
  if (typeof r === 'number' || r instanceof Promise) throw new Error(`open: ${String(r)}`);
  return sys.fcntlInt(fileOps.ioFd(pfs, r.fh), C.F_GETFL, 0);
}

t.test('host open flags: O_DIRECT with --allow-direct-io only; writeback opens O_RDWR without O_APPEND', { skip: !root && 'needs root' }, async (t) => {
  const base = tempBase('vfsd-flags-');
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  fs.writeFileSync(path.join(base, 'f'), 'data');
  const make = (extra: Partial<PassthroughConfig>) => new PassthroughFs({ ...defaultPassthroughConfig(base), ...extra }, new Credentials(false));
  const nodeOf = (pfs: PassthroughFs) => {
    const e = lookup(pfs, 1, Buffer.from('f'));
    if (typeof e === 'number' || e instanceof Promise) throw new Error(`lookup: ${e}`);
    return e.nodeid;
  };
  const plain = make({});
  t.equal(hostFlagsOf(plain, fileOps.open(plain, nodeOf(plain), C.O_RDONLY | C.O_DIRECT)) & C.O_DIRECT, 0, 'default: O_DIRECT stripped (as virtiofsd)');
  const direct = make({ allowDirectIo: true });
  t.not(hostFlagsOf(direct, fileOps.open(direct, nodeOf(direct), C.O_RDONLY | C.O_DIRECT)) & C.O_DIRECT, 0, '--allow-direct-io: the host file is O_DIRECT');
  const wb = make({});
  wb.init({ submounts: false, posixAcl: false, writeback: true, backing: null }); // FUSE_WRITEBACK_CACHE negotiated
  const fl = hostFlagsOf(wb, fileOps.open(wb, nodeOf(wb), C.O_WRONLY | C.O_APPEND));
  t.equal(fl & C.O_ACCMODE, C.O_RDWR, 'writeback: a write-only open is read-write on the host (the kernel fills pages by READ)');
  t.equal(fl & C.O_APPEND, 0, 'writeback: no O_APPEND on the host (the kernel appends at the size it caches)');
  const created = createFile(wb, 1, Buffer.from('new'), C.O_WRONLY | C.O_APPEND, 0o644);
  if (typeof created === 'number' || created instanceof Promise) throw new Error(`create: ${String(created)}`);
  t.equal(hostFlagsOf(wb, created.open) & (C.O_ACCMODE | C.O_APPEND), C.O_RDWR, 'the same for CREATE');
  t.equal(hostFlagsOf(plain, fileOps.open(plain, nodeOf(plain), C.O_WRONLY | C.O_APPEND)) & (C.O_ACCMODE | C.O_APPEND), C.O_WRONLY | C.O_APPEND, 'without writeback: as the client asked');
});

t.test('--writeback through a mount: appends and partial writes to write-only files stay right', { skip: !root && 'needs root' }, async (t) => {
  const v = await startVfsd(t, { args: ['--writeback'], prepare });
  const f = path.join(v.mnt, 'log');
  for (const line of ['one\n', 'two\n', 'three\n']) fs.appendFileSync(f, line);
  const wo = fs.openSync(path.join(v.mnt, 'f'), fs.constants.O_WRONLY);
  fs.writeSync(wo, 'X', 1);
  fs.closeSync(wo);
  await v.stop();
  t.equal(fs.readFileSync(path.join(v.src, 'f'), 'utf8'), 'dXta', 'a one-byte write into a write-only file keeps the rest of the page');
  // The kernel writes back whole cached pages at their offsets: with O_APPEND on the host file
  // each of those writes would land at the end again, repeating the lines.
  t.equal(fs.readFileSync(path.join(v.src, 'log'), 'utf8'), 'one\ntwo\nthree\n', 'appends land once, in order');
});

t.test('--allow-mmap: shared mmap of a direct-I/O file (cache=never)', { skip: !root && 'needs root' }, async (t) => {
  const mmapShared = (file: string) => mmapSharedWrite(file, 'M');
  // Without FUSE passthrough (with it a file maps the host file's pages: passthrough-cache-never).
  const off = await startVfsd(t, { args: ['--cache', 'never', '--no-passthrough'], prepare });
  t.equal(mmapShared(path.join(off.mnt, 'f')), 'errno 19', 'without it: ENODEV, as the kernel answers for direct-I/O files');
  await off.stop();
  const on = await startVfsd(t, { args: ['--cache', 'never', '--no-passthrough', '--allow-mmap'], prepare });
  t.equal(mmapShared(path.join(on.mnt, 'f')), 'ok', 'with it: mapped');
  t.equal(fs.readFileSync(path.join(on.src, 'f'), 'utf8'), 'Mata', 'the write through the mapping reached the host');
});
