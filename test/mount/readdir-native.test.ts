// READDIR and READDIRPLUS as the native encoder (native/dir_encode.cc) produces them, checked
// against the host directory itself:
// - through a real mount: odd names (255 bytes, non-UTF-8 bytes), every file type, d_ino and
//   d_type equal to the host's, with READDIRPLUS (default), READDIRPLUS on every batch (a reader
//   that stats as it goes) and plain READDIR (--no-readdirplus);
// - a directory the host changes between two getdents calls of one listing;
// - multidevs=remap: d_ino of a large directory on another device (the native rule with a remap
//   prefix) equals the remapped st_ino, in READDIR and READDIRPLUS alike;
// - in-process, requests the kernel would not send: a reply too small for one entry, offsets
//   the client makes up, an offset in the middle of a listing.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AT_FDCWD, C, sys } from '../../src/native/sys';
import * as P from '../../src/protocol';
import { PassthroughFs } from '../../src/passthrough/passthrough-fs';
import { PassthroughFileSystem } from '../../src/passthrough/file-system';
import { defaultPassthroughConfig } from '../../src/passthrough/config';
import { FuseServer } from '../../src/server/session';
import { silentLogger } from '../../src/log/logger';
import { startVfsd, tempBase } from '../helpers/vfsd-process';
import { errnoName } from '../helpers/compare';
import { MemoryChannel } from '../helpers/memory-channel';
import { fhOf } from '../helpers/fuse-replies';
import { initIn, openIn, readIn, releaseIn, req } from '../helpers/fuse-requests';
import { MultidevsEnv, lstatIno } from '../helpers/multidevs-env';
import { Credentials } from '../../src/passthrough/credentials';

const root = process.geteuid?.() === 0;

interface Dent {
  ino: bigint;
  type: number;
}

/** getdents64 of a directory: raw names (latin1, so any byte survives) -> d_ino and d_type.
 *  afterBatch runs after every getdents64 call with the batch's names. */
function listRaw(dir: string, bufSize = 64 * 1024, afterBatch?: (names: string[]) => void): { map: Map<string, Dent>; dups: string[] } {
  const fd = sys.openat(AT_FDCWD, dir, C.O_RDONLY | C.O_DIRECTORY, 0);
  if (fd < 0) throw new Error(`open ${dir}: ${errnoName(-fd)}`);
  const buf = Buffer.alloc(bufSize);
  const map = new Map<string, Dent>();
  const dups: string[] = [];
  try {
    for (;;) {
      const n = sys.getdents64(fd, buf);
      if (n < 0) throw new Error(`getdents64 ${dir}: ${errnoName(-n)}`);
      if (n === 0) break;
      const names: string[] = [];
      for (let p = 0; p < n;) {
        const reclen = buf.readUInt16LE(p + 16);
        const end = buf.indexOf(0, p + 19);
        const name = buf.toString('latin1', p + 19, end);
        if (map.has(name)) dups.push(name);
        map.set(name, { ino: buf.readBigUInt64LE(p), type: buf[p + 18]! });
        names.push(name);
        p += reclen;
      }
      afterBatch?.(names);
    }
  } finally {
    sys.close(fd);
  }
  return { map, dups };
}

/** Differences between two listings, without "." and ".." (their d_ino differ at the mount). */
function differences(got: Map<string, Dent>, want: Map<string, Dent>): string {
  const bad: string[] = [];
  for (const [name, w] of want) {
    if (name === '.' || name === '..') continue;
    const g = got.get(name);
    if (!g) bad.push(`${JSON.stringify(name)} missing`);
    else if (g.ino !== w.ino || g.type !== w.type) bad.push(`${JSON.stringify(name)}: ino ${g.ino}/${w.ino} type ${g.type}/${w.type}`);
  }
  for (const name of got.keys()) if (!want.has(name)) bad.push(`${JSON.stringify(name)} extra`);
  return bad.length ? `${bad.length} differ, e.g. ${bad.slice(0, 3).join('; ')}` : '';
}

function fillOdd(dir: string): void {
  // 300 names of 255 bytes: ~160 per 64 KiB READDIRPLUS reply, ~230 per READDIR reply.
  for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(dir, `${String(i).padStart(4, '0')}${'n'.repeat(251)}`), '');
  // Names that are not UTF-8, and one with every printable oddity.
  for (let i = 0; i < 20; i++) {
    const fd = sys.openat(AT_FDCWD, Buffer.concat([Buffer.from(dir + '/'), Buffer.from([0xff, 0xfe, 0x80 + i])]), C.O_CREAT | C.O_WRONLY, 0o644);
    if (fd < 0) throw new Error(`create raw name: ${errnoName(-fd)}`);
    sys.close(fd);
  }
  fs.writeFileSync(path.join(dir, ' sp ace\t"\\\''), 'x');
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.symlinkSync('nowhere', path.join(dir, 'link'));
  sys.mknodat(AT_FDCWD, path.join(dir, 'fifo'), C.S_IFIFO | 0o644, 0, 0);
  sys.mknodat(AT_FDCWD, path.join(dir, 'null'), C.S_IFCHR | 0o644, 1, 3);
  for (let i = 0; i < 1500; i++) fs.writeFileSync(path.join(dir, `f${i}`), '');
}

