// --translate-uid / --translate-gid rules (src/policy/id-map.ts): every form, the exact one-line
// errors, intersections, the id boundaries, and the command line that carries them.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import {
  parseIdRule, IdMap, IdMapError, buildIdTranslation, isIdCarryingXattr, FORBIDDEN, NO_ID, MAX_ID,
} from '../../src/policy/id-map';
import { parseArgs, UsageError } from '../../src/cli/options';

const map = (...texts: string[]) => new IdMap(texts.map(parseIdRule));

t.test('parse: every form, in the order virtiofsd writes them', async (t) => {
  t.same(parseIdRule('map:1000:2000:10'), { kind: 'map', from: 1000, to: 2000, count: 10, text: 'map:1000:2000:10' });
  t.same(parseIdRule('guest:1:2:3'), { kind: 'guest', from: 1, to: 2, count: 3, text: 'guest:1:2:3' });
  t.same(parseIdRule('host:1:2:3'), { kind: 'host', from: 1, to: 2, count: 3, text: 'host:1:2:3' });
  t.same(parseIdRule('squash-guest:0:1001:4294967295'), { kind: 'squash-guest', from: 0, to: 1001, count: 4294967295, text: 'squash-guest:0:1001:4294967295' });
  t.same(parseIdRule('squash-host:5:6:7'), { kind: 'squash-host', from: 5, to: 6, count: 7, text: 'squash-host:5:6:7' });
  t.same(parseIdRule('forbid-guest:0:1000'), { kind: 'forbid-guest', from: 0, to: 0, count: 1000, text: 'forbid-guest:0:1000' });
  t.equal(parseIdRule('MAP:1:2:3').kind, 'map', 'the type is case-insensitive (as in virtiofsd)');
  t.same(parseIdRule('map/1/2/3').count, 3, 'any separator after the type, the same throughout (as in virtiofsd)');
  t.same(parseIdRule('map:007:0:1').from, 7, 'leading zeros are decimal, not octal');
});

t.test('parse: bad values give exact one-line messages', async (t) => {
  // Every message is "'<rule as given>': <reason>"; each reason is spelled out once below.
  const rejects = (text: string, reason: string) =>
    t.throws(() => parseIdRule(text), new IdMapError(`'${text}': ${reason}`), JSON.stringify(text));
  const unknownType = (type: string) =>
    `unknown type '${type}' (valid: map, guest, host, squash-guest, squash-host, forbid-guest)`;
  const expected = (form: string, count: number, got: number) => `expected ${form} (${count} numbers, got ${got})`;
  const notANumber = (field: string) => `'${field}' is not a number from 0 to 4294967295`;

  rejects('', unknownType(''));
  rejects(':1:2:3', unknownType(''));
  rejects('squash:1:2:3', unknownType('squash'));
  rejects('map', expected('map:<guest-base>:<host-base>:<count>', 3, 0));
  rejects('map:1:2', expected('map:<guest-base>:<host-base>:<count>', 3, 2));
  rejects('map:1:2:3:4', expected('map:<guest-base>:<host-base>:<count>', 3, 4));
  rejects('host:1:2', expected('host:<host-base>:<guest-base>:<count>', 3, 2));
  rejects('squash-guest:1:2', expected('squash-guest:<guest-base>:<host-id>:<count>', 3, 2));
  rejects('forbid-guest:1:2:3', expected('forbid-guest:<guest-base>:<count>', 2, 3));
  rejects('map:1:2:', notANumber(''));
  rejects('map:-1:2:3', notANumber('-1'));
  rejects('map:1:0x10:3', notANumber('0x10'));
  rejects('map: 1:2:3', notANumber(' 1'));
  rejects('map:1:2:4294967296', notANumber('4294967296'));
  rejects('map:1:2:99999999999999999999', notANumber('99999999999999999999'));
});

