// Every command line libvirt writes for a virtiofsd (src/qemu/qemu_virtiofs.c of libvirt 9.0 and
// of libvirt 10+, with and without "separate-options"), parsed as vfsd must take it; and the
// capabilities vfsd prints for libvirt to read.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { parseArgs, splitDashO, UsageError } from '../../src/cli/options';
import { capabilitiesJson } from '../../src/cli/serve-vhost-user';

const CLI = path.resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');

t.test('libvirt 9.0: one -o list (commas of the path doubled), --thread-pool-size, -d', async (t) => {
  const c = parseArgs(['--fd=23', '-o', 'source=/srv/a,,b,,,,c,cache=none,sandbox=chroot,xattr,flock,posix_lock', '--thread-pool-size=16', '-d']);
  t.equal(c.fd, 23);
  t.equal(c.sharedDir, '/srv/a,b,,c', ',, is one literal comma, however many');
  t.equal(c.cache, 'never', 'cache=none is never, as in virtiofsd');
  t.equal(c.sandbox, 'chroot');
  t.ok(c.xattr && c.flock && c.posixLock);
  t.equal(c.threadPoolSize, 16);
  t.equal(c.logLevel, 'debug', '-d is debug');
  const off = parseArgs(['--fd=3', '-o', 'source=/x,cache=always,sandbox=namespace,no_xattr,no_flock,no_posix_lock']);
  t.same([off.cache, off.sandbox, off.xattr, off.flock, off.posixLock], ['always', 'namespace', false, false, false]);
  t.equal(parseArgs(['--fd=3', '-o', 'source=/x,cache=auto']).cache, 'auto');
  t.equal(parseArgs(['--fd=3', '-o', 'source=/ends-with-comma,,']).sharedDir, '/ends-with-comma,');
});

t.test('-o splitting: left to right, a doubled comma is literal', async (t) => {
  t.same(splitDashO('a,,,b'), ['a,', 'b']);
  t.same(splitDashO('a,b'), ['a', 'b']);
  t.same(splitDashO(',,a'), [',a']);
  t.same(splitDashO('a,,b,c=d'), ['a,b', 'c=d']);
  t.same(splitDashO('a,'), ['a'], 'a trailing single comma ends the list');
});

t.test('libvirt 10+ with separate-options: each option on its own, both spellings', async (t) => {
  const c = parseArgs(['--fd=23', '--shared-dir', '/srv/a,b', '--cache', 'never', '--sandbox', 'chroot', '--xattr',
    '--thread-pool-size=4', '--rlimit-nofile=4096', '--log-level', 'debug']);
  t.same([c.sharedDir, c.cache, c.sandbox, c.xattr, c.threadPoolSize, c.rlimitNofile, c.logLevel],
    ['/srv/a,b', 'never', 'chroot', true, 4, 4096, 'debug'], 'no comma escaping outside -o');
  t.equal(parseArgs(['--fd=3', '--shared-dir=/x', '--cache=none']).cache, 'never', '--cache none too (older libvirt)');
  t.equal(parseArgs(['--fd=3', '--shared-dir=/x', '--cache', 'always']).cache, 'always');
  t.equal(parseArgs(['--fd=3', '--shared-dir=/x', '--log-level=debug']).logLevel, 'debug');
});

