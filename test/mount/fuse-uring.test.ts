// FUSE over io_uring as the /dev/fuse transport (--fuse-transport): what serves the mount when
// the kernel allows it and when it does not, that both of the kernel's CPU queues answer, that
// the machine-wide enable_uring parameter is put back, and that the mount ends cleanly.
// (The file-system behaviour over the ring is basic-ops.test.ts and files.test.ts, run with it.)
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startVfsd } from '../helpers/vfsd-process';
import { isMounted } from '../helpers/mountinfo';
import { assertServedOverUring, kernelHasFuseUring, servedTransport, withEnableUring } from '../helpers/fuse-uring';
import { enableUringParam } from '../../src/transport/fuse-uring';

const root = process.geteuid?.() === 0;
const skip = (!root && 'needs root') || (!kernelHasFuseUring() && 'no FUSE over io_uring in this kernel');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function transportLine(log: () => string): Promise<ReturnType<typeof servedTransport>> {
  const deadline = Date.now() + 20000;
  while (!servedTransport(log()) && Date.now() < deadline) await sleep(20);
  return servedTransport(log());
}

for (const choice of ['uring', 'auto'] as const) {
  t.test(`--fuse-transport ${choice} with enable_uring N: served with read/writev, saying why`, { skip }, async (t) => {
    const before = enableUringParam();
    const { result: v } = await withEnableUring('N', async () => {
      const v = await startVfsd(t, { args: ['--fuse-transport', choice], prepare: (src) => fs.writeFileSync(path.join(src, 'f'), 'data\n') });
      fs.statSync(v.mnt);
      await transportLine(v.log);
      return v;
    });
    t.equal(enableUringParam(), before, 'enable_uring is back to what it was');
    const served = servedTransport(v.log());
    t.equal(served?.transport, 'read/writev', 'the fallback transport serves');
    t.match(served?.reason ?? '', /enable_uring is N/, 'the log names the parameter to change');
    const level = v.log().split('\n').find((l) => l.includes('"fuse transport'))?.match(/"level":"(\w+)"/)?.[1];
    t.equal(level, choice === 'uring' ? 'warn' : 'info', choice === 'uring' ? 'an explicit uring request warns' : 'auto falls back quietly');
    t.equal(fs.readFileSync(path.join(v.mnt, 'f'), 'utf8'), 'data\n', 'the mount works');
    fs.writeFileSync(path.join(v.mnt, 'g'), 'new\n');
    t.equal(fs.readFileSync(path.join(v.src, 'g'), 'utf8'), 'new\n', 'a write through it reaches the host');
    t.equal(await v.stop(), 0, 'SIGTERM: vfsd exits 0');
    t.notOk(isMounted(v.mnt), 'and the mount is gone');
  });
}

t.test('over io_uring: both CPU queues serve, the parameter is restored, umount ends vfsd', { skip }, async (t) => {
  const before = enableUringParam();
  const v = await startVfsd(t, { fuseTransport: 'uring', args: ['--no-passthrough', '--cache', 'never'], prepare: (src) => fs.writeFileSync(path.join(src, 'f'), 'data\n') });
  t.equal(enableUringParam(), before, 'enable_uring is back to what it was once the ring is registered');
  assertServedOverUring(t, v.log());
  // A request goes to the queue of the caller's CPU: callers pinned to each CPU reach each queue.
  const cpus = fs.readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
  for (const cpu of cpus.includes('-') || cpus.includes(',') ? ['0', '1'] : ['0']) {
    const out = execFileSync('taskset', ['-c', cpu, 'sh', '-c', `echo cpu${cpu} > ${v.mnt}/c${cpu} && cat ${v.mnt}/c${cpu} ${v.mnt}/f`], { encoding: 'utf8' });
    t.equal(out, `cpu${cpu}\ndata\n`, `a client on CPU ${cpu} is answered`);
  }
  // Many callers at once, more than a queue's entries: the kernel queues the rest for the ring.
  const names = Array.from({ length: 64 }, (_, i) => `p${i}`);
  await Promise.all(names.map((n) => fs.promises.writeFile(path.join(v.mnt, n), n)));
  const back = await Promise.all(names.map((n) => fs.promises.readFile(path.join(v.mnt, n), 'utf8')));
  t.same(back, names, '64 files written and read back concurrently');
  execFileSync('umount', [v.mnt]);
  const deadline = Date.now() + 10000;
  while (v.exitCode() === null && Date.now() < deadline) await sleep(20);
  t.equal(v.exitCode(), 0, 'an external umount ends vfsd with exit code 0');
  t.match(v.log(), /"msg":"unmounted"/, 'it logged the unmount');
  t.notMatch(v.log(), /fuse-uring: .*(failed|io_uring_enter)/, 'no ring errors on the way out');
});

t.test('over io_uring: SIGTERM with a file held open ends vfsd and the mount', { skip }, async (t) => {
  const v = await startVfsd(t, { fuseTransport: 'uring', prepare: (src) => fs.writeFileSync(path.join(src, 'f'), 'data\n') });
  assertServedOverUring(t, v.log());
  const fd = fs.openSync(path.join(v.mnt, 'f'), 'r');
  let closeError = '';
  try {
    t.equal(await v.stop(), 0, 'vfsd exits 0 although the mount was busy');
    t.notOk(isMounted(v.mnt), 'the mount is gone');
  } finally {
    try { fs.closeSync(fd); } catch (e) { closeError = String((e as NodeJS.ErrnoException).code); }
  }
  // As over read/writev: vfsd ended the connection, so the late user's FLUSH gets ENOTCONN.
  t.equal(closeError, 'ENOTCONN', 'the fd left open on the ended mount closes with ENOTCONN');
});
