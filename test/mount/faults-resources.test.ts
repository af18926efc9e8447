// Faults of the host side under a live vfsd mount (the real command over /dev/fuse): a full
// filesystem (ENOSPC), running out of file descriptors, the exported tree losing a mount under a
// client's feet. In every case the client must get an errno and vfsd must stay up and keep serving.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startVfsd, tempBase, unmountTree, VfsdProcess } from '../helpers/vfsd-process';

const root = process.getuid?.() === 0;
const skip = !root && 'needs root';

function errCode(fn: () => unknown): string | null {
  try { fn(); return null; } catch (e) { return (e as NodeJS.ErrnoException).code ?? String(e); }
}

/** Writes 1 MiB chunks until an error; returns its code (null: `limit` chunks all fitted). */
function fill(file: string, limit = 8): string | null {
  const fd = fs.openSync(file, 'w');
  try {
    const chunk = Buffer.alloc(1 << 20, 0x5a);
    return errCode(() => { for (let i = 0; i < limit; i++) { fs.writeSync(fd, chunk); } fs.fsyncSync(fd); });
  } finally {
    try { fs.closeSync(fd); } catch { /* close may report the same error again */ }
  }
}

function alive(t: Test, v: VfsdProcess, what: string): void {
  t.equal(v.exitCode(), null, `${what}: vfsd is still running`);
  t.equal(v.child.exitCode === null && v.child.signalCode === null, true, `${what}: not killed by a signal`);
  t.ok(fs.statSync(v.mnt).isDirectory(), `${what}: the mount still answers`);
}

t.test('ENOSPC: a full exported filesystem gives ENOSPC like natively; vfsd stays up', { skip, timeout: 60000 }, async (t) => {
  for (const mode of [[], ['--no-passthrough']]) {
    const name = mode.join(' ') || 'passthrough';
    const base = tempBase('vfsd-faults-enospc-');
    const share = path.join(base, 'share');
    fs.mkdirSync(share);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', share]);
    t.teardown(() => { unmountTree(share); fs.rmSync(base, { recursive: true, force: true }); });
    t.equal(fill(path.join(share, 'native')), 'ENOSPC', `${name}: natively: ENOSPC`);
    fs.unlinkSync(path.join(share, 'native'));
    const v = await startVfsd(t, { sharedDir: share, args: mode });
    t.equal(fill(path.join(v.mnt, 'big')), 'ENOSPC', `${name}: through vfsd: ENOSPC`);
    alive(t, v, name);
    t.ok(fs.statSync(path.join(v.mnt, 'big')).size > 0, `${name}: a later stat of the file works`);
    fs.unlinkSync(path.join(v.mnt, 'big'));
    fs.writeFileSync(path.join(v.mnt, 'small'), 'fits again');
    t.equal(fs.readFileSync(path.join(share, 'small'), 'utf8'), 'fits again', `${name}: space freed, writes work again`);
    t.equal(await v.stop(), 0, `${name}: clean exit`);
  }
});

const N = 600;
function manyFiles(src: string): void {
  for (let i = 0; i < N; i++) fs.writeFileSync(path.join(src, `f${i}`), `${i}`);
}

function dropCaches(): void {
  fs.writeFileSync('/proc/sys/vm/drop_caches', '2');
}

t.test('fd exhaustion with --inode-file-handles=never: lookups past RLIMIT_NOFILE get an errno, vfsd stays up, recovers after forget', { skip, timeout: 60000 }, async (t) => {
  const v = await startVfsd(t, { prepare: manyFiles, args: ['--rlimit-nofile=0', '--inode-file-handles=never'] });
  execFileSync('prlimit', ['--pid', String(v.child.pid), '--nofile=256:256']);
  const codes = new Map<string, number>();
  const held: fs.Stats[] = [];
  for (let i = 0; i < N; i++) {
    const c = errCode(() => held.push(fs.statSync(path.join(v.mnt, `f${i}`))));
    codes.set(c ?? 'ok', (codes.get(c ?? 'ok') ?? 0) + 1);
  }
  const summary = JSON.stringify(Object.fromEntries(codes));
  t.ok((codes.get('ok') ?? 0) > 0 && (codes.get('ok') ?? 0) < N, `some lookups fail once the fds run out: ${summary}`);
  const errs = [...codes.keys()].filter((k) => k !== 'ok');
  t.ok(errs.length > 0 && errs.every((k) => ['EMFILE', 'ENFILE', 'ENOMEM', 'EIO'].includes(k)), `the failures are errnos: ${errs}`);
  alive(t, v, 'out of fds');
  // The kernel forgets its inodes, vfsd closes their fds: the same lookups work again.
  let failed = N;
  for (let round = 0; round < 5 && failed > 0; round++) {
    dropCaches();
    failed = 0;
    for (let i = N - 100; i < N; i++) if (errCode(() => fs.statSync(path.join(v.mnt, `f${i}`)))) failed++;
  }
  t.equal(failed, 0, 'after drop_caches the last 100 lookups all work');
  t.equal(await v.stop(), 0, 'clean exit');
});

