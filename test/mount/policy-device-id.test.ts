import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { devKey, nestedDeviceId, parseMountInfo, resolveDeviceIds, stableDeviceId, type MountInfoEntry } from '../../src/policy/device-id';
import { MultidevsPolicy } from '../../src/policy/multidevs';
import { openShareStateStore } from '../../src/state/share-state';

const SAMPLE = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro',
  '36 22 0:45 / /srv/my\\040export/a rw,relatime shared:20 master:3 - tmpfs tmpfs rw,size=1024k,inode64',
  '37 22 0:46 /sub\\134dir /srv/tab\\011x rw - btrfs /dev/vdb rw,subvolid=257,subvol=/@home/sub\\134dir',
  '38 22 0:47 / /mnt/nl\\012 rw - overlay overlay rw,lowerdir=/a',
  'garbage line',
  '39 22 0:48 / /mnt/noopt rw - 9p',
  '',
  'x 22 0:49 / /bad rw - tmpfs tmpfs rw',
  '40 22 0:50 / /mnt/raw\\377 rw - tmpfs tmpfs rw',
].join('\n');

t.test('parseMountInfo: fields, optional fields, octal escapes, bad lines skipped', async (t) => {
  const e = parseMountInfo(SAMPLE);
  t.equal(e.length, 5);
  t.same(e[0], { mntId: 22, parentId: 1, major: 8, minor: 1, root: '/', mountPoint: '/', fsType: 'ext4', source: '/dev/sda1', superOptions: 'rw,errors=remount-ro' });
  t.equal(e[1]!.mountPoint, '/srv/my export/a', '\\040 is a space');
  t.equal(e[1]!.major, 0);
  t.equal(e[1]!.minor, 45);
  t.equal(e[2]!.root, '/sub\\dir', '\\134 is a backslash');
  t.equal(e[2]!.mountPoint, '/srv/tab\tx', '\\011 is a tab');
  t.equal(e[3]!.mountPoint, '/mnt/nl\n', '\\012 is a newline');
  t.same(Buffer.from(e[4]!.mountPoint), Buffer.from(Buffer.from('/mnt/raw\ufffd')), 'a non-UTF-8 byte decodes like any other');
  t.same(parseMountInfo(Buffer.from(SAMPLE)), e, 'bytes and text parse alike');
});

t.test('stableDeviceId rules', async (t) => {
  const [ext4, tmpfs, btrfs, overlay] = parseMountInfo(SAMPLE) as [MountInfoEntry, MountInfoEntry, MountInfoEntry, MountInfoEntry];
  t.equal(stableDeviceId(ext4), 'ext4:/dev/sda1');
  t.equal(stableDeviceId(ext4, 'U-1'), 'ext4:uuid=U-1');
  t.equal(stableDeviceId({ ...ext4, root: '/sub', mountPoint: '/elsewhere' }), 'ext4:/dev/sda1', 'a bind mount of a subtree is the same device');
  t.equal(stableDeviceId(btrfs), 'btrfs:src=/dev/vdb:subvolid=257');
  t.equal(stableDeviceId(btrfs, 'U-2'), 'btrfs:uuid=U-2:subvolid=257', 'btrfs subvolumes share the uuid: the subvolume id tells them apart');
  t.equal(stableDeviceId({ ...btrfs, superOptions: 'rw' }), 'btrfs:src=/dev/vdb:root=/sub\\dir');
  t.equal(stableDeviceId(tmpfs, undefined, '/srv/my export'), 'tmpfs:tmpfs:/@export:a', 'tmpfs: mount point relative to the export');
  t.equal(stableDeviceId(tmpfs, undefined, '/srv/my export/'), 'tmpfs:tmpfs:/@export:a');
  t.equal(stableDeviceId(tmpfs, undefined, '/srv/my export/a'), 'tmpfs:tmpfs:/@export:.');
  t.equal(stableDeviceId(tmpfs, undefined, '/srv/my'), 'tmpfs:tmpfs:/@/srv/my export/a', 'outside the export: absolute mount point');
  t.equal(stableDeviceId(overlay), 'overlay:overlay:/@/mnt/nl\n');
  t.equal(nestedDeviceId('btrfs:uuid=U-2:subvolid=257', 'snap/1'), 'btrfs:uuid=U-2:subvolid=257+nested:snap/1');
});

