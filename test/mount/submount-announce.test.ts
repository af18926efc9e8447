// Submount announcement at the protocol level: which entry replies carry FUSE_ATTR_SUBMOUNT.
// A real FuseServer + PassthroughFs on an export with a tmpfs mounted inside (other st_dev), a
// bind mount of a sibling directory (same st_dev, other mount id), a plain directory and a file;
// the requests come from an in-memory channel so the client's INIT offer can be chosen (only
// virtio-fs guests offer FUSE_SUBMOUNTS; /dev/fuse never does).
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import * as P from '../../src/protocol';
import { PassthroughFs } from '../../src/passthrough/passthrough-fs';
import { PassthroughFileSystem } from '../../src/passthrough/file-system';
import { defaultPassthroughConfig } from '../../src/passthrough/config';
import { FuseServer } from '../../src/server/session';
import { silentLogger } from '../../src/log/logger';
import { tempBase } from '../helpers/vfsd-process';
import { MemoryChannel } from '../helpers/memory-channel';
import { entryOf, fhOf } from '../helpers/fuse-replies';
import { initIn, name, openIn, readIn, req } from '../helpers/fuse-requests';
import { Credentials } from '../../src/passthrough/credentials';

const root = process.geteuid?.() === 0;
const ROOT = 1;
const ATTR_FLAGS = 40 + 84; // fuse_entry_out: 40 bytes, then fuse_attr whose flags are at 84

function session(dir: string, offer: boolean, announce: boolean) {
  const pfs = new PassthroughFs(defaultPassthroughConfig(dir), new Credentials(false));
  const ch = new MemoryChannel();
  const srv = new FuseServer(ch, new PassthroughFileSystem(pfs), {
    readOnly: false, maxWrite: 1 << 20, announceSubmounts: announce, posixLocks: true, flock: true,
    passthrough: false, cacheAlways: false,
  }, silentLogger);
  srv.start();
  const flags = offer ? 0xffffffff : (0xffffffff & ~P.InitFlag.SUBMOUNTS) >>> 0;
  const init = ch.send(req(P.Op.INIT, 0, initIn(45, flags)))[0];
  if (init.errno !== 0) throw new Error(`INIT failed: ${init.errno}`);
  const lookupFlags = (n: string) => {
    const a = ch.send(req(P.Op.LOOKUP, ROOT, name(n)))[0];
    if (a.errno !== 0) throw new Error(`LOOKUP ${n}: errno ${a.errno}`);
    return a.data.readUInt32LE(ATTR_FLAGS);
  };
  /** READDIRPLUS of the root: attr flags by entry name (entries with a nodeid only). */
  const plusFlags = () => {
    const fh = fhOf(ch.send(req(P.Op.OPENDIR, ROOT, openIn(0)))[0].data);
    const out = new Map<string, number>();
    let off = 0;
    for (;;) {
      const a = ch.send(req(P.Op.READDIRPLUS, ROOT, readIn(fh, off, 65536)))[0];
      if (a.errno !== 0 || a.data.length === 0) break;
      for (let p = 0; p < a.data.length;) {
        const e = entryOf(a.data.subarray(p));
        const d = p + 128;
        off = Number(a.data.readBigUInt64LE(d + 8));
        const len = a.data.readUInt32LE(d + 16);
        const nm = a.data.subarray(d + 24, d + 24 + len).toString();
        if (e.nodeid !== 0) out.set(nm, a.data.readUInt32LE(p + ATTR_FLAGS));
        p = d + ((24 + len + 7) & ~7);
      }
    }
    return out;
  };
  const mkdirFlags = (n: string) => {
    const body = Buffer.alloc(8);
    body.writeUInt32LE(0o755, 0);
    const a = ch.send(req(P.Op.MKDIR, ROOT, Buffer.concat([body, name(n)])))[0];
    if (a.errno !== 0) throw new Error(`MKDIR ${n}: errno ${a.errno}`);
    return a.data.readUInt32LE(ATTR_FLAGS);
  };
  return { lookupFlags, plusFlags, mkdirFlags };
}

t.test('FUSE_ATTR_SUBMOUNT in entry replies', { skip: !root && 'needs root (mounts)' }, async (t) => {
  const base = tempBase('vfsd-it-submount-');
  const dir = path.join(base, 'export');
  for (const d of ['plain', 'tm', 'bind', 'sibling']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.writeFileSync(path.join(dir, 'file'), 'x');
  execFileSync('mount', ['-t', 'tmpfs', 'vfsd-submount-test', path.join(dir, 'tm')]);
  execFileSync('mount', ['--bind', path.join(dir, 'sibling'), path.join(dir, 'bind')]);
  t.teardown(() => {
    for (const m of ['bind', 'tm']) {
      try { execFileSync('umount', ['-l', path.join(dir, m)]); } catch { /* not mounted */ }
    }
    fs.rmSync(base, { recursive: true, force: true });
  });
  const S = P.FUSE_ATTR_SUBMOUNT;

  t.test('client offered FUSE_SUBMOUNTS, --announce-submounts on', async (t) => {
    const s = session(dir, true, true);
    t.equal(s.lookupFlags('tm') & S, S, 'LOOKUP of a tmpfs mount point (other st_dev): announced');
    t.equal(s.lookupFlags('bind') & S, S, 'LOOKUP of a bind mount (same st_dev, other mount id): announced');
    t.equal(s.lookupFlags('plain') & S, 0, 'a plain directory: not announced');
    t.equal(s.lookupFlags('file') & S, 0, 'a file: never announced');
    const plus = s.plusFlags();
    t.equal((plus.get('tm') ?? -1) & S, S, 'READDIRPLUS entry of the tmpfs: announced');
    t.equal((plus.get('bind') ?? -1) & S, S, 'READDIRPLUS entry of the bind mount: announced');
    t.equal(plus.get('plain'), 0, 'READDIRPLUS entry of a plain directory: not announced');
    t.equal(plus.get('file'), 0, 'READDIRPLUS entry of a file: not announced');
    t.equal(s.mkdirFlags('newdir') & S, 0, 'MKDIR: a new directory is on its parent\'s filesystem');
  });

  t.test('client did not offer FUSE_SUBMOUNTS (every /dev/fuse client)', async (t) => {
    const s = session(dir, false, true);
    t.equal(s.lookupFlags('tm') & S, 0, 'not announced to a client that cannot take it');
    t.equal((s.plusFlags().get('tm') ?? -1) & S, 0, 'nor in READDIRPLUS');
  });

  t.test('--no-announce-submounts', async (t) => {
    const s = session(dir, true, false);
    t.equal(s.lookupFlags('tm') & S, 0, 'not announced');
    t.equal(s.lookupFlags('bind') & S, 0, 'not announced');
  });
});