// prefer: file handles instead of fds. auto (the default): its budget was made for the limit at
// start, so the limit lowered under it makes opens fail with EMFILE; it closes older inode fds,
// lowers its budget and retries, and every lookup still works.
for (const mode of ['prefer', 'auto']) t.test(`fd exhaustion with --inode-file-handles=${mode}: every lookup works`, { skip, timeout: 60000 }, async (t) => {
  const v = await startVfsd(t, { prepare: manyFiles, args: ['--rlimit-nofile=0', `--inode-file-handles=${mode}`] });
  execFileSync('prlimit', ['--pid', String(v.child.pid), '--nofile=256:256']);
  let failed: string[] = [];
  for (let i = 0; i < N; i++) {
    const c = errCode(() => fs.statSync(path.join(v.mnt, `f${i}`)));
    if (c) failed.push(`f${i}:${c}`);
  }
  t.same(failed.slice(0, 5), [], `all ${N} lookups work (${failed.length} failed)`);
  failed = [];
  for (let i = 0; i < N; i += 7) if (fs.readFileSync(path.join(v.mnt, `f${i}`), 'utf8') !== `${i}`) failed.push(`f${i}`);
  t.same(failed, [], 'and the files read back (open/close one at a time)');
  alive(t, v, 'file handles');
  t.equal(await v.stop(), 0, 'clean exit');
});

t.test('a host mount vanishing under a live share: errors or the open file, never a crash', { skip, timeout: 60000 }, async (t) => {
  const v = await startVfsd(t, {
    prepare: (src) => {
      fs.mkdirSync(path.join(src, 'sub'));
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', path.join(src, 'sub')]);
      fs.writeFileSync(path.join(src, 'sub', 'inside'), 'on the tmpfs');
      fs.writeFileSync(path.join(src, 'outside'), 'on the export');
    },
  });
  const inside = path.join(v.mnt, 'sub', 'inside');
  const fd = fs.openSync(inside, 'r+');
  t.teardown(() => { try { fs.closeSync(fd); } catch { /* the mount may be gone */ } });
  execFileSync('umount', ['-l', path.join(v.src, 'sub')]);
  // The lazily detached tmpfs lives on while vfsd holds fds in it: the open file keeps working.
  const buf = Buffer.alloc(64);
  const n = fs.readSync(fd, buf, 0, 64, 0);
  t.equal(buf.subarray(0, n).toString(), 'on the tmpfs', 'the open file still reads');
  t.equal(fs.writeSync(fd, 'X', 0), 1, 'and writes');
  // Further ops in sub: whatever the kernel allows, but each is an answer, not a crash.
  const results: Record<string, string> = {};
  const tryOp = (name: string, fn: () => unknown) => { results[name] = errCode(fn) ?? 'ok'; };
  tryOp('stat', () => fs.statSync(inside));
  tryOp('readdir', () => fs.readdirSync(path.join(v.mnt, 'sub')));
  tryOp('create', () => fs.writeFileSync(path.join(v.mnt, 'sub', 'new'), 'n'));
  dropCaches();
  tryOp('readdir after forget', () => fs.readdirSync(path.join(v.mnt, 'sub')));
  tryOp('stat after forget', () => fs.statSync(inside));
  t.ok(Object.values(results).every((r) => r === 'ok' || /^E[A-Z]+$/.test(r)), `every op answered: ${JSON.stringify(results)}`);
  alive(t, v, 'after the host unmount');
  t.equal(fs.readFileSync(path.join(v.mnt, 'outside'), 'utf8'), 'on the export', 'the rest of the export is served');
  fs.writeFileSync(path.join(v.mnt, 'later'), 'still writable');
  t.equal(fs.readFileSync(path.join(v.src, 'later'), 'utf8'), 'still writable', 'and written to the host');
  fs.closeSync(fd);
  t.equal(await v.stop(), 0, 'clean exit');
});
