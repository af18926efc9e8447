// FUSE passthrough's backing ids as the engine keeps them (src/passthrough/io-modes.ts), against a
// real export in-process, with a BackingFiles that records its calls (the real one needs a
// /dev/fuse session; test/mount/files and fuse-dev-data run that end to end). The kernel keeps one
// backing file per inode, so the handles of one inode share one id: it is registered by the first
// open and closed once, by the last handle to go — on RELEASE, and when the session ends with
// handles still open (releaseAll: once closed per handle, a shared id was closed twice, and
// the inode's count stayed behind). A new session's open of the same file registers afresh.
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
  return { fsys, calls, session, nodeOf, open };
}

t.test('handles of one inode share one backing id, closed by the last RELEASE', async (t) => {
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
  t.same(calls, ['open 1', 'close 1'], 'the last closes it');
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
