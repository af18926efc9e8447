// --xattrmap (src/policy/xattr-map.ts): virtiofsd's rule syntax (separators, white space, the
// map shorthand and its expansion), each rule type in each direction, holes in a map, and the
// command line's exact one-line errors.
import t from 'tap';
import { parseXattrMap, mapClientName, mapServerName, mapServerList, XattrMapError, XattrMap } from '../../src/policy/xattr-map';
import { parseArgs, UsageError } from '../../src/cli/options';

const b = (s: string) => new TextEncoder().encode(s);
const str = (u: Uint8Array) => new TextDecoder().decode(u);
const client = (m: XattrMap, name: string): string => {
  const r = mapClientName(m, b(name));
  return r.kind === 'pass' ? str(r.name) : r.kind;
};
const server = (m: XattrMap, name: string): string | null => {
  const r = mapServerName(m, b(name));
  return r ? str(r) : null;
};
const rules = (m: XattrMap) => m.rules.map((r) => `${r.type}:${r.client ? 'c' : ''}${r.server ? 's' : ''}:${str(r.key)}:${str(r.prepend)}`);

t.test('parse: the separator is each rule\'s first character; white space between rules', async (t) => {
  t.same(rules(parseXattrMap(':prefix:client:trusted.:user.virtiofs.:')), ['prefix:c:trusted.:user.virtiofs.']);
  t.same(rules(parseXattrMap(':prefix:all::user.virtiofs.::bad:all:::')), ['prefix:cs::user.virtiofs.', 'bad:cs::']);
  const doc2 = `
        /prefix/all/trusted./user.virtiofs./
        /bad/server//trusted./
        /bad/client/user.virtiofs.//
        /ok/all///
  `;
  t.same(rules(parseXattrMap(doc2)), ['prefix:cs:trusted.:user.virtiofs.', 'bad:s::trusted.', 'bad:c:user.virtiofs.:', 'ok:cs::']);
  t.same(rules(parseXattrMap(' :ok:all::: |bad|server||a:b|')), ['ok:cs::', 'bad:s::a:b'], 'each rule its own separator; ":" is data under "|"');
  t.same(rules(parseXattrMap(':unsupported:client:security.::')), ['unsupported:c:security.:']);
});

t.test('parse: map shorthand expands as in virtiofsd, and must be last', async (t) => {
  t.same(rules(parseXattrMap(':map::user.virtiofs.:')), ['prefix:cs::user.virtiofs.', 'bad:cs::']);
  t.same(rules(parseXattrMap('/map/trusted./user.virtiofs./')), ['prefix:cs:trusted.:user.virtiofs.', 'bad:cs:user.virtiofs.:trusted.', 'ok:cs::']);
  t.same(rules(parseXattrMap(':ok:client:user.:: :map:security.:user.g.:')).length, 4, 'rules before a map are kept');
  t.throws(() => parseXattrMap(':map::user.x.: :ok:all:::'), new XattrMapError("rule 1: a 'map' rule must be the last rule"));
});

t.test('parse: errors name the rule and the problem', async (t) => {
  const bad: Array<[string, string]> = [
    ['', 'no rules given'],
    ['   \n ', 'no rules given'],
    [':prefix:all:trusted.:user.vm.', "rule 1: incomplete, the prefix is not ended by ':'"],
    [':ok:all::: :bogus:all:::', "rule 2: invalid type 'bogus' (valid: prefix, ok, bad, unsupported, map)"],
    [':ok:everyone:::', "rule 1: invalid scope 'everyone' (valid: client, server, all)"],
    [':ok', "rule 1: incomplete, the type is not ended by ':'"],
  ];
  for (const [text, msg] of bad) t.throws(() => parseXattrMap(text), new XattrMapError(msg), JSON.stringify(text));
});

t.test('client names: prefix, ok, bad, unsupported, first match wins, holes deny', async (t) => {
  const m = parseXattrMap('/prefix/all/trusted./user.virtiofs./ /bad/server//trusted./ /bad/client/user.virtiofs.// /unsupported/client/security.// /ok/all///');
  t.equal(client(m, 'trusted.overlay.opaque'), 'user.virtiofs.trusted.overlay.opaque');
  t.equal(client(m, 'user.virtiofs.trusted.x'), 'deny', 'the prefixed names cannot be reached directly');
  t.equal(client(m, 'security.selinux'), 'unsupported');
  t.equal(client(m, 'user.plain'), 'user.plain');
  const holey = parseXattrMap(':ok:client:user.::');
  t.equal(client(holey, 'user.a'), 'user.a');
  t.equal(client(holey, 'trusted.a'), 'deny', 'no rule matches: refused (virtiofsd aborts)');
});

t.test('server names and lists: stripped, passed, hidden', async (t) => {
  const m = parseXattrMap(':map:trusted.:user.virtiofs.:');
  t.equal(server(m, 'user.virtiofs.trusted.overlay.opaque'), 'trusted.overlay.opaque');
  t.equal(server(m, 'trusted.host.own'), null, "the host's own trusted.* is hidden");
  t.equal(server(m, 'user.other'), 'user.other');
  t.equal(server(m, 'user.virtiofs.'), null, 'a host name equal to the prefix would be empty: hidden');
  const list = b('user.virtiofs.trusted.a\0trusted.b\0user.c\0security.selinux\0');
  t.equal(str(mapServerList(m, list)), 'trusted.a\0user.c\0security.selinux\0');
  t.equal(mapServerList(m, new Uint8Array(0)).length, 0);
  const all = parseXattrMap(':map::user.g.:');
  t.equal(str(mapServerList(all, list)), '', 'everything unprefixed is hidden by a catch-all map');
  t.equal(client(all, 'security.selinux'), 'user.g.security.selinux');
  t.equal(server(parseXattrMap(':ok:client:::'), 'user.a'), null, 'no server rule: hidden');
});

t.test('command line: --xattrmap and -o xattrmap parse, imply --xattr, errors exit 2', async (t) => {
  const c = parseArgs(['--shared-dir', '/x', '--xattrmap', ':map::user.virtiofs.:']);
  t.ok(c.xattrMap);
  t.equal(c.xattr, true, 'implies --xattr, as in virtiofsd');
  t.equal(parseArgs(['-o', 'xattrmap=:map::user.g.:']).xattrMap?.text, ':map::user.g.:');
  t.equal(parseArgs(['--xattrmap=:ok:all:::']).xattrMap?.rules.length, 1);
  t.throws(() => parseArgs(['--xattrmap', ':ok:nobody:::']),
    new UsageError("invalid value for --xattrmap: rule 1: invalid scope 'nobody' (valid: client, server, all)"));
});
