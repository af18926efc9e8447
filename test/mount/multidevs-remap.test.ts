// --multidevs=remap through a real /dev/fuse mount, where the client sees one st_dev for the whole
// export: two tmpfs mounts whose files share host inode numbers, a btrfs on a loop device with a
// subvolume reached as a plain directory, and a file bind-mounted from another tmpfs. Every object
// must get a number of its own, always the same one (hard links, two paths, FORGET + LOOKUP, attrs
// = READDIR d_ino = STATX), the root device keeps its host numbers, and the numbers survive a vfsd
// restart and the host remounting the btrfs on another loop device.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { MultidevsEnv, isRoot, walkInos, lstatIno, statxIno, direntInos, dropCaches } from '../helpers/multidevs-env';

const REMAPPED = 1n << 63n;

function sameDevice(a: string, b: string): boolean {
  const x = fs.lstatSync(a), y = fs.lstatSync(b);
  return x.dev === y.dev;
}

t.test('remap: unique, consistent and stable inode numbers across devices', { skip: !isRoot && 'needs root' }, async (t) => {
  const env = new MultidevsEnv(t, { btrfs: true });
  const state = path.join(env.base, 'state');
  const args = ['--multidevs', 'remap', '--state-dir', state];

  // The setup really has the collisions remap is for.
  t.equal(lstatIno(env.path('t1/f')), lstatIno(env.path('t2/f')), 'host: t1/f and t2/f share an inode number');
  t.equal(lstatIno(env.path('bt/h')), lstatIno(env.path('bt/sub/g')), 'host: bt/h and bt/sub/g share an inode number');
  t.not(fs.lstatSync(env.path('bt/sub')).dev, fs.lstatSync(env.path('bt')).dev, 'host: the subvolume has its own st_dev');

  let vfsd = await env.start(args);
  const first = walkInos(env.mnt);
  t.same([...first.keys()].sort(), [...walkInos(env.src).keys()].sort(), 'the mount shows the whole tree');

  await t.test('every object has a number of its own', async (t) => {
    // Objects = host (st_dev, st_ino); paths that are one object (hard links) must share a number.
    const byObject = new Map<string, bigint>();
    const objectOf = new Map<bigint, string>();
    for (const [rel, ino] of first) {
      const st = fs.lstatSync(env.path(rel), { bigint: true });
      const obj = `${st.dev}:${st.ino}`;
      const known = byObject.get(obj);
      if (known !== undefined) t.equal(ino, known, `${rel}: same number as its other path`);
      byObject.set(obj, ino);
      const other = objectOf.get(ino);
      if (other !== undefined && other !== obj) t.fail(`${rel}: number ${ino} also belongs to another object (${other})`);
      objectOf.set(ino, obj);
    }
    t.equal(objectOf.size, byObject.size, `${byObject.size} objects, ${objectOf.size} distinct numbers`);
  });

  await t.test('the export root device keeps host numbers; others are remapped', async (t) => {
    for (const rel of ['.', 'p', 'p2', 'd', 'd/q']) t.equal(first.get(rel), lstatIno(env.path(rel)), `${rel}: host number`);
    for (const rel of ['t1', 't1/f', 't2/f', 'bound', 'bt', 'bt/h', 'bt/sub', 'bt/sub/g']) {
      t.ok(first.get(rel)! >= REMAPPED, `${rel}: remapped (${first.get(rel)})`);
    }
  });

  await t.test('one object, one number: hard links, two paths, FORGET + LOOKUP', async (t) => {
    t.equal(first.get('p'), first.get('p2'), 'hard link on the root device');
    t.equal(first.get('t1/f'), first.get('t1/f2'), 'hard link on a tmpfs');
    t.equal(first.get('bt/h'), first.get('bt/hl'), 'hard link on btrfs');
    t.equal(lstatIno(env.via('bt/sub/../h')), first.get('bt/h'), 'bt/h through another path');
    t.equal(lstatIno(env.via('t1/../t1/f')), first.get('t1/f'), 't1/f through another path');
    dropCaches();
    // The other paths first this time: a number tied to the path that was looked up first (and
    // not to the object) would change here.
    t.equal(lstatIno(env.via('bt/hl')), first.get('bt/h'), 'after FORGET: bt/hl looked up first has bt/h\'s number');
    t.equal(lstatIno(env.via('t1/f2')), first.get('t1/f'), 'after FORGET: t1/f2 looked up first has t1/f\'s number');
    dropCaches();
    const again = walkInos(env.mnt, true);
    t.same(Object.fromEntries(again), Object.fromEntries(first), 'after drop_caches (FORGET, new LOOKUPs) every number is the same');
  });

  await t.test('READDIR d_ino and STATX agree with stat', async (t) => {
    for (const [rel, ino] of first) {
      t.equal(statxIno(env.via(rel)), ino, `statx ${rel}`);
    }
    const out = spawnSync('stat', ['-c', '%i %n', env.via('t1/f'), env.via('bt/sub/g'), env.via('bound')], { encoding: 'utf8' });
    t.same(out.stdout.trim().split('\n').map((l) => BigInt(l.split(' ')[0]!)), [first.get('t1/f'), first.get('bt/sub/g'), first.get('bound')], 'stat(1) agrees');
    for (const [rel, ino] of first) {
      if (!fs.lstatSync(env.path(rel)).isDirectory()) continue;
      for (const [name, dIno] of direntInos(env.via(rel))) {
        const child = rel === '.' ? name : path.join(rel, name);
        // A mount point's (or subvolume root's) d_ino is the covered entry's: not comparable.
        if (!sameDevice(env.path(rel), env.path(child))) continue;
        t.equal(dIno, first.get(child), `d_ino of ${child}`);
      }
    }
  });
  await vfsd.stop();

  await t.test('same numbers after a vfsd restart with the same state dir', async (t) => {
    vfsd = await env.start(args);
    t.same(Object.fromEntries(walkInos(env.mnt, true)), Object.fromEntries(first), 'walked in reverse order');
    await vfsd.stop();
  });

  await t.test('same numbers after the host remounts the btrfs on another loop device', async (t) => {
    const { before, after } = env.remountBtrfsElsewhere();
    t.not(after, before, `btrfs now on ${after} (was ${before})`);
    t.not(fs.lstatSync(env.path('bt')).dev, undefined);
    vfsd = await env.start(args);
    t.same(Object.fromEntries(walkInos(env.mnt)), Object.fromEntries(first));
    await vfsd.stop();
  });
});
