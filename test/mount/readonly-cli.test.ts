// --readonly (every change refused with EROFS, reads fine) and the command line itself: one-line
// errors with the documented exit codes, and a clean unmount with exit 0 on SIGTERM/SIGINT.
import t from 'tap';
import { spawnSync, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AT_FDCWD, C, sys } from '../../src/native/sys';
import { CLI, isMounted, startVfsd, tempBase } from '../helpers/vfsd-process';
import { errnoName, outcome, show } from '../helpers/compare';

const root = process.geteuid?.() === 0;

t.test('--readonly', { skip: !root && 'needs root' }, async (t) => {
  const v = await startVfsd(t, { args: ['--readonly', '--xattr'], prepare: (src) => {
    fs.writeFileSync(path.join(src, 'f'), 'read me');
    fs.mkdirSync(path.join(src, 'd'));
    fs.writeFileSync(path.join(src, 'd', 'inner'), 'x');
    fs.symlinkSync('f', path.join(src, 'link'));
  } });
  const m = (n: string) => path.join(v.mnt, n);
  const sysCall = (r: number) => { if (r < 0) throw Object.assign(new Error('sys'), { code: errnoName(-r) }); return r; };
  const writes: Record<string, () => unknown> = {
    'create': () => fs.writeFileSync(m('new'), 'x'),
    'open O_WRONLY': () => fs.openSync(m('f'), 'w'),
    'open O_RDWR': () => fs.openSync(m('f'), 'r+'),
    'open O_APPEND': () => fs.openSync(m('f'), 'a'),
    'mkdir': () => fs.mkdirSync(m('nd')),
    'rmdir': () => fs.rmdirSync(m('d')),
    'unlink': () => fs.unlinkSync(m('f')),
    'rename': () => fs.renameSync(m('f'), m('g')),
    'link': () => fs.linkSync(m('f'), m('h')),
    'symlink': () => fs.symlinkSync('f', m('s')),
    'mknod fifo': () => sysCall(sys.mknodat(AT_FDCWD, m('fifo'), C.S_IFIFO | 0o644, 0, 0)),
    'chmod': () => fs.chmodSync(m('f'), 0o600),
    'chown': () => fs.chownSync(m('f'), 1, 1),
    'utimes': () => fs.utimesSync(m('f'), 1, 1),
    'truncate': () => fs.truncateSync(m('f'), 0),
    'setxattr': () => sysCall(sys.setxattr(m('f'), 'user.x', Buffer.from('x'), 0, true)),
    'removexattr': () => sysCall(sys.removexattr(m('f'), 'user.x', true)),
  };
  for (const [name, fn] of Object.entries(writes)) {
    const o = outcome(fn);
    t.equal(show(o), 'EROFS', `${name}: EROFS`);
  }
  t.equal(fs.readFileSync(m('f'), 'utf8'), 'read me', 'reading a file works');
  t.same(fs.readdirSync(v.mnt).sort(), ['d', 'f', 'link'], 'listing works');
  t.equal(fs.readlinkSync(m('link')), 'f', 'readlink works');
  t.equal(fs.statSync(m('d/inner')).size, 1, 'stat works');
  t.same(fs.readdirSync(v.src).sort(), ['d', 'f', 'link'], 'nothing changed on the host');
  t.equal(fs.readFileSync(path.join(v.src, 'f'), 'utf8'), 'read me', 'the host file is intact');
  t.match(fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.includes(` ${v.mnt} `)) ?? '', / ro,/, 'the mount itself is read-only');
});

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const p = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30000 });
  return { status: p.status, stdout: p.stdout, stderr: p.stderr };
}

t.test('command-line errors: one line, no stack trace, the right exit code', async (t) => {
  const cases: [string, string[], number, RegExp][] = [
    ['an unknown option', ['--bogus'], 2, /^vfsd: unknown option '--bogus'$/m],
    ['a bad --cache value', ['--shared-dir', '/tmp', '--mount', '/mnt', '--cache', 'sometimes'], 2, /^vfsd: invalid value 'sometimes' for --cache/m],
    ['an option without its value', ['--shared-dir'], 2, /^vfsd: option '--shared-dir' needs a value$/m],
    ['--multidevs=bogus', ['--shared-dir', '/tmp', '--mount', '/mnt', '--multidevs=bogus'], 2, /^vfsd: unknown multidevs 'bogus' \(valid: remap, forbid, warn, default\)$/m],
    ['no --shared-dir', ['--mount', '/mnt'], 2, /^vfsd: missing --shared-dir/m],
    ['a missing shared directory', ['--shared-dir', '/nonexistent/vfsd-test-dir', '--mount', '/mnt'], 1, /^vfsd: shared directory \/nonexistent\/vfsd-test-dir: does not exist$/m],
    ['a shared "directory" that is a file', ['--shared-dir', '/etc/hostname', '--mount', '/mnt'], 1, /^vfsd: shared directory \/etc\/hostname: not a directory$/m],
  ];
  for (const [what, args, code, message] of cases) {
    const r = cli(args);
    t.equal(r.status, code, `${what}: exit ${code}`);
    t.match(r.stderr, message, `${what}: says ${message}`);
    const lines = r.stderr.split('\n').filter((l) => l && !l.startsWith('Try \'vfsd --help\'') && !l.startsWith('{'));
    t.equal(lines.length, 1, `${what}: one line of error (got ${JSON.stringify(r.stderr)})`);
    t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
  }
  const help = cli(['--help']);
  t.equal(help.status, 0, '--help exits 0');
  t.match(help.stdout, /--shared-dir DIR/, '--help lists the options');
  t.match(cli(['--version']).stdout, /^vfsd \d+\.\d+\.\d+/, '--version prints the version');
});

t.test('a mount point that does not exist: one line, non-zero, nothing mounted', { skip: !root && 'needs root' }, async (t) => {
  const base = tempBase();
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  const r = cli(['--shared-dir', base, '--mount', path.join(base, 'nope')]);
  t.not(r.status, 0, `exit ${r.status}`);
  t.match(r.stderr, /^vfsd: .*nope.*$/m, `says what is wrong: ${r.stderr.trim()}`);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

t.test('SIGTERM and SIGINT unmount and exit 0; umount from outside ends vfsd with 0', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    const v = await startVfsd(t);
    fs.writeFileSync(path.join(v.mnt, 'f'), 'x');
    const fd = fs.openSync(path.join(v.mnt, 'f'), 'r'); // an open file does not keep vfsd from ending
    const exited = new Promise<number | null>((r) => v.child.on('exit', r));
    v.child.kill(sig);
    t.equal(await exited, 0, `${sig}: exit 0`);
    t.notOk(isMounted(v.mnt), `${sig}: unmounted`);
    t.match(v.log(), /"msg":"unmounted"/, `${sig}: logs the unmount`);
    try { fs.closeSync(fd); } catch { /* ENOTCONN is fine */ }
  }
  const v = await startVfsd(t);
  const exited = new Promise<number | null>((r) => v.child.on('exit', r));
  execFileSync('umount', [v.mnt]);
  t.equal(await exited, 0, 'umount MNT: vfsd exits 0');
});
