// Per-share state through the real CLI (--state-dir, --state-backup-dir) and a real /dev/fuse
// mount: every recovery branch at start, with the remapped inode numbers compared before and
// after, a SIGKILL while vfsd checkpoints, and a stale backup that must never come back.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { MultidevsEnv, Vfsd, isRoot, walkInos, lstatIno, sleep } from '../helpers/multidevs-env';

const skip = !isRoot && 'needs root';

interface Dirs {
  state: string;
  backup: string;
  args: string[];
}

function dirs(env: MultidevsEnv, tag = ''): Dirs {
  const state = path.join(env.base, `state${tag}`);
  const backup = path.join(env.base, `backup${tag}`);
  return { state, backup, args: ['--multidevs=remap', '--state-dir', state, '--state-backup-dir', backup] };
}

const stateFile = (dir: string) => path.join(dir, 'state.json');

function loaded(v: Vfsd): { from?: string; backup_removed?: boolean } {
  return (v.logs().find((l) => l.msg === 'state loaded') ?? {}) as { from?: string; backup_removed?: boolean };
}

const numbers = (env: MultidevsEnv) => Object.fromEntries(walkInos(env.mnt));

/** The device ids a state file holds (checksum verified), or throws. */
function savedDevices(file: string): Map<string, number> {
  const env = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (createHash('sha256').update(env.payload, 'utf8').digest('hex') !== env.sha256) throw new Error(`${file}: checksum mismatch`);
  return new Map(JSON.parse(env.payload).deviceRegistry.devices);
}

/** Change one character inside the payload: still JSON, but the checksum no longer matches. */
function corruptChecksum(file: string): void {
  const text = fs.readFileSync(file, 'utf8');
  const i = text.indexOf('nextIndex');
  fs.writeFileSync(file, text.slice(0, i) + 'NextIndex' + text.slice(i + 'nextIndex'.length));
}

t.test('state across teardown: every start-up branch, numbers unchanged', { skip }, async (t) => {
  const env = new MultidevsEnv(t);
  const d = dirs(env);

  let v = await env.start(d.args);
  t.equal(loaded(v).from, 'fresh', 'first start: fresh state');
  const n0 = numbers(env);
  t.ok(Object.keys(n0).length >= 10, 'the tree is served');
  await v.stop();
  t.ok(fs.existsSync(stateFile(d.state)), 'stop saved to the state dir');
  t.equal(fs.readFileSync(stateFile(d.backup), 'utf8'), fs.readFileSync(stateFile(d.state), 'utf8'), 'and the same to the backup dir');
  t.ok(savedDevices(stateFile(d.state)).size >= 3, 'the saved registry holds the foreign devices');

  await t.test('(a) normal stop then start: state dir used, backup removed', async (t) => {
    v = await env.start(d.args);
    t.equal(loaded(v).from, 'merged', 'state dir and backup read');
    t.equal(loaded(v).backup_removed, true, 'log says the backup was removed');
    t.notOk(fs.existsSync(d.backup), 'the backup dir is gone');
    t.same(numbers(env), n0, 'numbers identical');
    t.same(v.warnings().filter((m) => m.startsWith('state')), [], 'no state warnings');
    await v.stop();
  });

  await t.test('(b) state dir deleted after the stop: the backup is used, then removed', async (t) => {
    fs.rmSync(d.state, { recursive: true });
    v = await env.start(d.args);
    t.equal(loaded(v).from, 'backup');
    t.ok(v.warnings().some((m) => m.includes('is missing; recovered from the backup')), 'warned');
    t.same(numbers(env), n0, 'numbers identical');
    t.notOk(fs.existsSync(d.backup), 'the backup dir is gone');
    t.ok(fs.existsSync(stateFile(d.state)), 'the state dir holds the recovered state');
    await v.stop();
  });

  await t.test('(c) corrupt primary: the backup is used, with a warning', async (t) => {
    corruptChecksum(stateFile(d.state));
    v = await env.start(d.args);
    t.equal(loaded(v).from, 'backup');
    t.ok(v.warnings().some((m) => m.includes(stateFile(d.state)) && m.includes('checksum mismatch')), 'the corrupt primary is named');
    t.ok(v.warnings().some((m) => m.includes('is unusable; recovered from the backup')), 'the recovery is said');
    t.same(numbers(env), n0, 'numbers identical');
    t.notOk(fs.existsSync(d.backup), 'the backup dir is gone');
    t.doesNotThrow(() => savedDevices(stateFile(d.state)), 'the state dir holds a good file again');
    await v.stop();
  });

  await t.test('(d) corrupt backup, good primary: ignored with a warning, removed', async (t) => {
    const text = fs.readFileSync(stateFile(d.backup), 'utf8');
    fs.writeFileSync(stateFile(d.backup), text.slice(0, text.length >> 1));
    v = await env.start(d.args);
    t.equal(loaded(v).from, 'primary');
    t.ok(v.warnings().some((m) => m.includes('backup state file') && m.includes(stateFile(d.backup)) && m.includes('corrupt')), 'warned');
    t.same(numbers(env), n0, 'numbers identical');
    t.notOk(fs.existsSync(d.backup), 'the backup dir is gone');
    await v.stop();
  });

  await t.test('(e) neither: fresh state', async (t) => {
    fs.rmSync(d.state, { recursive: true });
    fs.rmSync(d.backup, { recursive: true });
    v = await env.start(d.args);
    t.equal(loaded(v).from, 'fresh');
    t.same(v.warnings().filter((m) => m.startsWith('state')), [], 'nothing to warn about');
    const n = numbers(env);
    t.equal(new Set(Object.values(n)).size, new Set(Object.keys(n).map((k) => fs.lstatSync(env.path(k), { bigint: true })).map((s) => `${s.dev}:${s.ino}`)).size, 'numbers still unique');
    await v.stop();
    t.ok(fs.existsSync(stateFile(d.state)), 'saved');
  });
});

