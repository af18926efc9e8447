// Open-file semantics through a vfsd mount compared with the native directory: reading a file
// after its name is gone, renaming over an open file, sparse files (SEEK_DATA/SEEK_HOLE, hole
// punching) and fsync/fdatasync.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { C, sys } from '../../src/native/sys';
import { requestCounts, startVfsd, VfsdProcess } from '../helpers/vfsd-process';
import { errnoName, sameOutcome } from '../helpers/compare';

const root = process.geteuid?.() === 0;
const FALLOC_FL_KEEP_SIZE = 1;
const FALLOC_FL_PUNCH_HOLE = 2;
const MiB = 1 << 20;

t.test('open files through vfsd behave as native ones', { skip: !root && 'needs root' }, async (t) => {
  let v: VfsdProcess;
  let N: string, M: string;
  t.before(async () => {
    v = await startVfsd(t, { prepare: (src) => { fs.mkdirSync(path.join(src, 'native')); fs.mkdirSync(path.join(src, 'm')); } });
    N = path.join(v.src, 'native');
    M = path.join(v.mnt, 'm');
  });

  t.test('one file open several times at once (read-only and read-write handles)', async (t) => {
    // Under FUSE passthrough the kernel wants every open of an inode to name the same backing
    // file; a server that registers one per open makes the second open() fail with EIO.
    sameOutcome(t, N, M, 'two handles, write via one, read via the other', (r) => {
      const p = path.join(r, 'shared');
      fs.writeFileSync(p, 'first version');
      const ro = fs.openSync(p, 'r');
      const rw = fs.openSync(p, 'r+');
      const again = fs.openSync(p, 'r');
      try {
        fs.writeSync(rw, 'FIRST', 0);
        const b = Buffer.alloc(64);
        const n = fs.readSync(ro, b, 0, 64, 0);
        return { viaOther: b.toString('utf8', 0, n), viaThird: fs.readFileSync(again, 'utf8'), viaName: fs.readFileSync(p, 'utf8') };
      } finally {
        fs.closeSync(ro);
        fs.closeSync(rw);
        fs.closeSync(again);
      }
    });
    sameOutcome(t, N, M, 'reopen after all handles closed', (r) => fs.readFileSync(path.join(r, 'shared'), 'utf8'));
  });

  t.test('open, unlink, keep reading and writing', async (t) => {
    sameOutcome(t, N, M, 'open-unlink-read', (r) => {
      const p = path.join(r, 'doomed');
      fs.writeFileSync(p, 'still here after unlink');
      const fd = fs.openSync(p, 'r+');
      try {
        fs.unlinkSync(p);
        const gone = !fs.existsSync(p);
        const first = fs.readFileSync(fd, 'utf8');
        fs.writeSync(fd, ' and writable', 23);
        const b = Buffer.alloc(64);
        const n = fs.readSync(fd, b, 0, 64, 0);
        const st = fs.fstatSync(fd);
        return { gone, first, after: b.toString('utf8', 0, n), nlink: st.nlink, size: st.size };
      } finally {
        fs.closeSync(fd);
      }
    });
    t.notOk(fs.existsSync(path.join(v.src, 'm', 'doomed')), 'the name is gone on the host');
  });

  t.test('rename over an open file: the fd keeps the old file', async (t) => {
    const res = sameOutcome(t, N, M, 'rename over open file', (r) => {
      const x = path.join(r, 'x');
      fs.writeFileSync(x, 'old contents');
      const fd = fs.openSync(x, 'r');
      try {
        fs.writeFileSync(path.join(r, 'y'), 'new contents');
        fs.renameSync(path.join(r, 'y'), x);
        return { viaFd: fs.readFileSync(fd, 'utf8'), viaName: fs.readFileSync(x, 'utf8'), yGone: !fs.existsSync(path.join(r, 'y')) };
      } finally {
        fs.closeSync(fd);
      }
    });
    t.same(res.mount, { ok: true, value: { viaFd: 'old contents', viaName: 'new contents', yGone: true } }, 'old data via the fd, new data via the name');
  });

  t.test('sparse files: SEEK_DATA / SEEK_HOLE and hole punching', async (t) => {
    const probes = [0, 1, 4095, 4096, 8192, MiB - 1, MiB, MiB + 4096, MiB + 8192, 3 * MiB, 4 * MiB - 1, 4 * MiB, 5 * MiB];
    const seeks = (fd: number) => probes.map((o) => {
      const d = sys.lseek(fd, o, C.SEEK_DATA);
      const h = sys.lseek(fd, o, C.SEEK_HOLE);
      return `${o}: data ${d < 0 ? errnoName(-d) : d} hole ${h < 0 ? errnoName(-h) : h}`;
    });
    const make = (r: string) => {
      const p = path.join(r, 'sparse');
      const fd = fs.openSync(p, 'w+');
      try {
        fs.writeSync(fd, Buffer.alloc(4096, 'a'), 0, 4096, 0);
        fs.writeSync(fd, Buffer.alloc(8192, 'b'), 0, 8192, MiB);
        fs.ftruncateSync(fd, 4 * MiB);
        fs.fsyncSync(fd);
        return seeks(fd);
      } finally {
        fs.closeSync(fd);
      }
    };
    const made = sameOutcome(t, N, M, 'sparse file made and probed', make);
    t.ok(made.native.ok && (made.native.value as string[]).includes(`4096: data ${MiB} hole 4096`), 'natively there is a hole after the first block (the test can see holes)');

    // The same host file probed through the mount and natively.
    const probe = (p: string) => {
      const fd = fs.openSync(p, 'r');
      try { return seeks(fd); } finally { fs.closeSync(fd); }
    };
    t.same(probe(path.join(v.mnt, 'native', 'sparse')), probe(path.join(N, 'sparse')), 'the native file probed through the mount: same data/holes');

    sameOutcome(t, N, M, 'punch a hole over the second data block', (r) => {
      const fd = fs.openSync(path.join(r, 'sparse'), 'r+');
      try {
        const e = sys.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, MiB, 4096);
        if (e < 0) throw Object.assign(new Error('fallocate'), { code: errnoName(-e) });
        return { seeks: seeks(fd), size: fs.fstatSync(fd).size, data: fs.readFileSync(path.join(r, 'sparse')).subarray(MiB, MiB + 8192).toString('latin1').replace(/(.)\1+/g, (m, c) => `${c === '\0' ? '0' : c}x${m.length} `) };
      } finally {
        fs.closeSync(fd);
      }
    });
    sameOutcome(t, N, M, 'fallocate mode 0 past EOF grows the file', (r) => {
      const fd = fs.openSync(path.join(r, 'sparse'), 'r+');
      try {
        const e = sys.fallocate(fd, 0, 4 * MiB, 4096);
        if (e < 0) throw Object.assign(new Error('fallocate'), { code: errnoName(-e) });
        return fs.fstatSync(fd).size;
      } finally {
        fs.closeSync(fd);
      }
    });
    const host = fs.readFileSync(path.join(v.src, 'm', 'sparse'));
    t.equal(host.length, 4 * MiB + 4096, 'host file has the grown size');
    t.equal(host.subarray(MiB, MiB + 4096).every((b) => b === 0), true, 'the punched range reads as zeros on the host');
    t.equal(host.subarray(MiB + 4096, MiB + 8192).every((b) => b === 0x62), true, 'the rest of the second block is intact on the host');
  });

  t.test('fsync and fdatasync succeed and the data is on the host', async (t) => {
    const p = path.join(M, 'synced');
    const fd = fs.openSync(p, 'w');
    fs.writeSync(fd, 'durable ');
    t.doesNotThrow(() => fs.fsyncSync(fd), 'fsync through the mount');
    fs.writeSync(fd, 'data');
    t.doesNotThrow(() => fs.fdatasyncSync(fd), 'fdatasync through the mount');
    t.equal(fs.readFileSync(path.join(v.src, 'm', 'synced'), 'utf8'), 'durable data', 'the host file has the data (before close)');
    fs.closeSync(fd);
    const dfd = fs.openSync(M, 'r');
    t.doesNotThrow(() => fs.fsyncSync(dfd), 'fsync of a directory through the mount');
    fs.closeSync(dfd);
  });

  t.test('the server saw the requests (counts logged at unmount)', async (t) => {
    t.equal(await v.stop(), 0, 'vfsd exits 0 on SIGTERM');
    const counts = requestCounts(v.log());
    t.ok((counts.FSYNC ?? 0) >= 2, `FSYNC reached vfsd (${counts.FSYNC ?? 0} times)`);
    t.ok((counts.FSYNCDIR ?? 0) >= 1, `FSYNCDIR reached vfsd (${counts.FSYNCDIR ?? 0})`);
    t.ok((counts.FALLOCATE ?? 0) >= 2, `FALLOCATE reached vfsd (${counts.FALLOCATE ?? 0})`);
    t.ok((counts.LSEEK ?? 0) >= 1, `LSEEK reached vfsd (${counts.LSEEK ?? 0})`);
  });
});
