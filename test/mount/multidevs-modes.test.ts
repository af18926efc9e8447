// --multidevs=forbid, =warn and an unknown value, through the real CLI and a real /dev/fuse mount
// of an export spanning tmpfs mounts, a btrfs (with a nested subvolume) and a bind-mounted file.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { MultidevsEnv, MAIN, isRoot, walkInos, lstatIno, errnoOf, dropCaches } from '../helpers/multidevs-env';

const ROOT_NAMES = ['bound', 'bt', 'd', 'p', 'p2', 't1', 't2'];

t.test('forbid: other devices answer ENODEV, their names stay listed, logged once per device', { skip: !isRoot && 'needs root' }, async (t) => {
  const env = new MultidevsEnv(t, { btrfs: true });
  const vfsd = await env.start(['--multidevs=forbid']);
  const foreign = ['t1', 't2', 'bt', 'bound'];

  t.same(fs.readdirSync(env.mnt).sort(), ROOT_NAMES, 'readdir of the export root lists every name');
  const ls = spawnSync('ls', ['-1', '--color=never', env.mnt], { encoding: 'utf8' });
  t.same(ls.stdout.trim().split('\n').sort(), ROOT_NAMES, 'ls lists them too');
  for (let round = 0; round < 2; round++) {
    for (const rel of foreign) {
      t.equal(errnoOf(() => fs.lstatSync(env.via(rel))), 'ENODEV', `round ${round}: stat ${rel}`);
      t.equal(errnoOf(() => fs.closeSync(fs.openSync(env.via(rel), 'r'))), 'ENODEV', `round ${round}: open ${rel}`);
    }
    t.equal(errnoOf(() => fs.readdirSync(env.via('t1'))), 'ENODEV', 'ls of a tmpfs mount');
    t.equal(errnoOf(() => fs.readFileSync(env.via('t1/f'))), 'ENODEV', 'open of a file on it');
    t.equal(errnoOf(() => fs.writeFileSync(env.via('t2/new'), 'x')), 'ENODEV', 'create on the other tmpfs');
    t.equal(errnoOf(() => fs.readdirSync(env.via('bt/sub'))), 'ENODEV', 'ls inside the btrfs');
    t.equal(errnoOf(() => fs.mkdirSync(env.via('bt/newdir'))), 'ENODEV', 'mkdir inside the btrfs');
    dropCaches();
  }
  t.notOk(fs.existsSync(env.path('t2/new')), 'nothing was created on the host');
  t.equal(lstatIno(env.via('p')), lstatIno(env.path('p')), 'the root device is served as usual');
  t.equal(fs.readFileSync(env.via('d/q'), 'utf8'), 'q', 'and its files read');

  await vfsd.stop();
  const notes = vfsd.warnings().filter((m) => m.includes('--multidevs=forbid'));
  for (const rel of foreign) {
    t.equal(notes.filter((m) => m.includes(`path ${env.path(rel)} `)).length, 1, `one log line for ${rel}, with its path`);
  }
  t.equal(notes.length, foreign.length, `one line per device, no more (${JSON.stringify(notes)})`);
});

t.test('warn: host numbers pass through, one warning per device', { skip: !isRoot && 'needs root' }, async (t) => {
  const env = new MultidevsEnv(t, { btrfs: true });
  const vfsd = await env.start(['--multidevs', 'warn']);

  const host = walkInos(env.src);
  t.same(Object.fromEntries(walkInos(env.mnt)), Object.fromEntries(host), 'every number is the host number');
  t.equal(host.get('t1/f'), host.get('t2/f'), 'including the colliding ones (t1/f, t2/f)');
  dropCaches();
  t.same(Object.fromEntries(walkInos(env.mnt, true)), Object.fromEntries(host), 'again after FORGET, other order');

  await vfsd.stop();
  const warnings = vfsd.warnings().filter((m) => m.includes('--multidevs=remap'));
  // One per device: two tmpfs, the bind-mounted file's tmpfs, the btrfs top subvolume, and the
  // nested subvolume (its own inode-number namespace).
  for (const rel of ['t1', 't2', 'bound', 'bt', 'bt/sub']) {
    const mine = warnings.filter((m) => m.includes(`path ${env.path(rel)} `));
    t.equal(mine.length, 1, `one warning for ${rel}`);
    t.match(mine[0] ?? '', /on device \d+:\d+ \(.+, (tmpfs|btrfs)\): inode numbers may collide/, `${rel}: names the device and the risk`);
  }
  t.equal(warnings.length, 5, `exactly one per device (${JSON.stringify(warnings)})`);
});

t.test('an unknown --multidevs value is refused with exit code 2', async (t) => {
  const dir = fs.mkdtempSync('/tmp/vfsd-mdt-bogus-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const form of [['--multidevs=bogus'], ['--multidevs', 'bogus'], ['-o', 'multidevs=bogus']]) {
    const r = spawnSync(process.execPath, [MAIN, '--shared-dir', dir, '--mount', path.join(dir, 'm'), ...form], { encoding: 'utf8', timeout: 10000 });
    t.equal(r.status, 2, `${form.join(' ')}: exit code 2`);
    t.equal(r.stderr.split('\n')[0], "vfsd: unknown multidevs 'bogus' (valid: remap, forbid, warn, default)", `${form.join(' ')}: the message`);
    t.equal(r.stdout, '', 'nothing on stdout');
  }
  t.notOk(fs.existsSync(path.join(dir, 'm')), 'nothing mounted or created');
});