t.test('resolveDeviceIds: one id per st_dev, bind mounts agree', async (t) => {
  const text = [
    '50 22 0:60 / /other/t rw - tmpfs tmpfs rw',
    '51 22 0:60 /d /exp/z rw - tmpfs tmpfs rw',
    '52 22 0:60 / /exp/b rw - tmpfs tmpfs rw',
    '53 22 0:61 / /exp/a rw - tmpfs tmpfs rw',
  ].join('\n');
  const ids = resolveDeviceIds(parseMountInfo(text), { exportRoot: '/exp', uuidByDev: new Map([['0:99', 'x']]) });
  t.equal(ids.get('0:60'), 'tmpfs:tmpfs:/@export:b', 'inside the export, shortest then smallest mount point');
  t.equal(ids.get('0:61'), 'tmpfs:tmpfs:/@export:a');
  const ids2 = resolveDeviceIds(parseMountInfo(text + '\n60 22 8:3 / /exp/u rw - ext4 /dev/sdc rw'), { uuidByDev: new Map([['8:3', 'UU']]) });
  t.equal(ids2.get('8:3'), 'ext4:uuid=UU');
});

function majorMinor(dev: number): [number, number] {
  const d = BigInt(dev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  return [major, minor];
}

t.test('real /proc/self/mountinfo: the root entry matches stat("/")', async (t) => {
  const entries = parseMountInfo(fs.readFileSync('/proc/self/mountinfo'));
  t.ok(entries.length > 0);
  const root = entries.filter((e) => e.mountPoint === '/').pop();
  t.ok(root, 'an entry for /');
  const [maj, min] = majorMinor(fs.statSync('/').dev);
  t.same([root!.major, root!.minor], [maj, min]);
});

t.test('real tmpfs mounts: same host inos, distinct stable ids, remap unique and stable across a state reload', { skip: process.getuid?.() !== 0 && 'needs root to mount tmpfs' }, async (t) => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-devid-'));
  const exp = path.join(base, 'export');
  const mounted: string[] = [];
  t.teardown(() => {
    for (const m of mounted.reverse()) execFileSync('umount', [m]);
    fs.rmSync(base, { recursive: true, force: true });
  });
  for (const d of ['a', 'b', 'c']) fs.mkdirSync(path.join(exp, d), { recursive: true });
  for (const d of ['a', 'b']) {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'vfsdtest', path.join(exp, d)]);
    mounted.push(path.join(exp, d));
  }
  execFileSync('mount', ['--bind', path.join(exp, 'a'), path.join(exp, 'c')]);
  mounted.push(path.join(exp, 'c'));
  fs.writeFileSync(path.join(exp, 'a', 'f'), 'a');
  fs.writeFileSync(path.join(exp, 'b', 'f'), 'b');
  fs.writeFileSync(path.join(exp, 'root-file'), 'r');

  const ids = resolveDeviceIds(parseMountInfo(fs.readFileSync('/proc/self/mountinfo')), { exportRoot: exp });
  const rootDev = ids.get(devKey(...majorMinor(fs.statSync(exp).dev)))!;
  t.ok(rootDev, 'the export root device has an id');
  const objects = ['root-file', 'a', 'a/f', 'b', 'b/f', 'c', 'c/f'].map((rel) => {
    const st = fs.statSync(path.join(exp, rel), { bigint: true });
    const id = ids.get(devKey(...majorMinor(Number(st.dev))))!;
    return { rel, ino: st.ino, id };
  });
  const by = Object.fromEntries(objects.map((o) => [o.rel, o]));
  t.equal(by['a/f']!.ino, by['b/f']!.ino, 'two fresh tmpfs give their first files the same host inode number');
  t.not(by['a']!.id, by['b']!.id, 'the two tmpfs have different ids');
  t.equal(by['a']!.id, by['c']!.id, 'a bind mount keeps the id of its filesystem');
  t.equal(by['a']!.id, 'tmpfs:vfsdtest:/@export:a');

  const dir = path.join(base, 'state');
  const numbers = () => {
    const store = openShareStateStore({ stateDir: dir, backupDir: path.join(base, 'backup') });
    const state = store.load().value;
    const policy = new MultidevsPolicy('remap', state.deviceRegistry);
    const out = objects.map((o) => {
      const d = policy.decide({ device: o.id, visibleDevice: rootDev, hostIno: o.ino, path: o.rel });
      return d.action === 'forbid' ? -1n : d.ino;
    });
    store.save(state);
    return out;
  };
  const first = numbers();
  t.equal(first[0], by['root-file']!.ino, 'the export root keeps its host number');
  t.equal(first[2], first[6], 'a/f and c/f are one object: one number');
  t.not(first[2], first[4], 'a/f and b/f are different objects: different numbers');
  t.equal(new Set(first).size, 5, 'five distinct objects, five numbers');
  t.same(numbers(), first, 'the same numbers after a save and reload');
});
