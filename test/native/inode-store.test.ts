// The inode store (inode-store.ts over inode-columns.ts and slot-hash.ts): node ids are never
// reused, a key found again after its inode was dropped gets a new id, FORGET saturates and never
// resurrects, the root stays, views of dropped inodes never see the slot's next owner, file handle
// bytes round-trip (and open the real file again), and a random run of adds, forgets, drops and
// unlinks agrees with a plain Map model at every step (the hash tables' deletion is the part
// that can go quietly wrong).
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InodeStore, ROOT_ID } from '../../src/passthrough/inode-store';
import { Inode, InodeInit, InodeMap } from '../../src/passthrough/inode';
import { HANDLE_INLINE } from '../../src/passthrough/inode-columns';
import { AT_FDCWD, C, sys } from '../../src/native/sys';

function init(inoLo: number, over: Partial<InodeInit> = {}): InodeInit {
  return {
    mntId: 30, devMajor: 0, devMinor: 42, inoHi: 0, inoLo, fd: -1, handle: null, mode: 0o100644,
    clientIno: inoLo, device: 'dev-a', visibleDevice: 'dev-a', ...over,
  };
}

/** A `struct file_handle` of n bytes (type 1), filled from seed. */
function handleOf(n: number, seed: number, type = 1): Buffer {
  const h = Buffer.alloc(8 + n);
  h.writeUInt32LE(n, 0);
  h.writeInt32LE(type, 4);
  for (let i = 0; i < n; i++) h[8 + i] = (seed * 31 + i * 7) & 0xff;
  return h;
}

/** What the release callback saw: the inode is still live then (its fd is there to close). */
interface Released { nodeid: number; fd: number }

function storeWithRoot(released: Released[] = []): InodeStore {
  const s = new InodeStore((inode) => released.push({ nodeid: inode.nodeid, fd: inode.fd }));
  const root = s.add(init(2, { mode: 0o40755 }), true);
  root.nlookup = 1;
  return s;
}

t.test('node ids are monotonic and never reused after FORGET', async (t) => {
  const s = storeWithRoot();
  const a = s.add(init(100));
  a.nlookup = 1;
  t.equal(a.nodeid, 2, 'first id after the root');
  s.forget(a.nodeid, 1);
  t.equal(s.get(a.nodeid), undefined, 'forgotten');
  t.equal(s.findByKey(init(100)), undefined, 'and its key with it');
  const again = s.add(init(100));
  t.equal(again.nodeid, 3, 'the same key later gets a new id');
  t.equal(again.slot, a.slot, 'in the freed slot');
  t.equal(s.get(2), undefined, 'the old id still misses');
  const b = s.add(init(101));
  t.ok(b.nodeid > again.nodeid, 'ids keep growing');
  t.equal(s.size, 3);
});

t.test('a key dropped (stale handle) or unlinked is found no more; the node id of an unlinked one stays', async (t) => {
  const released: Released[] = [];
  const s = storeWithRoot(released);
  const a = s.add(init(7, { fd: 55 }));
  a.nlookup = 2;
  t.equal(s.findByKey(init(7))?.nodeid, a.nodeid);
  s.unlinkKey(a);
  t.equal(s.findByKey(init(7)), undefined, 'unlinked key misses');
  t.equal(s.get(a.nodeid)?.fd, 55, 'the node id still works until FORGET');
  const b = s.add(init(7, { fd: 56 }));
  t.not(b.nodeid, a.nodeid, 'a new object under the same key gets a new id');
  t.equal(s.findByKey(init(7))?.nodeid, b.nodeid);
  s.forget(a.nodeid, 2);
  t.equal(s.findByKey(init(7))?.nodeid, b.nodeid, "forgetting the old one leaves the new one's key");
  t.same(released.map((i) => i.nodeid), [a.nodeid], 'released once');
  s.drop(b);
  t.equal(s.findByKey(init(7)), undefined);
  t.equal(s.get(b.nodeid), undefined);
  s.drop(b);
  t.equal(released.length, 2, 'a second drop of the same inode does nothing');
  // Adding a key that is still linked unlinks the old inode (one inode per key).
  const c = s.add(init(8));
  const d = s.add(init(8));
  t.equal(s.findByKey(init(8))?.nodeid, d.nodeid);
  t.ok(s.get(c.nodeid), 'the older one keeps its node id');
});

t.test('keys tell mount id, device and both halves of the inode number apart', async (t) => {
  const s = storeWithRoot();
  const variants: Partial<InodeInit>[] = [
    {}, { mntId: 31 }, { devMajor: 8 }, { devMinor: 43 }, { inoHi: 1 }, { mntId: 2 ** 40 + 30 }, { inoHi: 0xffffffff, inoLo: 9 },
  ];
  const ids = variants.map((v) => s.add(init(9, v)).nodeid);
  t.equal(new Set(ids).size, variants.length);
  variants.forEach((v, i) => t.equal(s.findByKey(init(9, v))?.nodeid, ids[i], JSON.stringify(v)));
});

