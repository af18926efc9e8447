// --seccomp (src/cli/seccomp.ts): the filter is on every thread once vfsd serves, a normal
// workload runs under the default (kill), and an unlisted syscall (the test-only probe, made on
// SIGUSR2 when VFSD_TEST_SECCOMP_PROBE is set) is caught as each mode says: kill → the process
// dies of SIGSYS; trap → SIGSYS handled, logged, the call fails with ENOSYS; log → the call
// proceeds and the kernel logs it; none → no filter at all.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startVfsd, VfsdProcess } from '../helpers/vfsd-process';
import { sys } from '../../src/native/sys';
import { seccomp } from '../../src/native/seccomp';

const root = process.geteuid?.() === 0;
const skip = (!root && 'needs root') || (process.arch !== 'x64' && 'the allowlist exists for x86_64 only');
const PROBE_NR = seccomp.seccompProbeNumber();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, cond: () => boolean, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Seccomp mode of every thread of pid (0 none, 2 filter), from /proc. */
function threadModes(pid: number): number[] {
  return fs.readdirSync(`/proc/${pid}/task`).map((tid) => {
    const m = /Seccomp:\s+(\d)/.exec(fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
    return m ? Number(m[1]) : -1;
  });
}

async function start(t: Parameters<typeof startVfsd>[0], mode: string | null): Promise<VfsdProcess> {
  const args = ['--sandbox', 'none', '--xattr', ...(mode ? ['--seccomp', mode] : [])];
  const v = await startVfsd(t, { args, env: { VFSD_TEST_SECCOMP_PROBE: '1' }, prepare: (src) => fs.writeFileSync(path.join(src, 'f'), 'data') });
  // The filter comes after the mount: wait for its line (or, for none, the serving line).
  await until('startup to finish', () => v.log().includes(mode === 'none' ? '"serving"' : 'seccomp filter installed'));
  await until('the probe handler', () => v.log().includes('session initialised'));
  return v;
}

function probeLine(log: string): { syscall: number; result: number } | null {
  const line = log.split('\n').find((l) => l.includes('"seccomp probe"'));
  return line ? JSON.parse(line) : null;
}

/** Kernel log lines (audit type 1326: seccomp) about pid, or null if the kernel log is unreadable. */
function kernelSeccompLines(pid: number): string[] | null {
  try {
    return execFileSync('dmesg', [], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('type=1326') && l.includes(` pid=${pid} `));
  } catch {
    return null;
  }
}

t.test('kill (the default): a serving workload works, every thread is filtered', { skip }, async (t) => {
  const v = await start(t, null);
  const pid = v.child.pid!;
  const modes = threadModes(pid);
  t.ok(modes.length > 3 && modes.every((m) => m === 2), `all ${modes.length} threads run under the filter (${modes})`);
  t.match(v.log(), /"seccomp filter installed","action":"kill"/);
  // The workload: create, write, read, fsync, xattr, readdir, rename, link, symlink, locks,
  // truncate, chmod, unlink, mkdir/rmdir, statfs, copy.
  const m = v.mnt;
  const fd = fs.openSync(path.join(m, 'new'), 'w+');
  fs.writeSync(fd, Buffer.alloc(200000, 7));
  fs.fsyncSync(fd);
  fs.fdatasyncSync(fd);
  t.equal(fs.readSync(fd, Buffer.alloc(10), 0, 10, 0), 10);
  t.equal(sys.flock(fd, 2 /* LOCK_EX */), 0, 'flock');
  t.equal(sys.flock(fd, 8 /* LOCK_UN */), 0, 'unlock');
  fs.closeSync(fd);
  t.equal(sys.setxattr(path.join(m, 'new'), 'user.k', Buffer.from('v'), 0, true), 0, 'setxattr');
  t.equal(sys.getxattr(path.join(m, 'new'), 'user.k', Buffer.alloc(8), true), 1, 'getxattr');
  t.ok(sys.listxattr(path.join(m, 'new'), Buffer.alloc(64), true) > 0, 'listxattr');
  t.equal(sys.removexattr(path.join(m, 'new'), 'user.k', true), 0, 'removexattr');
  fs.mkdirSync(path.join(m, 'd'));
  fs.renameSync(path.join(m, 'new'), path.join(m, 'd', 'moved'));
  fs.linkSync(path.join(m, 'd', 'moved'), path.join(m, 'hard'));
  fs.symlinkSync('hard', path.join(m, 'sym'));
  t.equal(fs.readlinkSync(path.join(m, 'sym')), 'hard');
  fs.truncateSync(path.join(m, 'hard'), 100);
  fs.chmodSync(path.join(m, 'hard'), 0o600);
  fs.utimesSync(path.join(m, 'hard'), 1, 2);
  fs.copyFileSync(path.join(m, 'f'), path.join(m, 'copy'));
  fs.statfsSync(m);
  t.same(fs.readdirSync(m).sort(), ['copy', 'd', 'f', 'hard', 'sym']);
  // POSIX record locks go through a child (a lock held by this process would block nothing).
  execFileSync('python3', ['-c', `import fcntl,os; f=os.open(${JSON.stringify(path.join(m, 'f'))}, os.O_RDWR); fcntl.lockf(f, fcntl.LOCK_EX); fcntl.lockf(f, fcntl.LOCK_UN)`]);
  for (const n of ['copy', 'hard', 'sym']) fs.unlinkSync(path.join(m, n));
  fs.rmSync(path.join(m, 'd'), { recursive: true });
  t.same(fs.readdirSync(m), ['f']);
  t.equal(v.exitCode(), null, 'still running');
  t.ok(threadModes(pid).every((x) => x === 2), 'threads started since (the libuv pool grows) inherit the filter');
  t.equal(await v.stop(), 0, 'a clean stop under the filter: exit 0 (unmount, state, stats)');
  t.notOk(fs.existsSync(path.join(v.mnt, 'f')), 'unmounted');
});

t.test('kill: an unlisted syscall kills the process with SIGSYS', { skip }, async (t) => {
  const v = await start(t, 'kill');
  const pid = v.child.pid!;
  const died = new Promise<string | null>((r) => v.child.once('exit', (_c, sig) => r(sig)));
  process.kill(pid, 'SIGUSR2');
  t.equal(await died, 'SIGSYS', 'died of SIGSYS');
  t.equal(probeLine(v.log()), null, 'the call never returned');
  const k = kernelSeccompLines(pid);
  if (k === null) t.comment('the kernel log is not readable here: the audit line is not checked');
  else t.ok(k.some((l) => l.includes(`syscall=${PROBE_NR}`) && l.includes('sig=31')), `the kernel logged the kill: ${k[0]}`);
});

t.test('trap: SIGSYS is delivered, handled and logged; vfsd keeps serving', { skip }, async (t) => {
  const v = await start(t, 'trap');
  process.kill(v.child.pid!, 'SIGUSR2');
  await until('the probe result', () => probeLine(v.log()) !== null);
  const p = probeLine(v.log())!;
  t.equal(p.syscall, PROBE_NR);
  t.equal(p.result, -38, 'the refused call failed with ENOSYS');
  t.match(v.log(), new RegExp(`seccomp: trapped forbidden syscall ${PROBE_NR}`), 'the SIGSYS handler logged it');
  t.equal(fs.readFileSync(path.join(v.mnt, 'f'), 'utf8'), 'data', 'still serving');
  t.equal(await v.stop(), 0);
});

t.test('log: the call proceeds and the kernel logs it', { skip }, async (t) => {
  const v = await start(t, 'log');
  const pid = v.child.pid!;
  t.ok(threadModes(pid).every((x) => x === 2), 'filtered');
  process.kill(pid, 'SIGUSR2');
  await until('the probe result', () => probeLine(v.log()) !== null);
  t.ok(probeLine(v.log())!.result >= 0, `the call succeeded (${probeLine(v.log())!.result})`);
  const k = kernelSeccompLines(pid);
  if (k === null) t.comment('the kernel log is not readable here: the audit line is not checked');
  else t.ok(k.some((l) => l.includes(`syscall=${PROBE_NR}`)), `the kernel logged it: ${k.find((l) => l.includes(`syscall=${PROBE_NR}`))}`);
  t.equal(await v.stop(), 0);
});

t.test('none: no filter, the call simply runs', { skip }, async (t) => {
  const v = await start(t, 'none');
  t.ok(threadModes(v.child.pid!).every((x) => x === 0), 'no thread is filtered');
  t.notMatch(v.log(), /seccomp filter installed/);
  process.kill(v.child.pid!, 'SIGUSR2');
  await until('the probe result', () => probeLine(v.log()) !== null);
  t.ok(probeLine(v.log())!.result >= 0);
  t.equal(await v.stop(), 0);
});

t.test('--seccomp takes only virtiofsd\'s values', async (t) => {
  const { parseArgs, UsageError } = await import('../../src/cli/options');
  t.equal(parseArgs([]).seccomp, null, 'not given');
  const { resolveSeccomp } = await import('../../src/cli/seccomp');
  t.same(resolveSeccomp(null, false), { mode: 'kill' }, 'default kill, as virtiofsd');
  t.equal((resolveSeccomp(null, true) as { mode: string }).mode, 'none', 'unprivileged --mount: none by default (fusermount3 at stop)');
  t.match(resolveSeccomp('trap', true), { error: /--seccomp=trap: an unprivileged --mount/ });
  t.equal(parseArgs(['--seccomp=trap']).seccomp, 'trap');
  t.throws(() => parseArgs(['--seccomp', 'allow']), new UsageError("invalid value 'allow' for --seccomp (valid: none, kill, log, trap)"));
});
