import t from 'tap';
import type { Test } from 'tap';
import { DeviceRegistry } from '../../src/state/device-registry';
import { MAX_DEVICE_INDEX, remapIno } from '../../src/policy/remap';

function reg(devs: string[], fallback: [string, bigint][] = []): DeviceRegistry {
  const r = new DeviceRegistry();
  for (const d of devs) r.deviceIndex(d);
  for (const [d, ino] of fallback) r.fallbackSeq(d, ino);
  return r;
}

function assertInvariants(t: Test, r: DeviceRegistry) {
  const j = r.toJSON();
  t.equal(new Set(j.devices.map((d) => d[1])).size, j.devices.length, 'no index given to two devices');
  t.equal(new Set(j.fallback.map((f) => f[2])).size, j.fallback.length, 'no fallback number given twice');
  t.ok(j.devices.every((d) => d[1] < j.nextIndex), 'nextIndex past every index');
  t.ok(j.fallback.every((f) => BigInt(f[2]) < BigInt(j.nextFallback)), 'nextFallback past every number');
}

t.test('merge: entries in one only kept, primary wins, conflicts re-indexed', async (t) => {
  // Both started alike, then diverged: the primary learned C, the backup learned D and E.
  const primary = reg(['A', 'B', 'C'], [['A', 1n << 60n]]);
  const backup = reg(['A', 'B', 'D', 'E'], [['A', 1n << 60n], ['D', 1n << 61n]]);
  t.equal(primary.peekIndex('C'), 3);
  t.equal(backup.peekIndex('D'), 3, 'D has the index the primary gave C');
  const m = DeviceRegistry.merge(primary, backup);
  t.equal(m.peekIndex('A'), 1);
  t.equal(m.peekIndex('B'), 2);
  t.equal(m.peekIndex('C'), 3, 'the primary keeps its index');
  t.equal(m.peekIndex('D'), 5, 'D is re-indexed past both counters');
  t.equal(m.peekIndex('E'), 4, 'E keeps its index: nobody in the primary uses it');
  t.equal(m.fallbackSeq('A', 1n << 60n), primary.fallbackSeq('A', 1n << 60n));
  t.equal(m.fallbackCount, 2);
  t.not(m.fallbackSeq('D', 1n << 61n), m.fallbackSeq('A', 1n << 60n));
  assertInvariants(t, m);
  t.equal(m.deviceIndex('F'), 6, 'a new device after the merge gets a fresh index');
});

t.test('merge: the same device with different indices keeps the primary one', async (t) => {
  const primary = reg(['X', 'Y']);
  const backup = reg(['Y', 'X']);
  const m = DeviceRegistry.merge(primary, backup);
  t.equal(m.peekIndex('X'), 1);
  t.equal(m.peekIndex('Y'), 2);
  t.equal(m.deviceCount, 2);
  assertInvariants(t, m);
});

t.test('merge: index space exhausted leaves the extra backup device unindexed (fallback later)', async (t) => {
  const primary = new DeviceRegistry();
  for (let i = 0; i < MAX_DEVICE_INDEX; i++) primary.deviceIndex(`p${i}`);
  const backup = reg(['only-in-backup']);
  const m = DeviceRegistry.merge(primary, backup);
  t.equal(m.peekIndex('only-in-backup'), undefined);
  t.equal(remapIno(m, 'only-in-backup', 3n).via, 'fallback');
  assertInvariants(t, m);
});

t.test('fromJSON rejects broken invariants and bad shapes', async (t) => {
  const good = reg(['A', 'B'], [['A', 1n << 62n]]).toJSON();
  t.same(DeviceRegistry.fromJSON(good).toJSON(), good, 'round trip');
  const bad: [string, unknown][] = [
    ['not an object', 5],
    ['null', null],
    ['other encoding', { ...good, hostInoBits: 40 }],
    ['duplicate index', { ...good, devices: [['A', 1], ['B', 1]] }],
    ['duplicate device', { ...good, devices: [['A', 1], ['A', 2]] }],
    ['index 0', { ...good, devices: [['A', 0]] }],
    ['index too big', { ...good, devices: [['A', MAX_DEVICE_INDEX + 1]] }],
    ['duplicate fallback number', { ...good, fallback: [['A', '1', '1'], ['B', '1', '1']] }],
    ['fallback number 0', { ...good, fallback: [['A', '1', '0']] }],
    ['ino not a number', { ...good, fallback: [['A', '-1', '1']] }],
    ['ino past u64', { ...good, fallback: [['A', '18446744073709551616', '1']] }],
    ['missing tables', { ...good, devices: undefined }],
  ];
  for (const [name, v] of bad) t.throws(() => DeviceRegistry.fromJSON(v), name);
  const lowCounters = DeviceRegistry.fromJSON({ ...good, nextIndex: 1, nextFallback: '1' });
  t.equal(lowCounters.deviceIndex('C'), 3, 'a counter below the entries is raised, never reused');
  t.equal(lowCounters.fallbackSeq('C', 1n << 62n), 2n);
});

t.test('generation grows on each change only', async (t) => {
  const r = new DeviceRegistry();
  t.equal(r.generation, 0);
  r.deviceIndex('A');
  r.deviceIndex('A');
  t.equal(r.generation, 1);
  r.fallbackSeq('A', 1n << 63n);
  r.fallbackSeq('A', 1n << 63n);
  t.equal(r.generation, 2);
});