t.test('FORGET saturates at 0, never resurrects; the root is never released', async (t) => {
  const released: Released[] = [];
  const s = storeWithRoot(released);
  const a = s.add(init(10, { fd: 77 }));
  a.nlookup = 3;
  s.forget(a.nodeid, 1);
  t.equal(s.get(a.nodeid)?.nlookup, 2);
  s.forget(a.nodeid, 2 ** 60);
  t.equal(s.get(a.nodeid), undefined, 'more than held: gone');
  t.equal(released.length, 1);
  t.equal(released[0].fd, 77, 'release sees the live inode (its fd to close)');
  s.forget(a.nodeid, 1);
  t.equal(released.length, 1, 'FORGET of a forgotten id does nothing');
  a.nlookup = 5;
  t.equal(a.nlookup, 0, 'a dropped view cannot be given lookups');
  t.equal(s.get(a.nodeid), undefined, 'nor come back');
  s.forget(12345, 1);
  s.forget(ROOT_ID, 100);
  t.equal(s.get(ROOT_ID)?.nlookup, 1, 'the root ignores FORGET');
  t.throws(() => s.add(init(3), true), 'a second root is refused');
});

t.test('a view outliving its inode never sees the slot next owner', async (t) => {
  const s = storeWithRoot();
  const a = s.add(init(20, { fd: 40, handle: handleOf(12, 1), mode: 0o40700, clientIno: 2n ** 63n + 5n }));
  a.nlookup = 1;
  s.forget(a.nodeid, 1);
  const b = s.add(init(21, { fd: 41, handle: handleOf(12, 2) }));
  t.equal(b.slot, a.slot, 'slot reused');
  t.equal(a.live, false);
  t.equal(a.fd, -1, 'no fd');
  t.equal(a.hasHandle, false, 'no handle');
  t.equal(a.handleInto(Buffer.alloc(200)), -1);
  t.equal(a.handleEquals(handleOf(12, 2)), false);
  a.fd = 99;
  t.equal(b.fd, 41, "writing through a dead view leaves the slot's owner alone");
  t.equal(a.mode, 0o40700, 'what never changes is still answered');
  t.equal(a.clientIno, 2n ** 63n + 5n);
  t.equal(a.device, 'dev-a');
  t.equal(b.live, true);
});

t.test('file handle bytes round-trip, inline and long, and compare exactly', async (t) => {
  const s = storeWithRoot();
  const out = Buffer.alloc(8 + 128);
  for (const n of [0, 8, 12, HANDLE_INLINE, HANDLE_INLINE + 1, 40, 128]) {
    const h = handleOf(n, n, -n);
    const inode = s.add(init(1000 + n, { handle: h }));
    t.equal(inode.hasHandle, true);
    t.equal(inode.handleInto(out), 8 + n, `${n} bytes: length`);
    t.same(out.subarray(0, 8 + n), h, `${n} bytes: the same struct file_handle`);
    t.same(s.get(inode.nodeid)?.handle, h);
    t.equal(inode.handleEquals(h), true);
    t.equal(inode.handleEquals(handleOf(n, n, -n + 1)), false, 'another type');
    if (n > 0) t.equal(inode.handleEquals(handleOf(n, n + 1, -n)), false, 'other bytes');
    t.equal(inode.handleEquals(handleOf(n + 4, n, -n)), false, 'another length');
  }
  const none = s.add(init(5000));
  t.equal(none.hasHandle, false);
  t.equal(none.handle, null);
  t.equal(none.handleEquals(handleOf(8, 1)), false);
  t.equal(s.add(init(5001, { handle: handleOf(8, 1) })).handleInto(Buffer.alloc(10)), -1, 'too small an output buffer');
});

t.test("a stored handle of a real file opens that file", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-inode-store-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'f'), 'x');
  const scratch = Buffer.alloc(8 + 128);
  const mnt = sys.nameToHandleAt(AT_FDCWD, path.join(dir, 'f'), 0, scratch);
  t.ok(mnt >= 0, 'name_to_handle_at');
  const s = storeWithRoot();
  const inode = s.add(init(77, { handle: scratch }));
  scratch.fill(0); // the store copied the bytes
  const mountFd = sys.openat(AT_FDCWD, dir, C.O_RDONLY | C.O_DIRECTORY, 0);
  t.teardown(() => sys.close(mountFd));
  const out = Buffer.alloc(8 + 128);
  t.ok(inode.handleInto(out) > 8);
  const fd = sys.openByHandleAt(mountFd, out, C.O_RDONLY);
  t.ok(fd >= 0, 'open_by_handle_at with the stored handle');
  t.equal(fs.fstatSync(fd).ino, fs.statSync(path.join(dir, 'f')).ino, 'the same file');
  sys.close(fd);
});

