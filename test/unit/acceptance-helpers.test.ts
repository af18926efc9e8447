// The acceptance judges must be able to fail: feed them what a broken server would show.
import t from 'tap';
import { genBytes, sha256 } from '../helpers/guest';
import { mountOf, planManifest, planTree, type TreeManifest } from '../helpers/host-mounts';
import { compareTree, parseScan, type Scan, type ScanEntry } from '../helpers/tree-compare';

/** The bind tree as a server shows it: dev:ino of a, a/inner, a/inner/g, b, b/inner and of
 *  b/inner/`leaf` (the sentinel, or g where the server confused the binds). */
function bindView(ids: string, leaf: string): Scan {
  const [a, ai, ag, b, bi, bl] = ids.split(' ').map((x) => x.split(':'));
  const e = (path: string, [dev, ino]: string[], type: 'd' | 'f', extra: string) => ({ path, type, dev, ino, extra });
  return scan([e('a', a, 'd', '-'), e('a/inner', ai, 'd', '-'), e('a/inner/g', ag, 'f', 'gg'), e('b', b, 'd', '-'),
    e('b/inner', bi, 'd', '-'), e(`b/inner/${leaf}`, bl, 'f', leaf === 'g' ? 'gg' : 'ss')]);
}

function scan(entries: Omit<ScanEntry, 'nlink' | 'size'>[]): Scan {
  const s: Scan = { entries: new Map(), errors: [], rc: 0 };
  for (const e of entries) s.entries.set(e.path, { ...e, nlink: 1, size: e.type === 'f' ? 3 : 0 });
  return s;
}

// Host: F bound at a and b, G mounted at a/inner; F's inner/.sentinel-inner shows only through b.
const manifest: TreeManifest = {
  root: 'binds',
  seed: 1,
  mounts: [
    { id: 'a', rel: 'a', fstype: 'bind', fsKey: 'F', parentId: null },
    { id: 'b', rel: 'b', fstype: 'bind', fsKey: 'F', parentId: null },
    { id: 'a-inner', rel: 'a/inner', fstype: 'tmpfs', fsKey: 'G', parentId: 'a' },
  ],
  files: new Map(),
  hiddenSentinels: ['a/inner/.sentinel-inner'],
  visibleSentinels: ['b/inner/.sentinel-inner'],
};
const host = bindView('10:1 20:1 20:2 10:1 10:5 10:6', '.sentinel-inner');
const failed = (s: Scan) => compareTree(manifest, 'x', s, host).filter((c) => !c.ok).map((c) => c.name.replace(/^binds\/|@x$/g, ''));

t.test('a faithful guest view passes every check', async (t) => {
  const guest = bindView('101:1 102:1 102:2 103:1 103:5 103:6', '.sentinel-inner');
  t.same(failed(guest), []);
});

t.test('a server that confuses the two binds shows the inner mount through b', async (t) => {
  const guest = bindView('101:1 102:1 102:2 101:1 102:1 102:2', 'g');
  const f = failed(guest);
  t.ok(f.includes('paths'), 'missing sentinel, extra b/inner/g');
  t.ok(f.includes('sentinels-hidden'), 'the visible sentinel is gone');
  t.ok(f.includes('st_dev-within-mount'), 'b spans two guest devices');
});

t.test('a sentinel visible through the mount point fails', async (t) => {
  const guest = scan([...host.entries.values(), { path: 'a/inner/.sentinel-inner', type: 'f', dev: '20', ino: '9', extra: 'ss' }]);
  t.ok(failed(guest).includes('sentinels-hidden'));
});

t.test('without submounts, distinct filesystems collide on (st_dev, st_ino)', async (t) => {
  const guest = bindView('1:1 1:1 1:2 1:1 1:5 1:6', '.sentinel-inner');
  const f = failed(guest);
  t.ok(f.includes('st_dev-across-mounts'));
  t.ok(f.includes('inode-identity'));
});

t.test('parseScan reads probe lines, errors and the exit status', async (t) => {
  const s = parseScan(['x f 1 2 1 3 abc', 'ERR y stat 13', '.err oops', '.rc 1']);
  t.equal(s.entries.get('x')?.extra, 'abc');
  t.equal(s.rc, 1);
  t.equal(s.errors.length, 2);
  t.same(parseScan(undefined).errors, ['no scan data received']);
});

t.test('planTree is a pure function of the seed, nested, with both filesystems', async (t) => {
  const a = planTree(1234, 'tree');
  t.same(planTree(1234, 'tree'), a);
  t.not(JSON.stringify(planTree(1235, 'tree')), JSON.stringify(a));
  t.ok(a.mounts.some((m) => m.fstype === 'xfs') && a.mounts.some((m) => m.fstype === 'tmpfs'));
  t.ok(a.mounts.some((m) => m.parentId !== null), 'nested');
  const m = planManifest(a);
  for (const mt of a.mounts) t.equal(mountOf(m, `${mt.rel}/f0.bin`), mt.id);
  t.equal(mountOf(m, 'base.bin'), '');
  const f = a.mounts[0].files[0];
  t.equal(sha256(genBytes(f.size, f.seed)), f.sha256);
});

t.test('genBytes is the xorshift32 keystream of vfsd-probe gen', async (t) => {
  // xorshift32 from 1: first outputs 270369, 67634689 (little endian bytes).
  t.same([...genBytes(8, 1)], [0x21, 0x20, 0x04, 0x00, 0x01, 0x06, 0x08, 0x04]);
  t.equal(genBytes(0, 5).length, 0);
  t.equal(genBytes(7, 5).length, 7);
});
