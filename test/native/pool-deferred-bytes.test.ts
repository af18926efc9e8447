// A pooled request whose inode must first be opened from its file handle posts its job only
// when that open completes (pool-ops.ts onPool's `uses`), after the handler has returned and the
// transport has reused the buffer the request came in (the /dev/fuse read buffer, a batch's
// inbox). So the names and values such a job takes must be the request's own copies: UNLINK's
// and RMDIR's name, RENAME's two names, SETXATTR's name and value, REMOVEXATTR's name; and a
// completion that uses the name (CREATE's open of a name it found taken). With
// --inode-file-handles mandatory no inode keeps an fd, so every one of them waits for an open;
// MemoryChannel poisons its inbox after each batch (test/helpers/pool-server.ts). Each result is
// compared with the host directory. Can fail: with the bytes read late, the job gets 0xa5s.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as P from '../../src/protocol';
import { poolExport, poolServer } from '../helpers/pool-server';
import { C, sys } from '../../src/native/sys';
import { createIn, name, renameIn, req } from '../helpers/fuse-requests';

const root = process.geteuid?.() === 0;
const ROOT = 1;

/** fuse_setxattr_in (with FUSE_SETXATTR_EXT, which INIT offered), the name, the value. */
function setxattrIn(key: string, value: Buffer): Buffer {
  const head = Buffer.alloc(P.Size.SETXATTR_IN);
  head.writeUInt32LE(value.length, 0);
  return Buffer.concat([head, name(key), value]);
}

t.test('pooled jobs that wait for a handle open take the request\'s names and values, not the reused buffer', { skip: !root && 'needs root (file handles)', timeout: 60000 }, async (t) => {
  const dir = poolExport(t, 'vfsd-it-pool-bytes-');
  // In sub/, not the root: the root keeps its fd whatever the mode.
  fs.mkdirSync(path.join(dir, 'sub', 'empty-dir'), { recursive: true });
  for (const f of ['gone', 'old', 'attrs', 'taken']) fs.writeFileSync(path.join(dir, 'sub', f), f);
  const srv = poolServer(t, dir, { inodeFileHandles: 'mandatory', xattr: true });
  const host = (f: string) => path.join(dir, 'sub', f);
  const nodeid = async (parent: number | bigint, n: string): Promise<bigint> =>
    (await srv.later(null, req(P.Op.LOOKUP, parent, name(n)), `LOOKUP ${n}`)).data.readBigUInt64LE(0);
  const sub = await nodeid(ROOT, 'sub');

  t.equal((await srv.later(t, req(P.Op.UNLINK, sub, name('gone')), 'UNLINK')).errno, 0, 'UNLINK answered 0');
  t.notOk(fs.existsSync(host('gone')), '...and gone removed on the host');

  t.equal((await srv.later(t, req(P.Op.RMDIR, sub, name('empty-dir')), 'RMDIR')).errno, 0, 'RMDIR answered 0');
  t.notOk(fs.existsSync(host('empty-dir')), '...and empty-dir removed on the host');

  t.equal((await srv.later(t, req(P.Op.RENAME, sub, renameIn(sub, 'old', 'new')), 'RENAME')).errno, 0, 'RENAME answered 0');
  t.same([fs.existsSync(host('old')), fs.readFileSync(host('new'), 'utf8')], [false, 'old'], '...and old is new on the host');

  const attrs = await nodeid(sub, 'attrs');
  const value = Buffer.from('the value set');
  t.equal((await srv.later(t, req(P.Op.SETXATTR, attrs, setxattrIn('user.k', value)), 'SETXATTR')).errno, 0, 'SETXATTR answered 0');
  const got = Buffer.alloc(64);
  const n = sys.getxattr(host('attrs'), 'user.k', got, true);
  t.equal(n < 0 ? n : got.subarray(0, n).toString(), value.toString(), '...and user.k holds the value on the host');

  t.equal((await srv.later(t, req(P.Op.REMOVEXATTR, attrs, name('user.k')), 'REMOVEXATTR')).errno, 0, 'REMOVEXATTR answered 0');
  t.ok(sys.getxattr(host('attrs'), 'user.k', got, true) < 0, '...and user.k removed on the host');

  // CREATE without O_EXCL of a name that is taken: the worker's create finds it (EEXIST), and
  // the completion opens the existing file by name, as OPEN would.
  const made = await srv.later(t, req(P.Op.CREATE, sub, createIn(C.O_RDWR, C.S_IFREG | 0o644, 'taken')), 'CREATE of a taken name');
  t.equal(made.errno, 0, 'CREATE of a taken name answered 0');
  if (made.errno === 0) t.equal(Number(made.data.readBigUInt64LE(P.Size.ENTRY_OUT - P.Size.ATTR)), fs.statSync(host('taken')).ino, '...with the existing file\'s inode');
});
