// FUSE passthrough's backing ids as the engine keeps them (src/passthrough/io-modes.ts), against a
// real export in-process, with a BackingFiles that records its calls (the real one needs a
// /dev/fuse session; test/mount/files, fuse-dev-data and passthrough-kept-backing run that end to
// end). The kernel keeps one backing file per inode, so the handles of one inode share one id:
// it is registered by the first open and given up once — on RELEASE, and when the session ends
// with handles still open (releaseAll: once closed per handle, a shared id was closed twice, and
// the inode's count stayed behind). After the last RELEASE the id stays registered for the
// inode's next open, until FORGET, a change of the file's setuid/setgid state, or 1024 newer
// kept ids. A new session's open of the same file registers afresh.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassthroughFs } from '../../src/passthrough/passthrough-fs';
import { PassthroughFileSystem } from '../../src/passthrough/file-system';
import { defaultPassthroughConfig } from '../../src/passthrough/config';
import { Credentials } from '../../src/passthrough/credentials';
import { Fopen } from '../../src/protocol/flags';
import type { BackingFiles } from '../../src/native/channel';

const ROOT = 1;

function setup(t: { teardown(f: () => void): void }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-io-modes-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'f'), 'data');
  const pfs = new PassthroughFs({ ...defaultPassthroughConfig(dir), cache: 'auto' }, new Credentials(false));
  t.teardown(() => pfs.close());
  const calls: string[] = [];
  let next = 1;
  const backing: BackingFiles = {
    open: () => { calls.push(`open ${next}`); return next++; },
    close: (id) => { calls.push(`close ${id}`); },
  };
  const fsys = new PassthroughFileSystem(pfs);
  const session = () => fsys.init({ submounts: false, posixAcl: false, writeback: false, backing });
  session();
  const nodeOf = () => {
    const e = fsys.lookup(ROOT, Buffer.from('f'));
    if (typeof e === 'number' || e instanceof Promise) throw new Error(`lookup: ${String(e)}`);
    return e.nodeid;
  };
  const open = (nodeid: number) => {
    const o = fsys.open(nodeid, fs.constants.O_RDONLY);
    if (typeof o === 'number' || o instanceof Promise) throw new Error(`open: ${String(o)}`);
    return o;
  };
  return { fsys, calls, session, nodeOf, open, dir };
}

t.test('handles of one inode share one backing id, kept after the last RELEASE until FORGET', async (t) => {
  const { fsys, calls, nodeOf, open } = setup(t);
  const n = nodeOf();
  const a = open(n);
  const b = open(n);
  t.ok(a.openFlags & Fopen.PASSTHROUGH, 'passthrough');
  t.equal(a.backingId, 1);
  t.equal(b.backingId, 1, 'the second open shares the id');
  t.equal(fsys.release(a.fh), 0);
  t.same(calls, ['open 1'], 'the first RELEASE keeps it');
  t.equal(fsys.release(b.fh), 0);
  t.same(calls, ['open 1'], 'the last keeps it registered too');
  const c = open(n);
  t.equal(c.backingId, 1, 'the next open takes the kept id back');
  t.equal(fsys.release(c.fh), 0);
  t.same(calls, ['open 1'], 'with no registration of its own');
  fsys.forget(n, 2);
  t.same(calls, ['open 1', 'close 1'], 'FORGET of the inode gives the id up');
});

t.test('a kept id is given up when the file became setuid, and beyond 1024 kept', async (t) => {
  const { fsys, calls, nodeOf, open, dir } = setup(t);
  const n = nodeOf();
  t.equal(fsys.release(open(n).fh), 0);
  fs.chmodSync(path.join(dir, 'f'), 0o4644);
  const s = open(n);
  t.same(calls, ['open 1', 'close 1', 'open 2'], 'registered again (without CAP_FSETID) for the setuid file');
  t.equal(s.backingId, 2);
  t.equal(fsys.release(s.fh), 0);
  for (let i = 0; i < 1024; i++) fs.writeFileSync(path.join(dir, `g${i}`), '');
  for (let i = 0; i < 1024; i++) {
    const e = fsys.lookup(ROOT, Buffer.from(`g${i}`));
    if (typeof e === 'number' || e instanceof Promise) throw new Error(`lookup g${i}`);
    if (fsys.release(open(e.nodeid).fh) !== 0) throw new Error(`release g${i}`);
  }
  t.same(calls.slice(3).filter((c) => c.startsWith('close')), ['close 2'], 'the 1025th kept id gives up the oldest, f\'s, and only it');
});

t.test('the session ends with handles open: each shared id is closed once; a new session starts afresh', async (t) => {
  const { fsys, calls, session, nodeOf, open } = setup(t);
  const n = nodeOf();
  open(n);
  open(n);
  open(n);
  fsys.releaseAll();
  t.same(calls, ['open 1', 'close 1'], 'one close for the three handles');
  session();
  const again = open(nodeOf());
  t.equal(again.backingId, 2, 'the next session\'s open registers its own id, not the dead one');
  t.same(calls, ['open 1', 'close 1', 'open 2']);
});