t.test('(f) SIGKILL while checkpointing: the next start reads a valid state, earlier numbers kept', { skip }, async (t) => {
  const env = new MultidevsEnv(t);
  const d = dirs(env);
  let v = await env.start(d.args);
  /** numbers that must never change: every device the state dir has recorded */
  const expected: Record<string, bigint> = numbers(env);
  await v.stop();

  const ROUNDS = 8;
  let checkpointed = 0;
  for (let i = 0; i < ROUNDS; i++) {
    env.addTmpfs(`k${i}`);
    v = await env.start(d.args);
    t.same(v.warnings().filter((m) => /state/.test(m)), [], `round ${i}: the state read cleanly (${loaded(v).from})`);
    const seen = walkInos(env.mnt);
    const changed = Object.entries(expected).filter(([rel, ino]) => seen.get(rel) !== ino);
    t.same(changed, [], `round ${i}: every number recorded before is unchanged`);
    // k_i's device is new: the registry changed, a checkpoint follows within ~200 ms. Kill at a
    // random point around it (before, during or after the save).
    await sleep(Math.floor(Math.random() * 300));
    await v.kill();
    t.same(fs.readdirSync(d.state).filter((n) => n !== 'state.json'), fs.readdirSync(d.state).filter((n) => n.startsWith('.state.json.tmp-')), `round ${i}: only the state file and perhaps a temp file`);
    const saved = savedDevices(stateFile(d.state));
    if (saved.has(`tmpfs:tmpfs:/@export:k${i}`)) checkpointed++;
    // What the state dir holds now must come back: record the numbers of its devices.
    for (const [rel, ino] of seen) {
      const top = rel.split('/')[0]!;
      if (saved.has(`tmpfs:tmpfs:/@export:${top}`) || !/^(k\d+|t\d)$/.test(top)) expected[rel] = ino;
    }
  }
  v = await env.start(d.args);
  const last = walkInos(env.mnt);
  t.same(Object.entries(expected).filter(([rel, ino]) => last.get(rel) !== ino), [], 'after the last kill: every recorded number unchanged');
  t.same(fs.readdirSync(d.state), ['state.json'], 'stale temp files removed at start');
  await v.stop();
  t.comment(`${checkpointed} of ${ROUNDS} kills came after k_i's checkpoint`);
});

t.test('(g) a stale backup from an older run is never resurrected', { skip }, async (t) => {
  const env = new MultidevsEnv(t);
  const old = dirs(env, '-old');
  const d = dirs(env);

  // An older run numbered t2 first, then t1; the current one numbers t1 first.
  let v = await env.start(old.args);
  lstatIno(env.via('t2/f'));
  lstatIno(env.via('t1/f'));
  const staleNumbers = numbers(env);
  await v.stop();

  v = await env.start(d.args);
  lstatIno(env.via('t1/f'));
  lstatIno(env.via('t2/f'));
  const current = numbers(env);
  await v.stop();
  t.not(staleNumbers['t1/f'], current['t1/f'], 'the two runs gave t1/f different numbers');

  // The VM manager's teardown leaves the older backup where the current one was.
  fs.copyFileSync(stateFile(old.backup), stateFile(d.backup));
  v = await env.start(d.args);
  t.equal(loaded(v).from, 'merged');
  t.same(numbers(env), current, 'the newer primary wins every conflict');
  t.notOk(fs.existsSync(d.backup), 'the stale backup is removed');
  await v.stop();

  fs.rmSync(d.backup, { recursive: true });
  v = await env.start(d.args);
  t.equal(loaded(v).from, 'primary');
  t.same(numbers(env), current, 'and does not come back at the next start');
  await v.stop();
});
