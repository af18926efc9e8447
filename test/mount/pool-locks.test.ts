// GETLK, SETLK, SETLKW and flock on a slow mount run on the worker pool (issue 12), through the
// real command on /dev/fuse. The export is the held source (test/helpers/held-source.ts), a FUSE
// stub served by this process that takes the locks itself (POSIX_LOCKS, FLOCK_LOCKS: as a
// network filesystem, where each lock call is a round trip to its server): vfsd (--cache never)
// first sees two LOOKUPs of `lag*` names take 20 ms each inline, which marks the export's mount
// slow (src/passthrough/off-loop.ts). The source then holds the lock request a client's call
// makes on a `held*` file (vfsd's F_OFD_SETLK, F_OFD_GETLK or flock, each one non-blocking
// attempt) until the test lets it go: vfsd must answer another client's stat meanwhile, and the
// client then gets the source's answer. The client calls run in python3, in a child process, so
// this one stays free to release the held request.
// Interrupted: a SETLKW whose attempt is held when the client's signal comes ends when that
// attempt does (EINTR: the lock was still taken), never with an attempt after it.
// Control: with --thread-pool-size 0 the lock call runs on vfsd's JS thread and the stat is not
// answered while it is held — so the test can fail.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { OP } from '../fixtures/stub-engine';
import { statHeldUp } from '../helpers/held-source';
import { heldAct, othersAnsweredWhileHeld, slowVfsd } from '../helpers/slow-vfsd';

const root = process.geteuid?.() === 0;
const run = promisify(execFile);

/** Opens p read-write and runs `call` (fd in scope) in python3; what it printed: 'ok', its own
 *  output, or the errno. With `alarmS`, a SIGALRM after that many seconds raises in the call
 *  (Python would otherwise retry it after EINTR): 'interrupted'. */
async function py(call: string, p: string, alarmS = 0): Promise<string> {
  const script = [
    'import fcntl, os, signal, struct, sys',
    'class Alarm(Exception): pass',
    'def on_alarm(s, f): raise Alarm()',
    'signal.signal(signal.SIGALRM, on_alarm)',
    'fd = os.open(sys.argv[1], os.O_RDWR)',
    `signal.alarm(${alarmS})`,
    'try:',
    `    r = ${call}`,
    "    print('ok' if r is None else r)",
    'except Alarm:',
    "    print('interrupted')",
    'except OSError as e:',
    "    print('errno', e.errno)",
  ].join('\n');
  return (await run('python3', ['-c', script, p])).stdout.trim();
}

// struct flock on x86_64: short l_type, l_whence; off_t l_start, l_len; pid_t l_pid.
const GETLK = "'unlocked' if struct.unpack('hhqqi', fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack('hhqqi', fcntl.F_WRLCK, 0, 0, 0, 0)))[0] == fcntl.F_UNLCK else 'locked'";

const CALLS: Array<{ op: number; what: string; file: string; call: string; want: string }> = [
  { op: OP.SETLK, what: 'SETLK', file: 'held-lock', call: 'fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)', want: 'ok' },
  { op: OP.SETLK, what: 'SETLKW (its attempt)', file: 'held-lockw', call: 'fcntl.lockf(fd, fcntl.LOCK_EX, 10, 0)', want: 'ok' },
  { op: OP.SETLK, what: 'blocking flock (its attempt)', file: 'held-flock', call: 'fcntl.flock(fd, fcntl.LOCK_EX)', want: 'ok' },
  { op: OP.GETLK, what: 'GETLK', file: 'held-getlk', call: GETLK, want: 'unlocked' },
  { op: OP.SETLK, what: 'SETLK of a lock the source has taken', file: 'heldbusy-lock', call: 'fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)', want: 'errno 11' },
];

for (const c of CALLS) {
  t.test(`a ${c.what} held on a slow source does not hold up other clients; the answer is the source's`, { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
    const { src, v } = await slowVfsd(t, c.op, ['--thread-pool-size', '4']);
    const p = path.join(v.mnt, c.file);
    t.ok((await fs.promises.stat(p)).isFile(), 'the file is there');
    const held = await heldAct(src, c.op, c.what, () => py(c.call, p));
    t.equal(await othersAnsweredWhileHeld(t, src, v.mnt, c.op, c.what, held), c.want, `the client got ${c.want}`);
    t.equal(await v.stop(), 0, 'clean exit');
  });
}

t.test('a SETLKW interrupted while its attempt is held ends when the attempt does: EINTR', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, v } = await slowVfsd(t, OP.SETLK, ['--thread-pool-size', '4']);
  const p = path.join(v.mnt, 'heldbusy-wait');
  await fs.promises.stat(p);
  const held = await heldAct(src, OP.SETLK, 'SETLKW attempt', () => py('fcntl.lockf(fd, fcntl.LOCK_EX)', p, 1));
  // The alarm comes after 1 s: the kernel sends INTERRUPT, and the attempt cannot be taken back.
  await new Promise((r) => setTimeout(r, 2500));
  t.notOk(held.settled(), 'interrupted, the client still waits for the attempt that runs');
  t.equal(src.held(OP.SETLK), 1, 'one attempt held, no other');
  src.release(OP.SETLK, true);
  t.equal(await held.p, 'interrupted', 'the lock was taken: the client\'s call ends EINTR');
  t.ok((await fs.promises.stat(v.mnt)).isDirectory(), 'vfsd serves on');
  t.equal(await v.stop(), 0, 'clean exit');
});

t.test('control: --thread-pool-size 0 runs the lock call inline, so the held one holds up the stat', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, v } = await slowVfsd(t, OP.SETLK, ['--thread-pool-size', '0']);
  const p = path.join(v.mnt, 'held-lock');
  await fs.promises.stat(p);
  const held = await heldAct(src, OP.SETLK, 'SETLK', () => py('fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)', p));
  await statHeldUp(t, v.mnt, () => src.release(OP.SETLK, true), 'the lock call');
  t.equal(await held.p, 'ok', 'the held SETLK completes with the source\'s answer');
  t.equal(await v.stop(), 0, 'clean exit');
});
