// Requests the kernel would never send, fed in-process to a real FuseServer + PassthroughFs on a
// temp export through an in-memory channel: each gets exactly one answer with the expected errno,
// nothing escapes the export, special files are never opened, and the server keeps working.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AT_FDCWD, C, sys } from '../../src/native/sys';
import * as P from '../../src/protocol';
import { PassthroughFs } from '../../src/passthrough/passthrough-fs';
import { PassthroughFileSystem } from '../../src/passthrough/file-system';
import { defaultPassthroughConfig } from '../../src/passthrough/config';
import { FuseServer, type ServerOptions } from '../../src/server/session';
import { silentLogger } from '../../src/log/logger';
import { tempBase } from '../helpers/vfsd-process';
import { MemoryChannel, type Outcome } from '../helpers/memory-channel';
import { attrOf, entryOf, fhOf } from '../helpers/fuse-replies';
import { batchForgetIn, createIn, forgetIn, getattrIn, initIn, linkIn, mkdirIn, name, openIn, readIn, releaseIn, renameIn, req, writeIn } from '../helpers/fuse-requests';
import { Credentials } from '../../src/passthrough/credentials';

const root = process.geteuid?.() === 0;
const E = P.Errno;
const ROOT = 1;

function server(dir: string, opts: Partial<ServerOptions> = {}): { ch: MemoryChannel; srv: FuseServer; fs: PassthroughFs } {
  const pfs = new PassthroughFs({ ...defaultPassthroughConfig(dir), xattr: true }, new Credentials(false));
  const ch = new MemoryChannel();
  const srv = new FuseServer(ch, new PassthroughFileSystem(pfs), {
    readOnly: false, maxWrite: 1 << 20, announceSubmounts: false, posixLocks: true, flock: true,
    passthrough: false, cacheAlways: false, ...opts,
  }, silentLogger);
  srv.start();
  return { ch, srv, fs: pfs };
}

/** Delivers one request; asserts it got exactly one answer and returns it. */
function one(t: Tap, ch: MemoryChannel, r: Buffer, what: string): Outcome {
  const got = ch.send(r);
  t.equal(got.length, 1, `${what}: exactly one answer`);
  return got[0] ?? { token: -1, kind: 'error', errno: -1, data: Buffer.alloc(0) };
}

function expectErr(t: Tap, ch: MemoryChannel, r: Buffer, errno: number, what: string): void {
  const a = one(t, ch, r, what);
  t.equal(a.errno, errno, `${what}: ${P.Errno && errName(errno)} (got ${errName(a.errno)})`);
}

function errName(n: number): string {
  return Object.entries(E).find(([, v]) => v === n)?.[0] ?? String(n);
}

type Tap = Test;

