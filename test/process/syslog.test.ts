// --syslog: log lines reach a real syslog socket as RFC 3164 datagrams (facility user), and
// stderr stays quiet. The listener is a private /dev/log: a unix datagram socket bound on a
// tmpfs mounted over /dev in a mount namespace of its own, so the host's /dev is untouched.
// Without a reachable /dev/log vfsd says so on stderr and logs there (as virtiofsd does).
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { CLI, tempBase } from '../helpers/vfsd-process';
import { formatSyslog } from '../../src/cli/syslog-sink';

const root = process.geteuid?.() === 0;

// Runs inside `unshare -m`: a tmpfs over /dev with /dev/null and /dev/fuse, a datagram socket
// at /dev/log, then vfsd; collects what arrives until vfsd is waiting for its front end (and,
// in a sandbox, has entered it), stops it with SIGTERM and prints everything as JSON.
const LISTENER = String.raw`
import json, os, socket, subprocess, sys, time
node, cli, args, want = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
subprocess.check_call(['mount', '--make-rprivate', '/'])
subprocess.check_call(['mount', '-t', 'tmpfs', 'tmpfs', '/dev'])
os.mknod('/dev/null', 0o666 | 0o020000, os.makedev(1, 3))
os.mknod('/dev/fuse', 0o666 | 0o020000, os.makedev(10, 229))
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('/dev/log')
s.settimeout(0.2)
# Without tap's NODE_OPTIONS loaders, as a VM manager would start it.
env = {k: v for k, v in os.environ.items() if k != 'NODE_OPTIONS'}
p = subprocess.Popen([node, cli] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
got, end = [], time.time() + 30
while time.time() < end:
    try:
        got.append(s.recv(65536).decode())
    except socket.timeout:
        pass
    if any(want in g for g in got):
        break
p.send_signal(15)
out, err = p.communicate(timeout=20)
s.settimeout(0.5)
try:
    while True:
        got.append(s.recv(65536).decode())
except socket.timeout:
    pass
print(json.dumps({'datagrams': got, 'stderr': err.decode(), 'stdout': out.decode(), 'code': p.returncode}))
`;

interface Run { datagrams: string[]; stderr: string; stdout: string; code: number }

function runWithListener(t: { teardown(fn: () => void): void }, extra: string[], waitFor: string): Run {
  const base = tempBase('vfsd-syslog-');
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  fs.mkdirSync(path.join(base, 'src'));
  const args = ['--shared-dir', path.join(base, 'src'), '--socket-path', path.join(base, 'vu.sock'), '--syslog', ...extra];
  const r = spawnSync('unshare', ['-m', 'python3', '-c', LISTENER, process.execPath, CLI, JSON.stringify(args), waitFor], { encoding: 'utf8', timeout: 90000 });
  if (r.status !== 0) throw new Error(`listener failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Run;
}

t.test('log lines go to /dev/log, stderr stays quiet', { skip: !root && 'needs root (mount namespace)' }, async (t) => {
  const r = runWithListener(t, ['--sandbox', 'none'], 'seccomp filter installed');
  t.equal(r.code, 0, 'vfsd stopped cleanly');
  t.equal(r.stderr, '', 'nothing on stderr');
  t.ok(r.datagrams.length >= 3, `${r.datagrams.length} datagrams arrived`);
  const starting = r.datagrams.find((d) => d.includes('starting'));
  t.match(starting, /^<14>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d vfsd\[\d+\]: \[vfsd info\] starting /, 'RFC 3164: <user.info>timestamp ident[pid]: message');
  t.ok(r.datagrams.some((d) => d.includes('stopping')), 'the stop is logged too');
  t.ok(r.datagrams.every((d) => !d.includes('\n')), 'one line per datagram');
});

t.test('in the namespace sandbox the socket, connected before, keeps working', { skip: !root && 'needs root (mount namespace)' }, async (t) => {
  const r = runWithListener(t, ['--sandbox', 'namespace'], 'seccomp filter installed');
  t.equal(r.stderr, '', 'nothing on stderr');
  t.ok(r.datagrams.some((d) => d.includes('sandbox entered')), 'a line logged inside the sandbox (no /dev/log in there) arrived');
  t.ok(r.datagrams.some((d) => d.includes('stopping')), 'and the stop');
});

t.test('no /dev/log: a warning on stderr, then stderr as usual', { skip: !root && 'needs root' }, async (t) => {
  if (fs.existsSync('/dev/log')) { t.comment('this host has a /dev/log: not checked'); return; }
  const base = tempBase('vfsd-syslog-');
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  const r = spawnSync(process.execPath, [CLI, '--shared-dir', base, '--socket-path', path.join(base, 's'), '--sandbox', 'none', '--syslog', '--seccomp', 'none'], { encoding: 'utf8', timeout: 3000, killSignal: 'SIGTERM' });
  t.match(r.stderr, /can't enable syslog: cannot connect to \/dev\/log/);
  t.match(r.stderr, /waiting for vhost-user front end/);
});

t.test('the datagram format', async (t) => {
  const at = new Date(2026, 0, 5, 7, 8, 9);
  t.equal(formatSyslog('error', 'vfsd', 42, 'a\nb', at), '<11>Jan  5 07:08:09 vfsd[42]: a b');
  t.equal(formatSyslog('warn', 'vfsd', 1, 'x', at).slice(0, 4), '<12>');
  t.equal(formatSyslog('debug', 'vfsd', 1, 'x', at).slice(0, 4), '<15>');
});
