import t from 'tap';
import type { Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { openShareStateStore, type ShareState } from '../../src/state/share-state';
import { StateVersionError, STATE_FORMAT_VERSION } from '../../src/state/state-store';
import { remapIno } from '../../src/policy/remap';
import { makeLogger } from '../../src/log/logger';
import { DeviceRegistry } from '../../src/state/device-registry';

const PROBE: [string, bigint][] = [['A', 5n], ['A', 1n << 60n], ['B', 5n], ['C', 7n], ['root', (1n << 63n) + 1n]];

/** Remap numbers of the probe set. Every probe device is registered before the first save, so a
 *  recovered registry that lost or changed anything gives different numbers. */
function numbers(s: ShareState): string[] {
  return PROBE.map(([d, ino]) => String(remapIno(s.deviceRegistry, d, ino).ino));
}

function setup(t: Test) {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-state-'));
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  const stateDir = path.join(base, 'vm', 'state');
  const backupDir = path.join(base, 'backup', 'share0');
  const warnings: string[] = [];
  const open = () => openShareStateStore({ stateDir, backupDir, logger: makeLogger('warn', false, (line) => warnings.push(line)) });
  return { base, stateDir, backupDir, warnings, open, primary: path.join(stateDir, 'state.json'), backup: path.join(backupDir, 'state.json') };
}

/** A first run: fresh start, some devices seen, a normal stop. Returns the numbers it showed. */
function firstRun(env: ReturnType<typeof setup>, devices = ['C', 'A', 'B']): string[] {
  const store = env.open();
  const { value } = store.load();
  for (const d of devices) value.deviceRegistry.deviceIndex(d);
  const n = numbers(value);
  store.save(value);
  return n;
}

t.test('neither copy: fresh state, saved to the state dir', async (t) => {
  const env = setup(t);
  const r = env.open().load();
  t.equal(r.source, 'fresh');
  t.equal(r.value.deviceRegistry.deviceCount, 0);
  t.ok(fs.existsSync(env.primary), 'the result is saved');
  t.notOk(fs.existsSync(env.backupDir));
  t.same(env.warnings, []);
});

t.test('file format: checksummed envelope with a version, atomically written', async (t) => {
  const env = setup(t);
  firstRun(env);
  const env1 = JSON.parse(fs.readFileSync(env.primary, 'utf8'));
  t.equal(env1.format, 'vfsd-state');
  t.equal(env1.version, STATE_FORMAT_VERSION);
  t.equal(env1.sha256, createHash('sha256').update(env1.payload).digest('hex'));
  t.same(fs.readFileSync(env.backup), fs.readFileSync(env.primary), 'save copies to the backup dir');
  t.same(fs.readdirSync(env.stateDir), ['state.json'], 'no temp file left');
  t.equal(fs.statSync(env.primary).mode & 0o777, 0o600);
});

t.test('primary good, backup present: merged, backup removed', async (t) => {
  const env = setup(t);
  const before = firstRun(env);
  const r = env.open().load();
  t.equal(r.source, 'merged');
  t.ok(r.backupRemoved);
  t.notOk(fs.existsSync(env.backupDir), 'backup dir removed');
  t.same(numbers(r.value), before, 'remap numbers identical');
  t.same(env.warnings, []);
  const again = env.open().load();
  t.equal(again.source, 'primary', 'next start reads the primary alone');
  t.same(numbers(again.value), before);
});

t.test('primary good, backup knows more: entries of both kept, the primary wins conflicts', async (t) => {
  const env = setup(t);
  // Two histories of one share: the backup saw C A B D, the primary saw E C A B.
  const backupReg = new DeviceRegistry();
  for (const d of ['C', 'A', 'B', 'D']) backupReg.deviceIndex(d);
  const primaryReg = new DeviceRegistry();
  for (const d of ['E', 'C', 'A', 'B']) primaryReg.deviceIndex(d);
  primaryReg.fallbackSeq('A', 1n << 60n);
  backupReg.fallbackSeq('D', 1n << 61n); // sequence 1 in both histories
  const before = numbers({ deviceRegistry: primaryReg }); // registers the probe's root entry: sequence 2
  openShareStateStore({ stateDir: env.backupDir }).save({ deviceRegistry: backupReg });
  openShareStateStore({ stateDir: env.stateDir }).save({ deviceRegistry: primaryReg });
  const r = env.open().load();
  t.equal(r.source, 'merged');
  const reg = r.value.deviceRegistry;
  t.same(['E', 'C', 'A', 'B'].map((d) => reg.peekIndex(d)), [1, 2, 3, 4], 'primary indices kept');
  t.equal(reg.peekIndex('D'), 5, "D from the backup, re-indexed (its 4 is B's in the primary)");
  t.equal(reg.fallbackSeq('A', 1n << 60n), 1n);
  t.equal(reg.fallbackSeq('D', 1n << 61n), 3n, 'the backup fallback entry re-numbered, not duplicated');
  t.same(numbers(r.value), before, "the primary's numbers are unchanged by the merge");
  t.notOk(fs.existsSync(env.backupDir));
  t.same(env.warnings, []);
});

t.test('primary gone (VM dir deleted at teardown): backup used, then removed', async (t) => {
  const env = setup(t);
  const before = firstRun(env);
  fs.rmSync(path.join(env.base, 'vm'), { recursive: true });
  const r = env.open().load();
  t.equal(r.source, 'backup');
  t.same(numbers(r.value), before, 'remap numbers identical after recovery');
  t.ok(fs.existsSync(env.primary), 'recovered state saved to the state dir');
  t.notOk(fs.existsSync(env.backupDir), 'backup removed');
  t.match(env.warnings.join('\n'), /is missing; recovered from the backup/);
  const again = env.open().load();
  t.equal(again.source, 'primary');
  t.same(numbers(again.value), before);
});

const corruptions: [string, (file: string) => void][] = [
  ['flipped payload byte (checksum)', (f) => {
    const e = JSON.parse(fs.readFileSync(f, 'utf8'));
    e.payload = e.payload.replace('"A"', '"X"');
    fs.writeFileSync(f, JSON.stringify(e));
  }],
  ['truncated', (f) => fs.truncateSync(f, 40)],
  ['empty', (f) => fs.writeFileSync(f, '')],
  ['not a state file', (f) => fs.writeFileSync(f, '{"hello":1}')],
  ['valid checksum over an invalid registry', (f) => {
    const payload = JSON.stringify({ deviceRegistry: { deviceIndexBits: 15, hostInoBits: 48, nextIndex: 3, devices: [['A', 1], ['B', 1]], nextFallback: '1', fallback: [] } });
    fs.writeFileSync(f, JSON.stringify({ format: 'vfsd-state', version: 1, sha256: createHash('sha256').update(payload).digest('hex'), payload }));
  }],
  ['unreadable (a directory)', (f) => { fs.rmSync(f); fs.mkdirSync(f); }],
];

for (const [name, corrupt] of corruptions) {
  t.test(`primary corrupt (${name}): backup used, warning, backup removed`, async (t) => {
    const env = setup(t);
    const before = firstRun(env);
    corrupt(env.primary);
    let r;
    if (fs.statSync(env.primary).isDirectory()) {
      // The state dir holds a directory where the file should be: it cannot be replaced, so the
      // load refuses and the backup must survive for the next try.
      t.throws(() => env.open().load());
      t.ok(fs.existsSync(env.backup), 'backup kept while the primary cannot be written');
      fs.rmdirSync(env.primary);
      r = env.open().load();
      t.equal(r.source, 'backup');
    } else {
      r = env.open().load();
      t.equal(r.source, 'backup');
      t.match(env.warnings.join('\n'), /state file .* is corrupt/);
    }
    t.same(numbers(r.value), before, 'remap numbers identical after recovery');
    t.notOk(fs.existsSync(env.backupDir), 'backup removed');
  });

  t.test(`backup corrupt (${name}), primary good: backup ignored with a warning, removed`, async (t) => {
    const env = setup(t);
    const before = firstRun(env);
    corrupt(env.backup);
    const r = env.open().load();
    t.equal(r.source, 'primary');
    t.same(numbers(r.value), before);
    t.match(env.warnings.join('\n'), /backup state file .* is (corrupt|unreadable)/);
    t.notOk(fs.existsSync(env.backupDir), 'backup removed');
  });
}

t.test('both corrupt: fresh state, two warnings, backup removed', async (t) => {
  const env = setup(t);
  firstRun(env);
  fs.writeFileSync(env.primary, 'x');
  fs.writeFileSync(env.backup, 'y');
  const r = env.open().load();
  t.equal(r.source, 'fresh');
  t.equal(env.warnings.length, 2);
  t.notOk(fs.existsSync(env.backupDir));
});

t.test('a backup dir with files vfsd did not write: only our file goes', async (t) => {
  const env = setup(t);
  firstRun(env);
  fs.writeFileSync(path.join(env.backupDir, 'precious'), 'x');
  const r = env.open().load();
  t.ok(r.backupRemoved);
  t.same(fs.readdirSync(env.backupDir), ['precious']);
  t.match(env.warnings.join('\n'), /files vfsd did not write/);
});

t.test('save with the state dir gone unwritable: the backup still gets it', async (t) => {
  const env = setup(t);
  const before = firstRun(env);
  const store = env.open();
  const { value } = store.load();
  fs.rmSync(path.join(env.base, 'vm'), { recursive: true });
  fs.writeFileSync(path.join(env.base, 'vm'), 'a file where the VM dir was');
  t.same(store.save(value), { primary: false, backup: true });
  t.match(env.warnings.join('\n'), /could not save/);
  t.throws(() => store.load(), 'start cannot write the state dir: refuses');
  t.ok(fs.existsSync(env.backup), '...and keeps the backup');
  fs.rmSync(path.join(env.base, 'vm'));
  const r = env.open().load();
  t.equal(r.source, 'backup');
  t.same(numbers(r.value), before);
});

t.test('save fails everywhere: throws', async (t) => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-state-'));
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  fs.writeFileSync(path.join(base, 'f'), '');
  const store = openShareStateStore({ stateDir: path.join(base, 'f', 's'), backupDir: path.join(base, 'f', 'b') });
  t.throws(() => store.save({ deviceRegistry: new DeviceRegistry() }), /could not save/);
});