t.test('odd names and every type, listed through the mount', { skip: !root && 'needs root' }, async (t) => {
  for (const mode of ['readdirplus', 'stat-as-you-go', 'no-readdirplus'] as const) {
    await t.test(mode, async (t) => {
      const v = await startVfsd(t, { prepare: (src) => fillOdd(src), args: mode === 'no-readdirplus' ? ['--no-readdirplus'] : [] });
      const host = listRaw(v.src).map;
      t.ok(host.size > 1800, `the host directory has ${host.size} entries`);
      for (const size of [64 * 1024, 4096, 300]) {
        const got = listRaw(v.mnt, size, mode === 'stat-as-you-go' ? (names) => {
          // A lookup between batches: the kernel asks for the next batch with READDIRPLUS again.
          const last = names[names.length - 1]!;
          fs.lstatSync(Buffer.concat([Buffer.from(v.mnt + '/'), Buffer.from(last, 'latin1')]));
        } : undefined);
        t.equal(differences(got.map, host), '', `getdents with a ${size}-byte buffer: same names, d_ino and d_type`);
        t.same(got.dups, [], 'no name twice');
      }
      // ".." of the export root is the root itself: its host parent is outside the export.
      const rootIno = BigInt(fs.statSync(v.src).ino);
      t.equal(listRaw(v.mnt).map.get('..')?.ino, rootIno, '".." of the export root has the root\'s d_ino');
      t.equal(listRaw(v.mnt, 300).map.get('..')?.ino, rootIno, 'also in small replies');
      // READDIRPLUS attributes: what stat through the mount says (it comes from the entry the
      // kernel got in READDIRPLUS, or from a LOOKUP) is the host's.
      for (const name of ['sub', 'link', 'fifo', 'null', 'f7', '0001' + 'n'.repeat(251)]) {
        const a = fs.lstatSync(path.join(v.mnt, name)), b = fs.lstatSync(path.join(v.src, name));
        t.same([a.ino, a.mode, a.size, a.nlink, a.uid, a.gid, a.rdev, a.mtimeMs], [b.ino, b.mode, b.size, b.nlink, b.uid, b.gid, b.rdev, b.mtimeMs], `lstat ${name.slice(0, 8)}`);
      }
      await v.stop();
    });
  }
});

t.test('the host changes the directory between two getdents calls of one listing', { skip: !root && 'needs root' }, async (t) => {
  const v = await startVfsd(t, { prepare: (src) => { for (let i = 0; i < 3000; i++) fs.writeFileSync(path.join(src, `a${i}`), ''); } });
  const original = new Set(fs.readdirSync(v.src));
  const removed = new Set<string>();
  const added = new Set<string>();
  let batches = 0;
  const got = listRaw(v.mnt, 4096, () => {
    if (batches++ !== 1) return;
    // After the second batch: remove names on both sides of the cursor, add new ones.
    for (let i = 0; i < 3000; i += 7) {
      fs.unlinkSync(path.join(v.src, `a${i}`));
      removed.add(`a${i}`);
    }
    for (let i = 0; i < 200; i++) {
      fs.writeFileSync(path.join(v.src, `b${i}`), '');
      added.add(`b${i}`);
    }
  });
  t.ok(batches > 3, `listed in ${batches} batches`);
  t.same(got.dups, [], 'no name twice');
  const unexpected = [...got.map.keys()].filter((n) => n !== '.' && n !== '..' && !original.has(n) && !added.has(n));
  t.same(unexpected, [], 'no name that never existed');
  const lost = [...original].filter((n) => !removed.has(n) && !got.map.has(n));
  t.same(lost, [], 'every name present throughout is listed');
  const host = listRaw(v.src).map;
  const wrong = [...got.map].filter(([n, d]) => n !== '.' && n !== '..' && host.has(n) && host.get(n)!.ino !== d.ino);
  t.same(wrong, [], 'the listed names that still exist have their host d_ino');
  t.equal(differences(listRaw(v.mnt).map, host), '', 'a fresh listing is the host\'s');
  await v.stop();
});

