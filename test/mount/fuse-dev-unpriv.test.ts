// Unprivileged mount through fusermount3 (fd passing over _FUSE_COMMFD): a child node process
// running as nobody mounts with FuseDevTransport and serves INIT; the mount shows in the mount
// table as that user's, and its own unmount (fusermount3 -u -z) ends the session with onClose.
import t from 'tap';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fuseDev } from '../../src/native/fuse-dev';
import { isMounted, tempDir } from '../fixtures/fuse-dev-stub-engine';

const NOBODY = 65534;
const root = process.geteuid?.() === 0;
const childScript = path.resolve(__dirname, '..', 'fixtures', 'fuse-dev-unpriv-child.js');

interface Child {
  proc: ChildProcessWithoutNullStreams;
  /** first stdout line starting with one of the prefixes; undefined once the child is gone */
  expect(...prefixes: string[]): Promise<string | undefined>;
  stderr(): string;
  exited: Promise<number | null>;
  /** the mount table of the child's mount namespace (ours, or its private one) */
  mounts(): string;
}

/** Starts the child on mnt. fusermount3 opens /dev/fuse as the calling user: Debian's udev makes
 *  it 0666, but some machines (containers) leave it 0600, which no code of ours can change. Then
 *  the child runs in a private mount namespace where a 0666 node for the same device is bound over
 *  /dev/fuse: the real fusermount3 and fd passing are still what is tested, and nothing changes
 *  for anyone else on the machine. */
function startChild(t: { comment(...m: string[]): void }, base: string, mnt: string): Child {
  let cmd = process.execPath;
  let args = [childScript, mnt];
  if ((fs.statSync('/dev/fuse').mode & 0o006) !== 0o006) {
    t.comment('/dev/fuse is not 0666 here: the child gets a private mount namespace with a 0666 /dev/fuse');
    const dev = path.join(base, 'dev');
    fs.mkdirSync(dev, { recursive: true });
    cmd = 'unshare';
    args = ['--mount', '--propagation', 'private', 'sh', '-c',
      'set -e; mount -t tmpfs -o mode=755 vfsd-test-dev "$1"; mknod -m 666 "$1/fuse" c 10 229; ' +
      'mount --bind "$1/fuse" /dev/fuse; shift; exec "$@"',
      'sh', dev, process.execPath, childScript, mnt];
  }
  // Through `env -i`: tap instruments every child it sees spawned (it adds its NODE_OPTIONS back
  // even to an explicit env), and its instrumented child, running as nobody, never exits.
  const plainPath = `PATH=${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`;
  const proc = spawn('env', ['-i', plainPath, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const lines: string[] = [];
  let waiters: Array<() => void> = [];
  const wake = (): void => { const w = waiters; waiters = []; w.forEach((f) => f()); };
  let buffered = '';
  let gone = false;
  proc.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    let i;
    while ((i = buffered.indexOf('\n')) >= 0) {
      lines.push(buffered.slice(0, i));
      buffered = buffered.slice(i + 1);
    }
    wake();
  });
  const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => {
    gone = true;  // 'close' comes after all of stdout was delivered
    wake();
    resolve(code);
  }));
  return {
    proc,
    stderr: () => stderr,
    exited,
    mounts: () => fs.readFileSync(`/proc/${proc.pid}/mounts`, 'utf8'),
    async expect(...prefixes) {
      for (;;) {
        const hit = lines.find((l) => prefixes.some((p) => l.startsWith(p)));
        if (hit || gone) return hit;
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
  };
}

function setup(t: { teardown(fn: () => void): void }, owner: number): { base: string; mnt: string } {
  const base = tempDir(true);  // 0755: nobody must reach the mount point
  const mnt = path.join(base, 'mnt');
  fs.mkdirSync(mnt);
  fs.chownSync(mnt, owner, owner);
  t.teardown(() => {
    if (isMounted(mnt)) fuseDev.fuseUnmount(mnt);
    fs.rmSync(base, { recursive: true, force: true });
  });
  return { base, mnt };
}

t.test('a non-root user mounts via fusermount3 and serves it', { skip: !root && 'needs root to become nobody' }, async (t) => {
  const { base, mnt } = setup(t, NOBODY);  // fusermount3 wants a mount point the user may write
  const child = startChild(t, base, mnt);
  t.teardown(() => { if (child.proc.exitCode === null) child.proc.kill('SIGKILL'); });

  const first = await child.expect('MOUNTED', 'MOUNT-FAILED');
  if (first === undefined || first.startsWith('MOUNT-FAILED')) {
    // Not something to pass quietly: say exactly what fusermount3 (or the child) said.
    t.fail(`unprivileged mount failed: ${first ?? 'child exited'}; stderr: ${child.stderr().trim() || '(empty)'}`);
    return;
  }
  const line = child.mounts().split('\n').find((l) => l.split(' ')[1] === mnt);
  t.ok(line, "the mount is listed in the child's /proc/<pid>/mounts");
  t.match(line ?? '', /^vfsd-unpriv \S+ fuse\.vfsdtest rw,nosuid,nodev,.*user_id=65534,group_id=65534/,
    'with our fsname and type, owned by nobody');

  t.equal(await child.expect('STAT'), 'STAT 41ed', 'nobody stats the root through our INIT and GETATTR answers');

  child.proc.stdin.write('unmount\n');
  t.equal(await child.expect('CLOSED', 'UNMOUNT-FAILED'), 'CLOSED unmounted',
    `fusermount3 -u ended the session, onClose fired, the mount is gone (${child.stderr().trim()})`);
  t.equal(await child.exited, 0, 'the child exited cleanly');
});

t.test('fusermount3 refusing gives a clear Error and its own reason on stderr', { skip: !root && 'needs root to become nobody' }, async (t) => {
  const { base, mnt } = setup(t, 0);  // root's 0755 directory: nobody may not mount there
  const child = startChild(t, base, mnt);
  t.teardown(() => { if (child.proc.exitCode === null) child.proc.kill('SIGKILL'); });
  const first = await child.expect('MOUNTED', 'MOUNT-FAILED');
  t.equal(first, `MOUNT-FAILED mount ${mnt}: Permission denied (need root or fusermount3; ` +
    'fusermount3 refused, its reason is printed above)', 'the Error says what went wrong');
  t.match(child.stderr(), /^fusermount3: /m, "fusermount3's reason reached stderr (our stdio was handed down)");
  t.equal(await child.exited, 3, 'the child reported the failure');
  t.comment(`fusermount3 said: ${child.stderr().trim()}`);
});
