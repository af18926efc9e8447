// A make on a slow mount whose parent has no fd (the budget took it back, or
// --inode-file-handles mandatory, where the fd lent for the preceding pooled LOOKUP is closed
// after it) opens the parent from its file handle on the pool, not on the JS thread: on a slow
// or cold source open_by_handle_at reads the inode from the disk or asks its server, and inline
// it would hold up every other request (pool-creates.ts makeOnPool, pool-ops.ts onPool `uses`).
// MKDIR, MKNOD, SYMLINK, LINK (whose source has no fd either), CREATE and TMPFILE in sub/ of a
// mandatory-handles export: the inline open_by_handle_at is counted (sys.openByHandleAt, the JS
// thread's only way to it) while each request runs, and must stay 0; what each made is compared
// with the host directory, umask included (the worker makes it under the request's umask).
// Can fail: with makeOnPool's `uses` dropped, each make opens sub/ inline once.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as P from '../../src/protocol';
import { poolExport, poolServer } from '../helpers/pool-server';
import { C, sys } from '../../src/native/sys';
import { createIn, linkIn, mkdirIn, mknodIn, name, req, symlinkIn } from '../helpers/fuse-requests';

const root = process.geteuid?.() === 0;
const ROOT = 1;
const UMASK = 0o027;

/** A fuse_mkdir_in or fuse_create_in body's umask field set (offset 4 and 8). */
function withUmask(body: Buffer, at: number): Buffer {
  body.writeUInt32LE(UMASK, at);
  return body;
}

t.test('makes under a parent with no fd open it from its handle on the pool, not inline', { skip: !root && 'needs root (file handles)', timeout: 60000 }, async (t) => {
  const dir = poolExport(t, 'vfsd-it-pool-make-');
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.writeFileSync(path.join(dir, 'sub', 'src'), 'linked');
  const srv = poolServer(t, dir, { inodeFileHandles: 'mandatory' });
  const host = (f: string) => path.join(dir, 'sub', f);

  // Every open_by_handle_at on this thread goes through sys.openByHandleAt.
  const real = sys.openByHandleAt;
  let inline = 0;
  sys.openByHandleAt = (mfd, h, flags) => {
    inline++;
    return real(mfd, h, flags);
  };
  t.teardown(() => { sys.openByHandleAt = real; });
  const run = async (r: Buffer, what: string) => {
    const before = inline;
    const out = await srv.later(t, r, what);
    t.equal(inline - before, 0, `${what}: no open_by_handle_at on the JS thread`);
    return out;
  };
  const nodeid = async (parent: number | bigint, n: string): Promise<bigint> =>
    (await srv.later(null, req(P.Op.LOOKUP, parent, name(n)), `LOOKUP ${n}`)).data.readBigUInt64LE(0);
  const sub = await nodeid(ROOT, 'sub');
  const src = await nodeid(sub, 'src');
  t.equal(srv.pfs.inode(Number(sub))?.fd, -1, 'sub/ holds no fd (mandatory file handles)');

  const ino = (o: { data: Buffer }) => Number(o.data.readBigUInt64LE(P.Size.ENTRY_OUT - P.Size.ATTR));
  const mode = (f: string) => fs.lstatSync(host(f)).mode;

  const d = await run(req(P.Op.MKDIR, sub, withUmask(mkdirIn(0o777, 'd'), 4)), 'MKDIR');
  t.equal(d.errno, 0, 'MKDIR answered 0');
  if (d.errno === 0) t.same([ino(d), mode('d')], [fs.statSync(host('d')).ino, C.S_IFDIR | (0o777 & ~UMASK)], '...d made on the host under the umask, its inode answered');

  const n = await run(req(P.Op.MKNOD, sub, withUmask(mknodIn(C.S_IFIFO | 0o666, 0, 'fifo'), 8)), 'MKNOD');
  t.equal(n.errno, 0, 'MKNOD answered 0');
  if (n.errno === 0) t.same([ino(n), mode('fifo')], [fs.lstatSync(host('fifo')).ino, C.S_IFIFO | (0o666 & ~UMASK)], '...a fifo made on the host under the umask');

  const s = await run(req(P.Op.SYMLINK, sub, symlinkIn('ln', 'some/target')), 'SYMLINK');
  t.equal(s.errno, 0, 'SYMLINK answered 0');
  t.equal(fs.readlinkSync(host('ln')), 'some/target', '...the symlink made on the host');

  t.equal(srv.pfs.inode(Number(src))?.fd, -1, 'src holds no fd either');
  const l = await run(req(P.Op.LINK, sub, linkIn(src, 'hard')), 'LINK');
  t.equal(l.errno, 0, 'LINK answered 0');
  if (l.errno === 0) t.same([ino(l), fs.statSync(host('hard')).nlink], [fs.statSync(host('src')).ino, 2], '...hard is src on the host, its inode answered');

  const c = await run(req(P.Op.CREATE, sub, withUmask(createIn(C.O_RDWR | C.O_EXCL, C.S_IFREG | 0o666, 'made'), 8)), 'CREATE');
  t.equal(c.errno, 0, 'CREATE answered 0');
  if (c.errno === 0) t.same([ino(c), mode('made')], [fs.statSync(host('made')).ino, C.S_IFREG | (0o666 & ~UMASK)], '...made on the host under the umask');

  const before = fs.readdirSync(host('.')).sort();
  const tmp = await run(req(P.Op.TMPFILE, sub, withUmask(createIn(C.O_RDWR, C.S_IFREG | 0o600, '/'), 8)), 'TMPFILE');
  t.equal(tmp.errno, 0, 'TMPFILE answered 0');
  t.same(fs.readdirSync(host('.')).sort(), before, '...an unnamed file: no name added on the host');
});