t.test('clear releases everything but the root', async (t) => {
  const released: Released[] = [];
  const s = storeWithRoot(released);
  for (let i = 0; i < 50; i++) s.add(init(100 + i, { fd: 1000 + i })).nlookup = 1;
  s.clear();
  t.equal(s.size, 1);
  t.equal(released.length, 50);
  t.same(released.map((i) => i.fd).sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => 1000 + i));
  t.ok(s.get(ROOT_ID));
  t.equal(s.findByKey(init(2))?.nodeid, ROOT_ID, 'the root keeps its key');
  t.same([...s.all()].map((i) => i.nodeid), [ROOT_ID]);
  t.equal(s.add(init(100)).nodeid, 52, 'ids go on after a clear');
});

t.test('InodeMap keys by store and node id, not by view object', async (t) => {
  const s1 = storeWithRoot();
  const s2 = storeWithRoot();
  const a1 = s1.add(init(5));
  const a2 = s2.add(init(5));
  t.equal(a1.nodeid, a2.nodeid, 'the same node id in two stores');
  const m = new InodeMap<string>();
  m.set(a1, 'one');
  t.equal(m.get(s1.get(a1.nodeid)!), 'one', 'another view of the same inode');
  t.equal(m.get(a2), undefined, "the other store's inode");
  t.equal(m.delete(a1), true);
  t.equal(m.get(a1), undefined);
});

t.test('many inodes: a random run agrees with a Map model', async (t) => {
  // Keys collide on purpose in their low bits and across devices; ids and keys are checked
  // after every step against the model, and everything at the end.
  const s = storeWithRoot();
  const byId = new Map<number, { key: InodeInit; lookups: number }>();
  const byKey = new Map<string, number>();
  const kstr = (k: InodeInit) => `${k.mntId}:${k.devMajor}:${k.devMinor}:${k.inoHi}:${k.inoLo}`;
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const randKey = () => init(rnd(4) * 65536 + rnd(60000), { devMinor: 42 + rnd(3), inoHi: rnd(10) === 0 ? 1 : 0, handle: handleOf(12, rnd(1000)) });
  // live ids in an array (swap-remove) for a uniform random pick
  const live: number[] = [];
  const pos = new Map<number, number>();
  const gone = (id: number) => {
    const i = pos.get(id)!;
    const last = live.pop()!;
    if (last !== id) {
      live[i] = last;
      pos.set(last, i);
    }
    pos.delete(id);
  };
  let bad = 0;
  let maxSize = 0;
  for (let step = 0; step < 100_000; step++) {
    const op = rnd(10);
    if (op < 6 || byId.size === 0) {
      const k = randKey();
      const old = byKey.get(kstr(k));
      const inode = s.add(k);
      inode.nlookup = 1 + rnd(3);
      byId.set(inode.nodeid, { key: k, lookups: inode.nlookup });
      byKey.set(kstr(k), inode.nodeid);
      pos.set(inode.nodeid, live.length);
      live.push(inode.nodeid);
      if (old !== undefined && s.findByKey(k)?.nodeid !== inode.nodeid) bad++;
    } else {
      const id = live[rnd(live.length)];
      const m = byId.get(id)!;
      if (op < 9) {
        const n = 1 + rnd(3);
        s.forget(id, n);
        m.lookups = Math.max(0, m.lookups - n);
        if (m.lookups === 0) {
          byId.delete(id);
          gone(id);
          if (byKey.get(kstr(m.key)) === id) byKey.delete(kstr(m.key));
        }
      } else {
        s.unlinkKey(s.get(id)!);
        if (byKey.get(kstr(m.key)) === id) byKey.delete(kstr(m.key));
      }
    }
    maxSize = Math.max(maxSize, byId.size);
    if (s.size !== byId.size + 1) bad++;
    if (step % 5000 === 0) {
      for (const [id, m] of byId) {
        const inode = s.get(id);
        if (!inode || inode.nlookup !== m.lookups || inode.clientIno !== m.key.clientIno || !inode.handleEquals(m.key.handle!)) bad++;
      }
      for (const id of byKey.values()) if (s.findByKey(byId.get(id)!.key)?.nodeid !== id) bad++;
    }
  }
  // Every key never linked or unlinked must miss; every live id must hit.
  for (let i = 0; i < 70000; i++) {
    const k = init(i, { devMinor: 44 });
    if ((s.findByKey(k)?.nodeid ?? -1) !== (byKey.get(kstr(k)) ?? -1)) bad++;
  }
  for (const [id, m] of byId) if (s.get(id)?.nodeid !== id || s.get(id)?.mntId !== m.key.mntId) bad++;
  t.equal(bad, 0, 'no disagreement with the model');
  t.ok(maxSize > 1000, `the store held many inodes at once (${maxSize})`);
  t.equal([...s.all()].length, byId.size + 1, 'all() yields every live inode');
});
