// POSIX record locks and flock() through vfsd: a lock one process takes through the mount
// conflicts with another process through the mount and with a process on the host file; SETLKW
// waits for the release; closing any fd of the file drops the process's POSIX locks (as
// natively). Each check runs against the native file too and must agree.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { C, sys } from '../../src/native/sys';
import { startVfsd, VfsdProcess } from '../helpers/vfsd-process';

const root = process.geteuid?.() === 0;
const SYS = require.resolve('../../src/native/sys');
const EAGAIN = -11;

/** Runs a lock probe in another process: tries `cmd` on [start, start+len) of `file`. */
function probe(file: string, cmd: 'setlk' | 'getlk' | 'flock', type: number, start = 0, len = 100): { r: number; lock: number[] } {
  const script = `
    const { AT_FDCWD, sys, C } = require(${JSON.stringify(SYS)});
    const fd = sys.openat(AT_FDCWD, ${JSON.stringify(file)}, C.O_RDWR, 0);
    if (fd < 0) { process.stdout.write(JSON.stringify({ r: fd, lock: [] })); process.exit(0); }
    const lock = new Float64Array([${type}, ${start}, ${len}, 0]);
    let r;
    if (${JSON.stringify(cmd)} === 'flock') r = sys.flock(fd, ${type} | C.LOCK_NB);
    else r = sys.fcntlLock(fd, ${JSON.stringify(cmd)} === 'setlk' ? C.F_SETLK : C.F_GETLK, lock);
    process.stdout.write(JSON.stringify({ r, lock: Array.from(lock) }));
  `;
  const p = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30000 });
  if (p.status !== 0) throw new Error(`probe failed: ${p.stderr}`);
  return JSON.parse(p.stdout);
}

function lock(fd: number, type: number, start = 0, len = 100, cmd: number = C.F_SETLK): number {
  return sys.fcntlLock(fd, cmd, new Float64Array([type, start, len, 0]));
}