t.test('parse: ranges stop before 4294967295, (uid_t)-1, which is never an id', async (t) => {
  // The last id is 4294967294: base + count may be 4294967295 at most.
  t.equal(parseIdRule('forbid-guest:0:4294967295').count, 4294967295, 'forbid every id');
  t.equal(parseIdRule('forbid-guest:2001:4294965294').count, 4294965294, 'forbid from 2001 up (virtiofsd #198)');
  t.equal(parseIdRule('map:4294967294:0:1').from, MAX_ID, 'the last id maps');
  t.equal(parseIdRule('forbid-guest:4294967295:0').count, 0, 'an empty range may start anywhere (virtiofsd accepts it)');
  t.throws(() => parseIdRule('forbid-guest:2001:4294967295'), new IdMapError(
    "'forbid-guest:2001:4294967295': guest ids 2001 + count 4294967295 run past 4294967294, the last id (the last number is a count; at most 4294965294 here)"),
  'the #198 pitfall (count taken for an end) is an error, not a silently wrapped range');
  t.throws(() => parseIdRule('map:4294967290:0:10'), new IdMapError(
    "'map:4294967290:0:10': guest ids 4294967290 + count 10 run past 4294967294, the last id (the last number is a count; at most 5 here)"));
  t.throws(() => parseIdRule('host:4294967295:0:1'), new IdMapError(
    "'host:4294967295:0:1': host ids 4294967295 + count 1 run past 4294967294, the last id (the last number is a count; 4294967295 is not an id)"));
  t.throws(() => parseIdRule('map:0:4294967290:6'), new IdMapError(
    "'map:0:4294967290:6': host ids 4294967290 + count 6 run past 4294967294, the last id"), 'the target range must fit too');
  t.throws(() => parseIdRule('host:0:4294967290:6'), new IdMapError(
    "'host:0:4294967290:6': guest ids 4294967290 + count 6 run past 4294967294, the last id"));
  t.equal(parseIdRule('map:0:4294967289:6').to, 4294967289, 'a target range ending at the last id fits');
  t.throws(() => parseIdRule('squash-guest:0:4294967295:5'), new IdMapError("'squash-guest:0:4294967295:5': 4294967295 is (uid_t)-1, not an id"));
  t.throws(() => parseIdRule('squash-host:0:4294967295:5'), new IdMapError("'squash-host:0:4294967295:5': 4294967295 is (uid_t)-1, not an id"));
  t.equal(parseIdRule('squash-guest:0:4294967294:5').to, MAX_ID, 'squashing onto the last id is fine');
});

t.test('map: both directions, 1:1, edges of the range', async (t) => {
  const m = map('map:1000:2000:10');
  t.same([m.toHost(999), m.toHost(1000), m.toHost(1005), m.toHost(1009), m.toHost(1010)], [999, 2000, 2005, 2009, 1010]);
  t.same([m.toGuest(1999), m.toGuest(2000), m.toGuest(2003), m.toGuest(2009), m.toGuest(2010)], [1999, 1000, 1003, 1009, 2010]);
  t.equal(m.toGuest(1005), 1005, 'a host id outside every host rule passes unchanged (virtiofsd: identity)');
  t.equal(m.toHost(2005), 2005, 'a guest id outside every guest rule passes unchanged');
});

t.test('guest and host rules are one direction each', async (t) => {
  const m = map('guest:0:100000:65536', 'host:1001:1000:1');
  t.equal(m.toHost(0), 100000);
  t.equal(m.toHost(65535), 165535);
  t.equal(m.toHost(65536), 65536, 'past the guest range: unchanged');
  t.equal(m.toGuest(100000), 100000, 'a guest rule does not translate host ids back');
  t.equal(m.toGuest(1001), 1000);
  t.equal(m.toHost(1000), 101000, 'a host rule does not translate guest ids');
});

t.test('squash rules: n to 1', async (t) => {
  // virtiofsd README example: an unprivileged daemon as 1001:100, guest sees its files as 1000
  const m = map('squash-guest:0:1001:4294967295', 'host:1001:1000:1');
  for (const g of [0, 1, 1000, 65534, MAX_ID]) t.equal(m.toHost(g), 1001, `guest ${g} -> 1001`);
  t.equal(m.toHost(NO_ID), NO_ID, '(uid_t)-1 is in no range: it stays "no id"');
  t.equal(m.toGuest(1001), 1000);
  t.equal(m.toGuest(0), 0);
  const h = map('squash-host:2000:65534:1000');
  t.same([h.toGuest(1999), h.toGuest(2000), h.toGuest(2999), h.toGuest(3000)], [1999, 65534, 65534, 3000]);
  t.equal(h.toHost(65534), 65534, 'squash-host says nothing about guest ids');
});