t.test('hostile requests', { skip: !root && 'needs root (credential switching)', timeout: 60000 }, async (t) => {
  const base = tempBase('vfsd-it-hostile-');
  const dir = path.join(base, 'export');
  const outside = path.join(base, 'outside');
  fs.mkdirSync(dir);
  fs.mkdirSync(outside);
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  fs.writeFileSync(path.join(outside, 'secret'), 'outside the export');
  fs.writeFileSync(path.join(dir, 'file'), 'hello');
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.symlinkSync(outside, path.join(dir, 'outdir'));
  fs.symlinkSync(path.join(outside, 'secret'), path.join(dir, 'outfile'));
  fs.symlinkSync('../../', path.join(dir, 'sub', 'up'));
  const mk = (n: string, mode: number, maj = 0, min = 0) => { const r = sys.mknodat(AT_FDCWD, path.join(dir, n), mode, maj, min); if (r < 0) throw new Error(`mknod ${n}: ${r}`); };
  mk('fifo', C.S_IFIFO | 0o666);
  mk('null', C.S_IFCHR | 0o666, 1, 3);
  mk('sda', C.S_IFBLK | 0o600, 8, 0);

  const { ch, srv } = server(dir);

  t.test('before INIT: EIO; then INIT', async (t) => {
    expectErr(t, ch, req(P.Op.GETATTR, ROOT, getattrIn()), E.EIO, 'GETATTR before INIT');
    expectErr(t, ch, req(P.Op.LOOKUP, ROOT, name('file')), E.EIO, 'LOOKUP before INIT');
    const a = one(t, ch, req(P.Op.INIT, 0, initIn()), 'INIT');
    t.equal(a.errno, 0, 'INIT answered with success');
    t.equal(a.data.readUInt32LE(0), 7, 'major 7');
    t.ok(srv.init, 'the server is initialised');
  });

  t.test('names', async (t) => {
    const dotdot = one(t, ch, req(P.Op.LOOKUP, ROOT, name('..')), 'LOOKUP .. at the root');
    t.equal(dotdot.errno, 0, 'LOOKUP .. at the root succeeds');
    t.equal(entryOf(dotdot.data).nodeid, ROOT, '... and is the root itself (node 1)');
    t.equal(entryOf(dotdot.data).ino, fs.statSync(dir).ino, '... with the export root\'s inode number');
    const dot = one(t, ch, req(P.Op.LOOKUP, ROOT, name('.')), 'LOOKUP . at the root');
    t.equal(entryOf(dot.data).nodeid, ROOT, 'LOOKUP . at the root is the root');
    expectErr(t, ch, req(P.Op.LOOKUP, ROOT, name('../outside')), E.EINVAL, 'LOOKUP "../outside"');
    expectErr(t, ch, req(P.Op.LOOKUP, ROOT, name('sub/up')), E.EINVAL, 'LOOKUP "sub/up"');
    expectErr(t, ch, req(P.Op.LOOKUP, ROOT, name('/etc')), E.EINVAL, 'LOOKUP "/etc"');
    expectErr(t, ch, req(P.Op.LOOKUP, ROOT, name('')), E.EINVAL, 'LOOKUP of an empty name');
    expectErr(t, ch, req(P.Op.LOOKUP, ROOT, name('x'.repeat(256))), E.ENAMETOOLONG, 'LOOKUP of a 256-byte name');
    expectErr(t, ch, req(P.Op.LOOKUP, ROOT, name('x'.repeat(4000))), E.ENAMETOOLONG, 'LOOKUP of a 4000-byte name');
    expectErr(t, ch, req(P.Op.LOOKUP, ROOT, name('x'.repeat(255))), E.ENOENT, 'LOOKUP of a 255-byte name: just not there');
    expectErr(t, ch, req(P.Op.LOOKUP, ROOT, name('file', false)), E.EINVAL, 'LOOKUP of a name without NUL');
    expectErr(t, ch, req(P.Op.LOOKUP, ROOT, Buffer.from('fi\0le\0')), E.ENOENT, 'LOOKUP "fi\\0le": the name ends at the first NUL ("fi")');
    expectErr(t, ch, req(P.Op.MKDIR, ROOT, mkdirIn(0o755, '..')), E.EINVAL, 'MKDIR ".."');
    expectErr(t, ch, req(P.Op.MKDIR, ROOT, mkdirIn(0o755, 'a/b')), E.EINVAL, 'MKDIR "a/b"');
    expectErr(t, ch, req(P.Op.UNLINK, ROOT, name('..')), E.EINVAL, 'UNLINK ".."');
    expectErr(t, ch, req(P.Op.RMDIR, ROOT, name('.')), E.EINVAL, 'RMDIR "."');
    expectErr(t, ch, req(P.Op.RENAME, ROOT, renameIn(ROOT, 'file', '../escaped')), E.EINVAL, 'RENAME to "../escaped"');
    expectErr(t, ch, req(P.Op.CREATE, ROOT, createIn(C.O_WRONLY, 0o644, 'x'.repeat(300))), E.ENAMETOOLONG, 'CREATE with a 300-byte name');
    t.notOk(fs.existsSync(path.join(base, 'escaped')), 'nothing was renamed out of the export');
    t.same(fs.readdirSync(dir).sort(), ['fifo', 'file', 'null', 'outdir', 'outfile', 'sda', 'sub'], 'the export is unchanged');
  });

  t.test('unknown node ids and file handles', async (t) => {
    expectErr(t, ch, req(P.Op.GETATTR, 999999, getattrIn()), E.ENOENT, 'GETATTR of an unknown node');
    expectErr(t, ch, req(P.Op.GETATTR, 0, getattrIn()), E.ENOENT, 'GETATTR of node 0');
    expectErr(t, ch, req(P.Op.GETATTR, 0xffffffffffffffffn, getattrIn()), E.ENOENT, 'GETATTR of node 2^64-1');
    expectErr(t, ch, req(P.Op.LOOKUP, 424242, name('file')), E.ENOENT, 'LOOKUP in an unknown parent');
    expectErr(t, ch, req(P.Op.MKDIR, 424242, mkdirIn(0o755, 'd')), E.ENOENT, 'MKDIR in an unknown parent');
    expectErr(t, ch, req(P.Op.OPEN, 424242, openIn(C.O_RDONLY)), E.ENOENT, 'OPEN of an unknown node');
    expectErr(t, ch, req(P.Op.LINK, ROOT, linkIn(424242, 'l')), E.ENOENT, 'LINK from an unknown node');
    expectErr(t, ch, req(P.Op.RENAME, ROOT, renameIn(424242, 'file', 'x')), E.ENOENT, 'RENAME into an unknown dir');
    expectErr(t, ch, req(P.Op.READ, ROOT, readIn(777777, 0, 4096)), E.EBADF, 'READ with an unknown fh');
    expectErr(t, ch, req(P.Op.READ, ROOT, readIn(0xffffffffffffffffn, 0, 4096)), E.EBADF, 'READ with fh 2^64-1');
    expectErr(t, ch, req(P.Op.WRITE, ROOT, writeIn(777777, 0, Buffer.from('data'))), E.EBADF, 'WRITE with an unknown fh');
    expectErr(t, ch, req(P.Op.RELEASE, ROOT, releaseIn(777777)), E.EBADF, 'RELEASE of an unknown fh');
    expectErr(t, ch, req(P.Op.READDIR, ROOT, readIn(777777, 0, 4096)), E.EBADF, 'READDIR with an unknown fh');
    expectErr(t, ch, req(P.Op.RELEASEDIR, ROOT, releaseIn(777777)), E.EBADF, 'RELEASEDIR of an unknown fh');
    // A directory handle used as a file handle and the other way round.
    const od = one(t, ch, req(P.Op.OPENDIR, ROOT, openIn(C.O_RDONLY)), 'OPENDIR root');
    const dfh = fhOf(od.data);
    expectErr(t, ch, req(P.Op.READ, ROOT, readIn(dfh, 0, 100)), E.EBADF, 'READ with a directory\'s fh');
    expectErr(t, ch, req(P.Op.RELEASE, ROOT, releaseIn(dfh)), E.EBADF, 'RELEASE of a directory\'s fh');
    t.equal(one(t, ch, req(P.Op.RELEASEDIR, ROOT, releaseIn(dfh)), 'RELEASEDIR').errno, 0, 'RELEASEDIR of it still works (the wrong RELEASE did not drop it)');
    expectErr(t, ch, req(P.Op.RELEASEDIR, ROOT, releaseIn(dfh)), E.EBADF, 'RELEASEDIR twice');
    const fo = one(t, ch, req(P.Op.OPEN, entryOf(one(t, ch, req(P.Op.LOOKUP, ROOT, name('file')), 'LOOKUP file').data).nodeid, openIn(C.O_RDONLY)), 'OPEN file');
    const ffh = fhOf(fo.data);
    expectErr(t, ch, req(P.Op.RELEASEDIR, ROOT, releaseIn(ffh)), E.EBADF, 'RELEASEDIR of a file\'s fh');
    t.equal(one(t, ch, req(P.Op.READ, ROOT, readIn(ffh, 0, 100)), 'READ').data.toString(), 'hello', 'the file handle still reads');
    t.equal(one(t, ch, req(P.Op.RELEASE, ROOT, releaseIn(ffh)), 'RELEASE').errno, 0, 'and RELEASE of it works');
  });

  t.test('FORGET and BATCH_FORGET of unknown nodes, huge counts', async (t) => {
    const l = one(t, ch, req(P.Op.LOOKUP, ROOT, name('file')), 'LOOKUP file');
    const fileNode = entryOf(l.data).nodeid;
    for (const [what, r] of [
      ['FORGET of an unknown node', req(P.Op.FORGET, 999999, forgetIn(1))],
      ['FORGET with nlookup 2^64-1 of a known node', req(P.Op.FORGET, fileNode, forgetIn(0xffffffffffffffffn))],
      ['FORGET of the root with a huge count', req(P.Op.FORGET, ROOT, forgetIn(1n << 62n))],
      ['BATCH_FORGET claiming 2^32-1 entries, carrying 2', req(P.Op.BATCH_FORGET, 0, batchForgetIn(0xffffffff, [[999999, 1], [ROOT, 5]]))],
      ['BATCH_FORGET claiming 3 entries, carrying 0', req(P.Op.BATCH_FORGET, 0, batchForgetIn(3, []))],
      ['FORGET with a truncated body', req(P.Op.FORGET, fileNode, Buffer.alloc(3))],
    ] as const) {
      const a = one(t, ch, r, what);
      t.ok(a.kind === 'done' || a.kind === 'error', `${what}: released without a reply (${a.kind})`);
    }
    const g = one(t, ch, req(P.Op.GETATTR, ROOT, getattrIn()), 'GETATTR root after forgetting it');
    t.equal(g.errno, 0, 'the root survives any FORGET');
    expectErr(t, ch, req(P.Op.GETATTR, fileNode, getattrIn()), E.ENOENT, 'a node forgotten to 0 is gone (no resurrection)');
    const again = one(t, ch, req(P.Op.LOOKUP, ROOT, name('file')), 'LOOKUP file again');
    t.not(entryOf(again.data).nodeid, fileNode, 'a new lookup gets a new node id, never the forgotten one');
  });

  t.test('malformed framing', async (t) => {
    expectErr(t, ch, req(P.Op.GETATTR, ROOT, getattrIn(), { len: 200 }), E.EINVAL, 'header says 200 bytes, 56 delivered');
    expectErr(t, ch, req(P.Op.GETATTR, ROOT, getattrIn(), { len: 40 }), E.EINVAL, 'header says 40 bytes, 56 delivered');
    expectErr(t, ch, req(P.Op.GETATTR, ROOT, getattrIn(), { len: 0 }), E.EINVAL, 'header len 0');
    expectErr(t, ch, req(P.Op.GETATTR, ROOT, getattrIn(), { len: 0xffffffff }), E.EINVAL, 'header len 2^32-1');
    // Fewer bytes than a header: refused before any header field is trusted.
    expectErr(t, ch, req(P.Op.LOOKUP, ROOT, name('file')).subarray(0, 20), E.EIO, 'a request shorter than its header');
    expectErr(t, ch, req(P.Op.OPEN, ROOT, Buffer.alloc(3)), E.EINVAL, 'OPEN with a 3-byte body');
    expectErr(t, ch, req(P.Op.READ, ROOT, Buffer.alloc(10)), E.EINVAL, 'READ with a 10-byte body');
    expectErr(t, ch, req(P.Op.MKDIR, ROOT, Buffer.alloc(4)), E.EINVAL, 'MKDIR with a 4-byte body');
    expectErr(t, ch, req(P.Op.RENAME, ROOT, Buffer.concat([Buffer.alloc(8), name('file')])), E.EINVAL, 'RENAME without a second name');
    expectErr(t, ch, req(P.Op.SYMLINK, ROOT, name('lnk')), E.EINVAL, 'SYMLINK without a target');
    // A WRITE whose size field disagrees with the data that came with it.
    const c = one(t, ch, req(P.Op.CREATE, ROOT, createIn(C.O_RDWR, 0o644, 'w')), 'CREATE w');
    const wfh = fhOf(c.data.subarray(P.Size.ENTRY_OUT));
    const lying = writeIn(wfh, 0, Buffer.from('12345678'));
    lying.writeUInt32LE(1 << 20, 16);
    expectErr(t, ch, req(P.Op.WRITE, ROOT, lying), E.EINVAL, 'WRITE claiming 1 MiB with 8 bytes of data');
    t.equal(fs.statSync(path.join(dir, 'w')).size, 0, 'nothing was written');
    t.equal(one(t, ch, req(P.Op.RELEASE, ROOT, releaseIn(wfh)), 'RELEASE w').errno, 0, 'RELEASE w');
    // With extensions claimed that are not there.
    const ext = req(P.Op.GETATTR, ROOT, getattrIn());
    ext.writeUInt16LE(100, 36);
    expectErr(t, ch, ext, E.EINVAL, 'total_extlen larger than the request');
  });

  t.test('unknown and unsupported opcodes', async (t) => {
    expectErr(t, ch, req(9999, ROOT, Buffer.alloc(16)), E.ENOSYS, 'opcode 9999');
    expectErr(t, ch, req(0, ROOT), E.ENOSYS, 'opcode 0');
    expectErr(t, ch, req(0xffffffff, ROOT), E.ENOSYS, 'opcode 2^32-1');
    expectErr(t, ch, req(P.Op.IOCTL, ROOT, Buffer.alloc(P.Size.IOCTL_IN)), E.ENOSYS, 'IOCTL');
    expectErr(t, ch, req(P.Op.BMAP, ROOT, Buffer.alloc(P.Size.BMAP_IN)), E.ENOSYS, 'BMAP');
    expectErr(t, ch, req(P.Op.SETUPMAPPING, ROOT, Buffer.alloc(P.Size.SETUPMAPPING_IN)), E.ENOSYS, 'SETUPMAPPING (no DAX)');
  });

  t.test('special files are never opened by the server', async (t) => {
    for (const n of ['fifo', 'null', 'sda']) {
      const l = one(t, ch, req(P.Op.LOOKUP, ROOT, name(n)), `LOOKUP ${n}`);
      t.equal(l.errno, 0, `LOOKUP ${n} works (stat only)`);
      const node = entryOf(l.data).nodeid;
      for (const flags of [C.O_RDONLY, C.O_WRONLY, C.O_RDWR, C.O_RDONLY | C.O_NONBLOCK]) {
        const a = one(t, ch, req(P.Op.OPEN, node, openIn(flags)), `OPEN ${n} flags ${flags.toString(8)}`);
        t.not(a.errno, 0, `OPEN of ${n} (flags 0${flags.toString(8)}) is refused (${errName(a.errno)}), never opened`);
      }
      const d = one(t, ch, req(P.Op.OPENDIR, node, openIn(C.O_RDONLY)), `OPENDIR of ${n}`);
      t.ok(d.errno === E.ENOTDIR || d.errno === E.EACCES, `OPENDIR of ${n} refused (${errName(d.errno)})`);
    }
  });

  t.test('symlinks are never followed, even pointing outside', async (t) => {
    const l = one(t, ch, req(P.Op.LOOKUP, ROOT, name('outdir')), 'LOOKUP outdir');
    t.equal(l.errno, 0, 'LOOKUP of a symlink to an outside dir works...');
    const e = entryOf(l.data);
    t.equal(e.mode & C.S_IFMT, C.S_IFLNK, '... and is the symlink itself');
    t.equal(e.ino, fs.lstatSync(path.join(dir, 'outdir')).ino, '... with the link\'s inode number, not the target\'s');
    expectErr(t, ch, req(P.Op.LOOKUP, e.nodeid, name('secret')), E.ENOTDIR, 'LOOKUP through the symlink node');
    const od = one(t, ch, req(P.Op.OPENDIR, e.nodeid, openIn(C.O_RDONLY)), 'OPENDIR of the symlink node');
    t.ok(od.errno === E.ENOTDIR || od.errno === E.EACCES, `OPENDIR of the symlink node refused (${errName(od.errno)})`);
    expectErr(t, ch, req(P.Op.MKDIR, e.nodeid, mkdirIn(0o755, 'planted')), E.ENOTDIR, 'MKDIR inside the symlink node');
    expectErr(t, ch, req(P.Op.CREATE, e.nodeid, createIn(C.O_WRONLY, 0o644, 'planted')), E.ENOTDIR, 'CREATE inside the symlink node');
    const lf = entryOf(one(t, ch, req(P.Op.LOOKUP, ROOT, name('outfile')), 'LOOKUP outfile').data);
    t.equal(lf.mode & C.S_IFMT, C.S_IFLNK, 'LOOKUP outfile is the symlink');
    for (const flags of [C.O_RDONLY, C.O_WRONLY | C.O_TRUNC]) {
      const a = one(t, ch, req(P.Op.OPEN, lf.nodeid, openIn(flags)), 'OPEN outfile');
      t.not(a.errno, 0, `OPEN of the symlink (0${flags.toString(8)}) refused: ${errName(a.errno)}`);
    }
    const cr = one(t, ch, req(P.Op.CREATE, ROOT, createIn(C.O_WRONLY | C.O_TRUNC, 0o644, 'outfile')), 'CREATE over the symlink');
    t.equal(cr.errno, E.ELOOP, `CREATE of an existing symlink's name: ELOOP, not followed (${errName(cr.errno)})`);
    const at = one(t, ch, req(P.Op.SETATTR, lf.nodeid, (() => { const b = Buffer.alloc(P.Size.SETATTR_IN); b.writeUInt32LE(P.Fattr.SIZE, 0); return b; })()), 'SETATTR size 0 on the symlink');
    t.not(at.errno, 0, `truncating via the symlink node is refused (${errName(at.errno)})`);
    const rl = one(t, ch, req(P.Op.READLINK, lf.nodeid), 'READLINK outfile');
    t.equal(rl.data.toString(), path.join(outside, 'secret'), 'READLINK returns the target text (the client resolves it)');
    const up = entryOf(one(t, ch, req(P.Op.LOOKUP, entryOf(one(t, ch, req(P.Op.LOOKUP, ROOT, name('sub')), 'LOOKUP sub').data).nodeid, name('up')), 'LOOKUP sub/up').data);
    t.equal(up.mode & C.S_IFMT, C.S_IFLNK, 'sub/up (-> ../../) is the symlink itself');
    t.equal(fs.readFileSync(path.join(outside, 'secret'), 'utf8'), 'outside the export', 'the outside file is untouched');
    t.same(fs.readdirSync(outside), ['secret'], 'nothing was created outside');
  });

  t.test('--readonly refuses changes in the server itself', async (t) => {
    const ro = server(dir, { readOnly: true });
    one(t, ro.ch, req(P.Op.INIT, 0, initIn()), 'INIT');
    const f = entryOf(one(t, ro.ch, req(P.Op.LOOKUP, ROOT, name('file')), 'LOOKUP file').data);
    expectErr(t, ro.ch, req(P.Op.MKDIR, ROOT, mkdirIn(0o755, 'ro-dir')), E.EROFS, 'MKDIR');
    expectErr(t, ro.ch, req(P.Op.CREATE, ROOT, createIn(C.O_WRONLY, 0o644, 'ro-file')), E.EROFS, 'CREATE');
    expectErr(t, ro.ch, req(P.Op.OPEN, f.nodeid, openIn(C.O_RDWR)), E.EROFS, 'OPEN O_RDWR');
    expectErr(t, ro.ch, req(P.Op.OPEN, f.nodeid, openIn(C.O_RDONLY | C.O_TRUNC)), E.EROFS, 'OPEN O_TRUNC');
    expectErr(t, ro.ch, req(P.Op.UNLINK, ROOT, name('file')), E.EROFS, 'UNLINK');
    const o = one(t, ro.ch, req(P.Op.OPEN, f.nodeid, openIn(C.O_RDONLY)), 'OPEN O_RDONLY');
    t.equal(o.errno, 0, 'OPEN O_RDONLY works');
    const r = one(t, ro.ch, req(P.Op.READ, f.nodeid, readIn(fhOf(o.data), 0, 100)), 'READ');
    t.equal(r.data.toString(), 'hello', 'READ works');
    t.same(fs.readdirSync(dir).sort(), ['fifo', 'file', 'null', 'outdir', 'outfile', 'sda', 'sub', 'w'], 'nothing changed');
    t.same(ro.ch.unanswered(), [], 'every request answered');
    ro.srv.stop();
  });

  t.test('after all that, normal requests still work', async (t) => {
    const l = one(t, ch, req(P.Op.LOOKUP, ROOT, name('file')), 'LOOKUP file');
    t.equal(l.errno, 0, 'LOOKUP file works');
    const node = entryOf(l.data).nodeid;
    const g = one(t, ch, req(P.Op.GETATTR, node, getattrIn()), 'GETATTR file');
    t.equal(g.errno, 0, 'GETATTR works');
    t.equal(attrOf(g.data).size, 5, 'with the right size');
    t.equal(attrOf(g.data).ino, fs.statSync(path.join(dir, 'file')).ino, 'and the host inode number');
    const o = one(t, ch, req(P.Op.OPEN, node, openIn(C.O_RDONLY)), 'OPEN file');
    const r = one(t, ch, req(P.Op.READ, node, readIn(fhOf(o.data), 0, 100)), 'READ file');
    t.equal(r.data.toString(), 'hello', 'READ gives the contents');
    t.equal(one(t, ch, req(P.Op.RELEASE, node, releaseIn(fhOf(o.data))), 'RELEASE').errno, 0, 'RELEASE works');
    // A batch of many requests at once: each answered once.
    const batch = Array.from({ length: 50 }, (_, i) => (i % 2 ? req(P.Op.GETATTR, ROOT, getattrIn()) : req(P.Op.LOOKUP, ROOT, name(`missing${i}`))));
    const answers = ch.send(...batch);
    t.equal(answers.length, 50, '50 requests in one batch: 50 answers');
    t.equal(new Set(answers.map((a) => a.token)).size, 50, 'one per request');
    t.same(ch.unanswered(), [], 'no request was left without an answer');
    t.same(ch.problems(), [], 'no request was answered twice');
  });

  t.teardown(() => srv.stop());
});