t.test('multidevs=remap: d_ino of a large directory on another device', { skip: !root && 'needs root' }, async (t) => {
  for (const args of [[], ['--no-readdirplus']]) {
    await t.test(args.join(' ') || 'default', async (t) => {
      const env = new MultidevsEnv(t, { btrfs: false });
      for (let i = 0; i < 1200; i++) {
        fs.writeFileSync(env.path(`t1/m${i}`), '');
        fs.writeFileSync(env.path(`d/m${i}`), '');
      }
      const vfsd = await env.start(args);
      for (const rel of ['t1', 'd']) {
        const listed = listRaw(env.via(rel)).map;
        t.ok(listed.size > 1200, `${rel}: ${listed.size} entries`);
        const bad: string[] = [];
        for (const [name, d] of listed) {
          if (name === '.' || name === '..') continue;
          const ino = lstatIno(env.via(`${rel}/${name}`));
          if (ino !== d.ino) bad.push(`${name}: d_ino ${d.ino} st_ino ${ino}`);
        }
        t.same(bad.slice(0, 3), [], `${rel}: every d_ino is the client's st_ino`);
        const remapped = [...listed].filter(([n, d]) => n !== '.' && n !== '..' && d.ino >= 1n << 63n).length;
        t.equal(remapped, rel === 't1' ? listed.size - 2 : 0, rel === 't1' ? 'all remapped on the other tmpfs' : 'none remapped on the export\'s device');
      }
      await vfsd.stop();
    });
  }
});

t.test('in-process: replies too small, made-up offsets, an offset mid-listing', { skip: !root && 'needs root' }, async (t) => {
  const base = tempBase('vfsd-it-rdn-');
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  const names: string[] = [];
  for (let i = 0; i < 50; i++) {
    names.push(`e${i}`);
    fs.writeFileSync(path.join(base, `e${i}`), '');
  }
  const pfs = new PassthroughFs(defaultPassthroughConfig(base), new Credentials(false));
  const ch = new MemoryChannel();
  const srv = new FuseServer(ch, new PassthroughFileSystem(pfs), {
    readOnly: false, maxWrite: 1 << 20, announceSubmounts: false, posixLocks: true, flock: true, passthrough: false, cacheAlways: false,
  }, silentLogger);
  srv.start();
  t.equal(ch.send(req(P.Op.INIT, 0, initIn()))[0]?.errno, 0, 'INIT');

  const opendir = () => fhOf(ch.send(req(P.Op.OPENDIR, 1, openIn(C.O_RDONLY)))[0]!.data);
  /** One READDIR(PLUS): [name, off, nodeid] per entry, or the errno. */
  const read = (plus: boolean, fh: bigint, offset: number, size: number): Array<[string, number, bigint]> | number => {
    const a = ch.send(req(plus ? P.Op.READDIRPLUS : P.Op.READDIR, 1, readIn(fh, offset, size)))[0]!;
    if (a.errno) return a.errno;
    t.ok(a.data.length <= size, `reply of ${a.data.length} bytes within ${size}`);
    const out: Array<[string, number, bigint]> = [];
    for (let p = 0; p < a.data.length;) {
      const nodeid = plus ? a.data.readBigUInt64LE(p) : 0n;
      const d = plus ? p + 128 : p;
      const len = a.data.readUInt32LE(d + 16);
      out.push([a.data.toString('latin1', d + 24, d + 24 + len), Number(a.data.readBigUInt64LE(d + 8)), nodeid]);
      p = d + ((24 + len + 7) & ~7);
    }
    return out;
  };
  for (const plus of [false, true]) {
    const fh = opendir();
    t.same(read(plus, fh, 0, 10), [], `${plus ? 'READDIRPLUS' : 'READDIR'} of 10 bytes: no entry fits, an empty reply`);
    const all = read(plus, fh, 0, 64 * 1024) as Array<[string, number, bigint]>;
    t.same(all.map((e) => e[0]).filter((n) => n !== '.' && n !== '..').sort(), [...names].sort(), 'then the whole listing');
    t.same(all.map((e) => e[1]), all.map((_, i) => i + 1), 'offsets are ordinals');
    if (plus) t.ok(all.filter((e) => e[0] !== '.' && e[0] !== '..').every((e) => e[2] > 1n), 'every entry has a node id');
    t.same(read(plus, fh, 1_000_000, 4096), [], 'an offset past the end: empty');
    t.same(read(plus, fh, 2 ** 40, 4096), [], 'an offset no listing reaches: empty');
    const rest = read(plus, fh, 20, 64 * 1024) as Array<[string, number, bigint]>;
    t.same(rest.map((e) => e[0]), all.slice(20).map((e) => e[0]), 'from offset 20: the entries after the 20th');
    const again = read(plus, fh, 5, 200) as Array<[string, number, bigint]>;
    t.same(again.map((e) => e[0]), all.slice(5, 5 + again.length).map((e) => e[0]), 'backwards to 5, a small reply: the entries after the 5th');
    t.ok(again.length >= 1, `${again.length} entries fit in 200 bytes`);
    t.equal(ch.send(req(P.Op.RELEASEDIR, 1, releaseIn(fh)))[0]?.errno, 0, 'RELEASEDIR');
  }
});