t.test('forbid-guest: FORBIDDEN for the range only; the Incus allow-list', async (t) => {
  const m = map('forbid-guest:0:1000', 'map:1000:1000:1', 'forbid-guest:1001:999', 'map:2000:2000:1', 'forbid-guest:2001:4294965294');
  t.same([0, 999, 1001, 1999, 2001, 65534, MAX_ID].map((g) => m.toHost(g)), Array(7).fill(FORBIDDEN));
  t.same([m.toHost(1000), m.toHost(2000)], [1000, 2000]);
  t.equal(m.toGuest(0), 0, 'forbid-guest has no host-to-guest side');
  t.equal(m.toHost(NO_ID), NO_ID, '(uid_t)-1 stays itself (the caller check refuses it on its own)');
  const nothingForbidden = map('forbid-guest:0:999');
  t.equal(nothingForbidden.toHost(999), 999, 'count 999 from 0 leaves 999 allowed: counts, not ends');
});

t.test('empty rules (count 0) are accepted and translate nothing', async (t) => {
  const m = map('map:5:6:0', 'forbid-guest:5:0', 'guest:5:7:1');
  t.equal(m.toHost(5), 7, 'an empty range intersects nothing');
  t.equal(m.toGuest(6), 6);
  t.ok(map('forbid-guest:7:0').empty);
});

t.test('intersecting rules of one direction are an error naming both; other direction is free', async (t) => {
  const cases: Array<[string[], string]> = [
    [['map:1000:2000:10', 'guest:1009:0:1'], "'guest:1009:0:1' and 'map:1000:2000:10' both translate guest id 1009 (rules of one direction must not intersect)"],
    [['map:1000:2000:10', 'host:2000:5:1'], "'host:2000:5:1' and 'map:1000:2000:10' both translate host id 2000 (rules of one direction must not intersect)"],
    [['forbid-guest:0:999', 'map:1000:1000:1', 'forbid-guest:1001:1999', 'map:2000:2000:1'],
      "'map:2000:2000:1' and 'forbid-guest:1001:1999' both translate guest id 2000 (rules of one direction must not intersect)"],
    [['squash-guest:10:0:10', 'forbid-guest:0:11'], "'forbid-guest:0:11' and 'squash-guest:10:0:10' both translate guest id 10 (rules of one direction must not intersect)"],
    [['squash-host:0:0:100', 'squash-host:50:1:10'], "'squash-host:50:1:10' and 'squash-host:0:0:100' both translate host id 50 (rules of one direction must not intersect)"],
    [['map:0:0:1', 'map:0:0:1'], "'map:0:0:1' and 'map:0:0:1' both translate guest id 0 (rules of one direction must not intersect)"],
  ];
  for (const [texts, msg] of cases) t.throws(() => map(...texts), new IdMapError(msg), texts.join(' '));
  // adjacent ranges touch without intersecting; the two directions are independent tables
  const m = map('map:0:100:10', 'map:10:110:10', 'guest:20:0:5', 'host:0:20:5');
  t.same([m.toHost(9), m.toHost(10), m.toHost(20)], [109, 110, 0]);
  t.same([m.toGuest(109), m.toGuest(110), m.toGuest(4)], [9, 10, 24]);
});

t.test('lookup in a larger table (binary search) agrees with a linear scan', async (t) => {
  const rules: string[] = [];
  for (let i = 0; i < 200; i++) rules.push(i % 3 === 0 ? `forbid-guest:${i * 100}:50` : i % 3 === 1 ? `map:${i * 100}:${1e6 + i * 100}:50` : `squash-guest:${i * 100}:7:50`);
  const m = map(...rules.reverse());
  for (let g = 0; g < 20500; g += 7) {
    if (g >= 20000) { if (m.toHost(g) !== g) { t.fail(`guest ${g} past every rule: ${m.toHost(g)}`); return; } continue; }
    const i = Math.floor(g / 100), inRange = g % 100 < 50;
    const want = !inRange ? g : i % 3 === 0 ? FORBIDDEN : i % 3 === 1 ? 1e6 + g : 7;
    if (m.toHost(g) !== want) { t.fail(`guest ${g}: ${m.toHost(g)}, want ${want}`); return; }
  }
  t.pass('ids 0..20500 checked');
});

