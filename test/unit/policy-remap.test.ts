import t from 'tap';
import {
  DIRECT_INO_LIMIT, MAX_DEVICE_INDEX, MAX_FALLBACK_SEQ, REMAP_MARKER,
  decodeIno, encodeDirect, encodeFallback, inoFromLoHi, inoHi, inoLo, remapIno,
} from '../../src/policy/remap';
import { MultidevsPolicy } from '../../src/policy/multidevs';
import { DeviceRegistry } from '../../src/state/device-registry';

t.test('layout: marker, device index, host ino, fallback range', async (t) => {
  t.equal(encodeDirect(1, 0n), REMAP_MARKER | DIRECT_INO_LIMIT);
  t.equal(encodeDirect(MAX_DEVICE_INDEX, DIRECT_INO_LIMIT - 1n), (1n << 64n) - 1n, 'top index and largest direct ino fill 64 bits');
  t.equal(encodeFallback(1n), REMAP_MARKER | 1n);
  t.same(decodeIno(encodeDirect(7, 12345n)), { kind: 'direct', deviceIndex: 7, hostIno: 12345n });
  t.same(decodeIno(encodeFallback(99n)), { kind: 'fallback', seq: 99n });
  t.same(decodeIno(42n), { kind: 'host', ino: 42n });
  t.throws(() => encodeDirect(0, 1n), RangeError, 'index 0 is the fallback range');
  t.throws(() => encodeDirect(MAX_DEVICE_INDEX + 1, 1n), RangeError);
  t.throws(() => encodeDirect(1, DIRECT_INO_LIMIT), RangeError);
  t.throws(() => encodeFallback(0n), RangeError);
  t.throws(() => encodeFallback(MAX_FALLBACK_SEQ + 1n), RangeError);
});

t.test('lo/hi halves', async (t) => {
  const ino = encodeDirect(0x1234, 0xabcdef012345n);
  t.equal(inoLo(ino), Number(ino & 0xffffffffn));
  t.equal(inoHi(ino), Number(ino >> 32n));
  t.ok(inoHi(ino) >= 0x80000000, 'hi carries the marker bit as an unsigned u32');
  t.equal(inoFromLoHi(inoLo(ino), inoHi(ino)), ino);
  t.equal(inoFromLoHi(-1, -1), (1n << 64n) - 1n, 'accepts int32 views of the halves');
});

// Many (device, ino) pairs: the same host numbers on several devices, numbers near every edge of
// the encoding, and the export root's own numbers (which pass unchanged) including high-bit ones.
function corpus(): { dev: string; ino: bigint }[] {
  const inos = [0n, 1n, 2n, 256n, 257n, 4096n, 0xffffffffn, 0x100000000n, DIRECT_INO_LIMIT - 1n, DIRECT_INO_LIMIT,
    DIRECT_INO_LIMIT + 1n, (1n << 62n) + 5n, REMAP_MARKER - 1n, REMAP_MARKER, REMAP_MARKER | DIRECT_INO_LIMIT | 1n,
    encodeDirect(1, 2n), encodeFallback(1n), (1n << 64n) - 1n];
  for (let i = 0n; i < 300n; i++) inos.push(1000n + i);
  const devs = ['root', 'tmpfs:tmpfs:/@export:a', 'tmpfs:tmpfs:/@export:b', 'btrfs:uuid=X:subvolid=257', 'ext4:uuid=Y'];
  const out: { dev: string; ino: bigint }[] = [];
  for (const dev of devs) for (const ino of inos) out.push({ dev, ino });
  return out;
}

t.test('remap: all (device, ino) pairs get distinct numbers; root keeps its low numbers', async (t) => {
  const reg = new DeviceRegistry();
  const policy = new MultidevsPolicy('remap', reg);
  const seen = new Map<bigint, string>();
  let collisions = 0;
  for (const { dev, ino } of corpus()) {
    const d = policy.decide({ device: dev, visibleDevice: 'root', hostIno: ino, path: '/x' });
    if (d.action === 'forbid') { t.fail(`no number for ${dev} ${ino}`); continue; }
    if (dev === 'root' && ino < REMAP_MARKER) t.equal(d.ino, ino, `root ino ${ino} unchanged`);
    if (dev === 'root' && ino >= REMAP_MARKER) t.equal(decodeIno(d.ino).kind, 'fallback', `root high-bit ino ${ino} goes through the fallback table`);
    if (dev !== 'root') t.ok(d.ino >= REMAP_MARKER, 'foreign numbers are in the reserved range');
    const key = `${dev}/${ino}`;
    const prev = seen.get(d.ino);
    if (prev !== undefined && prev !== key) collisions++;
    seen.set(d.ino, key);
  }
  t.equal(collisions, 0, 'no two objects share a number');
  t.equal(seen.size, corpus().length);
});

t.test('remap: one object, one number (repeat questions, new policy, save/load)', async (t) => {
  const reg = new DeviceRegistry();
  const first = corpus().map(({ dev, ino }) => remapIno(reg, dev, ino).ino);
  const again = corpus().map(({ dev, ino }) => remapIno(reg, dev, ino).ino);
  t.same(again, first, 'same answers on a second pass (FORGET + LOOKUP)');
  const gen = reg.generation;
  const reloaded = DeviceRegistry.fromJSON(JSON.parse(JSON.stringify(reg.toJSON())));
  t.same(corpus().map(({ dev, ino }) => remapIno(reloaded, dev, ino).ino), first, 'same answers after a JSON round trip');
  t.equal(reg.generation, gen, 'asking again changes nothing');
  // A device first seen after the reload gets an index nobody had.
  const fresh = remapIno(reloaded, 'xfs:uuid=NEW', 5n).ino!;
  t.notOk(first.includes(fresh));
});

t.test('remap: index exhaustion falls back, fallback exhaustion refuses (never collides)', async (t) => {
  const reg = new DeviceRegistry({ maxFallbackEntries: 3 });
  for (let i = 0; i < MAX_DEVICE_INDEX; i++) reg.deviceIndex(`dev${i}`);
  t.equal(reg.deviceIndex('one-too-many'), 0);
  const r = remapIno(reg, 'one-too-many', 5n);
  t.equal(r.via, 'fallback');
  t.equal(decodeIno(r.ino!).kind, 'fallback');
  remapIno(reg, 'one-too-many', 6n);
  remapIno(reg, 'one-too-many', 7n);
  t.same(remapIno(reg, 'one-too-many', 8n), { ino: undefined, via: 'exhausted' });
  t.equal(remapIno(reg, 'one-too-many', 5n).ino, r.ino, 'known entries still answer');
  const p = new MultidevsPolicy('remap', reg);
  const d = p.decide({ device: 'one-too-many', visibleDevice: 'root', hostIno: 9n, path: '/m/f' });
  t.equal(d.action, 'forbid');
  t.equal(d.action === 'forbid' && d.errno, 75, 'EOVERFLOW');
  t.match(d.log?.message, /fallback table is full/);
});