t.test('libvirt 10 session mode: --uid-map/--gid-map parsed as virtiofsd writes them', async (t) => {
  const c = parseArgs(['--fd=3', '--shared-dir=/x', '--uid-map=:0:1000:1:', '--uid-map=:1:100000:65536:', '--gid-map=:0:1000:1:']);
  t.same(c.uidMap, [{ inside: 0, outside: 1000, count: 1 }, { inside: 1, outside: 100000, count: 65536 }]);
  t.same(c.gidMap, [{ inside: 0, outside: 1000, count: 1 }]);
  t.same(parseArgs(['--uid-map', '/5/6/7/']).uidMap, [{ inside: 5, outside: 6, count: 7 }], 'the first character is the delimiter');
  for (const bad of ['0:1000:1', ':0:1000:1', ':0:1000:', ':0:1000:1:2:', ':a:1:1:', '', '1', '/0:1:1/', ':0:1:0:', ':4294967294:0:2:']) {
    t.throws(() => parseArgs([`--uid-map=${bad}`]), { message: /for --uid-map/ }, `refused: '${bad}'`);
  }
  t.throws(() => parseArgs(['--gid-map=x']), new UsageError("invalid value 'x' for --gid-map: expected :INSIDE:OUTSIDE:COUNT: (e.g. :0:100000:65536:)"));
  // The kernel would refuse these only once the namespace exists (EINVAL writing the map).
  t.throws(() => parseArgs(['--uid-map=:0:1000:1:', '--uid-map=:0:100000:65536:']),
    new UsageError('--uid-map :0:1000:1: and :0:100000:65536: overlap inside the namespace (each id may be mapped once)'));
  t.throws(() => parseArgs(['--gid-map=:0:100000:10:', '--gid-map=:10:100009:5:']),
    new UsageError('--gid-map :0:100000:10: and :10:100009:5: overlap on the host (each id may be mapped once)'));
  t.same(parseArgs(['--uid-map=:0:100000:10:', '--uid-map=:10:100010:5:']).uidMap.length, 2, 'adjacent ranges do not overlap');
  const many = Array.from({ length: 341 }, (_, i) => `--uid-map=:${i}:${100000 + i}:1:`);
  t.throws(() => parseArgs(many), new UsageError('--uid-map: 341 ranges, the kernel takes at most 340'));
});

t.test('the C virtiofsd level names', async (t) => {
  t.equal(parseArgs(['-o', 'log_level=err']).logLevel, 'error');
  t.equal(parseArgs(['-o', 'debug']).logLevel, 'debug');
  t.throws(() => parseArgs(['-o', 'cache=sometimes']), new UsageError("invalid value 'sometimes' for -o cache (valid: auto, always, metadata, never)"));
});

t.test('--security-label takes never|auto|always like --posix-acl (the bare flag: always) and implies --xattr', async (t) => {
  const base = ['--fd=3', '--shared-dir=/x'];
  t.same([parseArgs(base).securityLabel, parseArgs(base).xattr], ['never', false], 'default: never, no xattrs');
  for (const m of ['never', 'auto', 'always'] as const) t.equal(parseArgs([...base, `--security-label=${m}`]).securityLabel, m, m);
  t.same([parseArgs([...base, '--security-label']).securityLabel, parseArgs([...base, '--security-label']).xattr], ['always', true], 'bare: always, and xattrs on');
  t.equal(parseArgs([...base, '--security-label=never']).xattr, false, 'never leaves xattrs off');
  t.equal(parseArgs(['--fd=3', '-o', 'source=/x,security_label']).securityLabel, 'always', '-o security_label');
  t.equal(parseArgs(['--fd=3', '-o', 'source=/x,security_label,no_security_label']).securityLabel, 'never', '-o no_security_label');
  t.throws(() => parseArgs([...base, '--security-label=sometimes']), new UsageError("invalid value 'sometimes' for --security-label (valid: never, auto, always)"), 'another value: a usage error');
});

t.test('--print-capabilities: the vhost-user-fs JSON with only what vfsd does', async (t) => {
  const caps = JSON.parse(capabilitiesJson());
  t.same(caps, { type: 'fs', features: ['posix-acl-negotiation-mode', 'security-label-negotiation-mode', 'separate-options'] });
  const r = spawnSync(process.execPath, [CLI, '--print-capabilities'], { encoding: 'utf8' });
  t.equal(r.status, 0);
  t.same(JSON.parse(r.stdout), caps, 'the command prints the same');
  const discovery = JSON.parse(require('node:fs').readFileSync(path.resolve(__dirname, '..', '..', '..', 'data', '40-vfsd.json'), 'utf8'));
  t.same(discovery.features, caps.features, 'the discovery file lists the same features');
  t.equal(discovery.type, 'fs');
});

t.test('--uid-map/--gid-map with a sandbox that makes no user namespace: refused, never ignored', async (t) => {
  // The maps take effect with --sandbox namespace (test/process/sandbox-userns.test.ts).
  for (const sandbox of ['chroot', 'none']) {
    const r = spawnSync(process.execPath, [CLI, '--socket-path=/tmp/vfsd-never.sock', '--shared-dir=/tmp', `--sandbox=${sandbox}`, '--uid-map=:0:100000:65536:'], { encoding: 'utf8' });
    t.equal(r.status, 2, `--sandbox ${sandbox}: exit 2`);
    t.match(r.stderr, new RegExp(`^vfsd: --uid-map takes effect only with --sandbox namespace .*--sandbox ${sandbox} makes none`));
  }
});