t.test('buildIdTranslation: null without rules, option named in conflicts', async (t) => {
  t.equal(buildIdTranslation([], []), null, 'no rule: no translation at all (the hot path skips it)');
  t.equal(buildIdTranslation([parseIdRule('map:1:1:0')], []), null, 'only empty rules: none either');
  const ids = buildIdTranslation([parseIdRule('map:1000:2000:10')], []);
  t.equal(ids?.uid.toHost(1001), 2001);
  t.equal(ids?.gid.toHost(1001), 1001, 'gids without rules pass unchanged');
  t.throws(() => buildIdTranslation([], [parseIdRule('map:1:1:5'), parseIdRule('guest:3:0:1')]), new IdMapError(
    "--translate-gid: 'guest:3:0:1' and 'map:1:1:5' both translate guest id 3 (rules of one direction must not intersect)"));
});

t.test('POSIX ACL xattr names are recognised exactly', async (t) => {
  t.ok(isIdCarryingXattr(Buffer.from('system.posix_acl_access')));
  t.ok(isIdCarryingXattr(Buffer.from('system.posix_acl_default')));
  t.notOk(isIdCarryingXattr(Buffer.from('system.posix_acl')));
  t.notOk(isIdCarryingXattr(Buffer.from('user.posix_acl_access')));
  t.notOk(isIdCarryingXattr(Buffer.from('system.posix_acl_access2')));
});

t.test('command line: repeatable, both spellings, errors as usage errors', async (t) => {
  const base = ['--shared-dir', '/tmp', '--mount', '/mnt'];
  const c = parseArgs([...base, '--translate-uid', 'map:1000:2000:10', '--translate-uid=forbid-guest:0:1000', '--translate-gid=squash-guest:0:100:4294967295']);
  t.same(c.translateUid.map((r) => r.text), ['map:1000:2000:10', 'forbid-guest:0:1000']);
  t.same(c.translateGid.map((r) => r.text), ['squash-guest:0:100:4294967295']);
  t.same(c.ignored, [], 'no longer "accepted but not effective"');
  t.throws(() => parseArgs([...base, '--translate-uid=map:1:2']), new UsageError("--translate-uid: 'map:1:2': expected map:<guest-base>:<host-base>:<count> (3 numbers, got 2)"));
  t.throws(() => parseArgs([...base, '--translate-gid', 'map:1:2:3', '--translate-gid', 'map:2:9:1']), new UsageError("--translate-gid: 'map:2:9:1' and 'map:1:2:3' both translate guest id 2 (rules of one direction must not intersect)"));
  t.throws(() => parseArgs([...base, '-o', 'translate_uid=map:1:2:3']), { message: "unknown -o option 'translate_uid'" }, 'the C virtiofsd has no -o form');
  t.throws(() => parseArgs([...base, '--translate-uid']), { message: "option '--translate-uid' needs a value" });

  // the real command: one line on stderr, exit 2, nothing mounted
  const cli = path.resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');
  const r = spawnSync(process.execPath, [cli, ...base, '--translate-uid', 'forbid-guest:2001:4294967295'], { encoding: 'utf8' });
  t.equal(r.status, 2, 'exit code 2');
  t.equal(r.stderr, "vfsd: --translate-uid: 'forbid-guest:2001:4294967295': guest ids 2001 + count 4294967295 run past 4294967294, the last id (the last number is a count; at most 4294965294 here)\nTry 'vfsd --help' for more information.\n");
  const help = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8' });
  t.match(help.stdout, /--translate-uid RULE/);
  t.match(help.stdout, /--translate-gid RULE/);
});
