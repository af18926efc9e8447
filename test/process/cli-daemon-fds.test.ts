// vfsd as libvirt runs its virtiofsd: in a session of its own (setsid), holding an fcntl-locked
// pid file on an fd it inherited (libvirt judges the daemon alive by that lock and stops it only
// while the lock is held), stopped by SIGTERM to the whole process group. In every sandbox mode
// the inherited fd must stay open and the lock held while vfsd serves (neither the sandbox
// launcher nor the fd-table presize may close or reuse it), and SIGTERM must end in exit 0 with
// state saved, the lock released with the process.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, tempBase } from '../helpers/vfsd-process';
import { guestInitIn as initIn, FUSE, openRequestSession } from '../helpers/vhost-frontend';
import { waitFor } from '../helpers/wait';

const PIDFD = 9;
/** libvirt's virCommandSetPidFile + virCommandDaemonize, in short: lock the pid file, write our
 *  pid, keep the fd open (inheritable) across the exec of the daemon. */
const DAEMONIZE = `
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.dup2(fd, ${PIDFD})
# Closing any fd of a file drops the process's POSIX locks on it: close first, then lock.
os.close(fd)
fcntl.lockf(${PIDFD}, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.ftruncate(${PIDFD}, 0)
os.write(${PIDFD}, str(os.getpid()).encode())
os.execv(sys.argv[2], sys.argv[2:])
`;
/** Exit 1 if another process holds a lock on the file, 0 if we could take it. */
const PROBE = `
import fcntl, sys
f = open(sys.argv[1], 'r+')
try:
    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    sys.exit(1)
`;

const lockHeld = (file: string) => spawnSync('python3', ['-c', PROBE, file]).status === 1;

const why = process.getuid?.() !== 0 ? 'needs root (sandbox modes)' : spawnSync('python3', ['-c', '']).status !== 0 ? 'needs python3' : undefined;
if (why) t.plan(0, why);

for (const mode of why ? [] : ['none', 'chroot', 'namespace']) {
  t.test(`--sandbox ${mode}: the inherited locked pid file fd stays open; SIGTERM to the group exits 0`, async (t) => {
    const base = tempBase('vfsd-daemon-fds-');
    t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
    const share = path.join(base, 'share');
    fs.mkdirSync(share);
    fs.writeFileSync(path.join(share, 'hello'), 'hi\n');
    const pidfile = path.join(base, 'vfsd.pid');
    const sock = path.join(base, 'vu.sock');
    const state = path.join(base, 'state');
    const args = [CLI, `--socket-path=${sock}`, `--shared-dir=${share}`, `--sandbox=${mode}`];
    // chroot cannot reach a state dir outside the export.
    if (mode !== 'chroot') args.push(`--state-dir=${state}`);
    const child = spawn('python3', ['-c', DAEMONIZE, pidfile, process.execPath, ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (log += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
    const exit = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    t.teardown(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    });
    await waitFor(() => /waiting for vhost-user front end/.test(log), 'vfsd serving', 20_000);
    const pid = child.pid!;
    t.equal(Number(fs.readFileSync(pidfile, 'utf8')), pid, 'the pid file names the daemon (same pid after exec)');
    t.equal(fs.readlinkSync(`/proc/${pid}/fd/${PIDFD}`), pidfile, `fd ${PIDFD} still refers to the pid file`);
    t.ok(lockHeld(pidfile), 'the pid file lock is still held (libvirt sees the daemon alive)');

    const c = await openRequestSession(sock, 4096);
    t.equal((await c.request(FUSE.INIT, 0n, initIn())).h.error, 0, 'a front end is served');
    t.equal((await c.request(FUSE.LOOKUP, 1n, Buffer.from('hello\0'))).h.error, 0);
    t.equal(fs.readlinkSync(`/proc/${pid}/fd/${PIDFD}`), pidfile, 'and the fd is still there while serving');
    t.ok(lockHeld(pidfile), 'the lock too');

    // libvirt's virPidFileForceCleanupPath: SIGTERM to the process group.
    process.kill(-pid, 'SIGTERM');
    t.equal(await exit, 0, 'exit 0 on SIGTERM');
    c.fe.close();
    if (mode !== 'chroot') t.ok(fs.existsSync(path.join(state, 'state.json')), 'state saved by then');
    t.notOk(lockHeld(pidfile), 'the lock went with the process');
    t.match(log, /"msg":"stopping","signal":"SIGTERM"/);
  });
}