t.test('a newer format version is refused, nothing touched', async (t) => {
  const env = setup(t);
  firstRun(env);
  const e = JSON.parse(fs.readFileSync(env.primary, 'utf8'));
  e.version = STATE_FORMAT_VERSION + 1;
  fs.writeFileSync(env.primary, JSON.stringify(e));
  const bytes = fs.readFileSync(env.primary);
  t.throws(() => env.open().load(), StateVersionError);
  t.same(fs.readFileSync(env.primary), bytes);
  t.ok(fs.existsSync(env.backup));
});

t.test('temp files of a killed writer are cleaned at start', async (t) => {
  const env = setup(t);
  firstRun(env);
  fs.writeFileSync(path.join(env.stateDir, '.state.json.tmp-123-abc'), '{"half');
  fs.writeFileSync(path.join(env.backupDir, '.state.json.tmp-123-abc'), '{"half');
  env.open().load();
  t.same(fs.readdirSync(env.stateDir), ['state.json']);
  t.notOk(fs.existsSync(env.backupDir));
});

t.test('misconfiguration', async (t) => {
  t.throws(() => openShareStateStore({ stateDir: '/x/s', backupDir: '/x/s/' }), /must differ/);
  t.throws(() => openShareStateStore({ stateDir: '/x/s', fileName: '../evil' }), /bad state file name/);
});