t.test('locks through vfsd', { skip: !root && 'needs root' }, async (t) => {
  let v: VfsdProcess;
  let files: { name: string; mount: string; native: string; host: string };
  t.before(async () => {
    v = await startVfsd(t, { prepare: (src) => {
      fs.writeFileSync(path.join(src, 'lockme'), 'x'.repeat(1000));
      fs.writeFileSync(path.join(src, 'native-lockme'), 'x'.repeat(1000));
      fs.writeFileSync(path.join(src, 'flockme'), '');
      fs.writeFileSync(path.join(src, 'native-flockme'), '');
    } });
    files = { name: 'lockme', mount: path.join(v.mnt, 'lockme'), native: path.join(v.src, 'native-lockme'), host: path.join(v.src, 'lockme') };
  });

  t.test('a POSIX write lock conflicts with another process', async (t) => {
    const results: Record<string, unknown>[] = [];
    for (const [where, file] of [['native', files.native], ['mount', files.mount]] as const) {
      const fd = fs.openSync(file, 'r+');
      try {
        const own = lock(fd, C.F_WRLCK, 0, 100);
        const conflict = probe(file, 'setlk', C.F_WRLCK, 50, 10);
        const readConflict = probe(file, 'setlk', C.F_RDLCK, 0, 1);
        const elsewhere = probe(file, 'setlk', C.F_WRLCK, 200, 10);
        const get = probe(file, 'getlk', C.F_WRLCK, 0, 0);
        const getFree = probe(file, 'getlk', C.F_WRLCK, 500, 10);
        t.comment(`${where}: F_GETLK reports holder pid ${get.lock[3]} (this process is ${process.pid})`);
        results.push({ own, conflict: conflict.r, readConflict: readConflict.r, elsewhere: elsewhere.r,
          getType: get.lock[0], getStart: get.lock[1], getLen: get.lock[2], getFreeType: getFree.lock[0] });
      } finally {
        fs.closeSync(fd);
      }
    }
    t.same(results[1], results[0], `through vfsd ${JSON.stringify(results[1])}, natively ${JSON.stringify(results[0])}`);
    t.equal(results[0].conflict, EAGAIN, 'natively the second process is refused (the test can fail)');
  });

  t.test('a lock taken through the mount is a lock on the host file', async (t) => {
    const fd = fs.openSync(files.mount, 'r+');
    try {
      t.equal(lock(fd, C.F_WRLCK, 0, 100), 0, 'locked through the mount');
      t.equal(probe(files.host, 'setlk', C.F_WRLCK, 0, 100).r, EAGAIN, 'a process on the host file is refused');
      t.equal(lock(fd, C.F_UNLCK, 0, 100), 0, 'unlocked through the mount');
      t.equal(probe(files.host, 'setlk', C.F_WRLCK, 0, 100).r, 0, 'now the host process gets it');
    } finally {
      fs.closeSync(fd);
    }
  });

  t.test('closing any fd of the file drops the process\'s POSIX locks', async (t) => {
    const results: number[][] = [];
    for (const file of [files.native, files.mount]) {
      const a = fs.openSync(file, 'r+');
      const b = fs.openSync(file, 'r');
      lock(a, C.F_WRLCK, 0, 100);
      const before = probe(file, 'setlk', C.F_WRLCK, 0, 100).r;
      fs.closeSync(b);
      const after = probe(file, 'setlk', C.F_WRLCK, 0, 100).r;
      fs.closeSync(a);
      results.push([before, after]);
    }
    t.same(results[1], results[0], `held then dropped: natively ${results[0]}, through vfsd ${results[1]}`);
    t.same(results[0], [EAGAIN, 0], 'natively: refused while held, free after closing the other fd');
  });

  t.test('flock conflicts between processes', async (t) => {
    const results: number[][] = [];
    for (const file of [path.join(v.src, 'native-flockme'), path.join(v.mnt, 'flockme')]) {
      const fd = fs.openSync(file, 'r');
      const own = sys.flock(fd, C.LOCK_EX);
      const other = probe(file, 'flock', C.LOCK_EX).r;
      const shared = probe(file, 'flock', C.LOCK_SH).r;
      sys.flock(fd, C.LOCK_UN);
      const afterUnlock = probe(file, 'flock', C.LOCK_EX).r;
      fs.closeSync(fd);
      results.push([own, other, shared, afterUnlock]);
    }
    t.same(results[1], results[0], `flock: natively ${results[0]}, through vfsd ${results[1]}`);
    t.same(results[0], [0, EAGAIN, EAGAIN, 0], 'natively: held exclusively, refused, then free');
  });

  t.test('F_SETLKW waits until the lock is released', async (t) => {
    const fd = fs.openSync(files.mount, 'r+');
    t.equal(lock(fd, C.F_WRLCK, 0, 100), 0, 'this process holds the lock through the mount');
    const script = `
      const { AT_FDCWD, sys, C } = require(${JSON.stringify(SYS)});
      const fd = sys.openat(AT_FDCWD, ${JSON.stringify(files.mount)}, C.O_RDWR, 0);
      process.stdout.write('waiting\\n');
      const r = sys.fcntlLock(fd, C.F_SETLKW, new Float64Array([C.F_WRLCK, 0, 100, 0]));
      process.stdout.write('got ' + r + '\\n');
    `;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let released = false;
    let gotWhileHeld = false;
    const lines: string[] = [];
    const waiting = new Promise<void>((resolve) => {
      child.stdout!.on('data', (d) => {
        for (const l of d.toString().split('\n').filter(Boolean)) {
          lines.push(l);
          if (l === 'waiting') resolve();
          if (l.startsWith('got') && !released) gotWhileHeld = true;
        }
      });
    });
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    await waiting;
    // Give a child that does NOT wait every chance to report early (this is not a timing
    // assertion: a correct server passes however long this takes).
    await new Promise((r) => setTimeout(r, 500));
    t.equal(probe(files.mount, 'setlk', C.F_WRLCK, 0, 100).r, EAGAIN, 'still held while the waiter waits');
    released = true;
    t.equal(lock(fd, C.F_UNLCK, 0, 100), 0, 'released');
    t.equal(await exited, 0, 'the waiter finished');
    t.notOk(gotWhileHeld, 'the waiter did not get the lock while it was held');
    t.same(lines, ['waiting', 'got 0'], 'the waiter got the lock (0) after the release');
    fs.closeSync(fd);
  });

  t.test('a waiter killed in F_SETLKW never takes the lock (INTERRUPT)', async (t) => {
    const fd = fs.openSync(files.mount, 'r+');
    lock(fd, C.F_WRLCK, 0, 100);
    const script = `
      process.on('SIGUSR1', () => {});
      const { AT_FDCWD, sys, C } = require(${JSON.stringify(SYS)});
      const fd = sys.openat(AT_FDCWD, ${JSON.stringify(files.mount)}, C.O_RDWR, 0);
      process.stdout.write('waiting\\n');
      const r = sys.fcntlLock(fd, C.F_SETLKW, new Float64Array([C.F_WRLCK, 0, 100, 0]));
      process.stdout.write('result ' + r + '\\n');
    `;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const waiting = new Promise<void>((resolve) => child.stdout!.on('data', (d) => { out += d; if (out.includes('waiting')) resolve(); }));
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    await waiting;
    await new Promise((r) => setTimeout(r, 300));
    // A fatal signal: the kernel sends INTERRUPT for the pending SETLKW and the process dies.
    child.kill('SIGKILL');
    await exited;
    t.equal(lock(fd, C.F_UNLCK, 0, 100), 0, 'released after the waiter died');
    t.equal(probe(files.mount, 'setlk', C.F_WRLCK, 0, 100).r, 0, 'the lock is free: the dead waiter did not take it');
    fs.closeSync(fd);
  });
});
