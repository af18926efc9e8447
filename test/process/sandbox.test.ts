// --sandbox through the real CLI, played as QEMU over the vhost-user socket: the serving process
// lives in its own mount, pid and net namespaces with a root that holds only the export (plus
// /proc and the state dirs' parents), serves every kind of request, keeps only the capabilities
// it needs, stops with exit 0 and saved state, sees host mounts made under the export after it
// started, and gives the same remapped inode numbers as an unsandboxed run of the same share.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { guestInitIn, FUSE } from '../helpers/vhost-frontend';
import { readIn, writeIn } from '../helpers/fuse-requests';
import { waitFor } from '../helpers/wait';
import { setup, connect, servingPid, status, capMask, KEPT, SETUP, startVfsd } from '../helpers/sandbox-session';

const CLI = path.resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');
const skip = process.geteuid?.() !== 0 && 'needs root';

const OP = { ...FUSE, READLINK: 5, OPEN: 14, RELEASE: 18, SETXATTR: 21, GETXATTR: 22, OPENDIR: 27, READDIR: 28, RELEASEDIR: 29 };

/** LOOKUPs `names` (parents before children): each one's inode number as the client sees it (hex). */
async function inodeNumbers(t: Test, c: Awaited<ReturnType<typeof connect>>, names: string[], what: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const ids = new Map<string, bigint>([['', 1n]]);
  for (const n of names) {
    const e = await c.lookup(ids.get(path.dirname(n) === '.' ? '' : path.dirname(n))!, path.basename(n));
    t.equal(e.error, 0, `${what}: LOOKUP ${n}`);
    ids.set(n, e.nodeid);
    out[n] = e.ino.toString(16);
  }
  return out;
}

function xattrIn(name: string, value?: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32LE(value ? value.length : 256, 0);
  return Buffer.concat([h, Buffer.from(name + '\0'), ...(value ? [value] : [])]);
}

function openIn(flags: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(flags, 0);
  return b;
}

/** The names in a READDIR reply (fuse_dirent: ino u64, off u64, namelen u32, type u32, name). */
function direntNames(b: Buffer): string[] {
  const names: string[] = [];
  for (let o = 0; o + 24 <= b.length;) {
    const len = b.readUInt32LE(o + 16);
    names.push(b.subarray(o + 24, o + 24 + len).toString());
    o += (24 + len + 7) & ~7;
  }
  return names;
}

t.test('namespace (the default for root on vhost-user): namespaces, root, requests, caps, stop', { skip }, async (t) => {
  const p = setup(t);
  const run = startVfsd([`--socket-path=${p.sock}`, `--shared-dir=${p.share}`, '--xattr',
    `--state-dir=${p.state}`, `--state-backup-dir=${p.backup}`]);
  t.teardown(() => run.child.kill('SIGKILL'));
  const c = await connect(p.sock, run);
  const pid = await servingPid(run);
  t.match(run.log(), /"sandbox":"namespace".*"sandbox_entered":true/, 'the config log line says the sandbox was entered');

  for (const ns of ['mnt', 'pid', 'net']) {
    t.not(fs.readlinkSync(`/proc/${pid}/ns/${ns}`), fs.readlinkSync(`/proc/self/ns/${ns}`), `own ${ns} namespace`);
  }
  t.match(status(pid).NSpid, /^\d+\s+1$/, 'pid 1 in its pid namespace');

  const root = `/proc/${pid}/root`;
  const top = p.share.split('/')[1]!;
  t.same(fs.readdirSync(root).sort(), [top, 'proc'].sort(), 'its root holds only the way to the export (and state) and /proc');
  t.notOk(fs.existsSync(`${root}/etc/passwd`), 'no /etc/passwd in there');
  t.notOk(fs.existsSync(`${root}/usr`), 'no /usr');
  t.same(fs.readdirSync(`${root}${p.dir}`).sort(), ['bk', 'export', 'st'], 'beside the export only the state dirs\' parents');
  t.same(fs.readdirSync(`${root}${p.dir}/export`), ['share'], 'the export\'s siblings are not there');
  t.equal(fs.readFileSync(`${root}${p.share}/hello`, 'utf8'), 'hi\n', 'the export is at its own path inside');

  t.equal((await c.request(OP.INIT, 0n, guestInitIn())).h.error, 0, 'INIT');
  const hello = await c.lookup(1n, 'hello');
  t.equal(hello.error, 0, 'LOOKUP');
  t.equal(hello.ino, BigInt(fs.statSync(path.join(p.share, 'hello')).ino), 'with the host inode number');
  const attr = await c.request(OP.GETATTR, hello.nodeid, Buffer.alloc(16));
  t.equal(attr.h.error, 0, 'GETATTR');
  t.equal(attr.payload.readBigUInt64LE(16 + 8), 3n, 'size 3');
  const open = await c.request(OP.OPEN, hello.nodeid, openIn(2 /* O_RDWR */));
  t.equal(open.h.error, 0, 'OPEN (reopened through /proc/self/fd inside the sandbox)');
  const fh = open.payload.readBigUInt64LE(0);
  const data = Buffer.from('sandboxed\n');
  const w = await c.request(OP.WRITE, hello.nodeid, Buffer.concat([writeIn(fh, 0n, data.length), data]));
  t.equal(w.h.error, 0, 'WRITE');
  t.equal(fs.readFileSync(path.join(p.share, 'hello'), 'utf8'), 'sandboxed\n', 'the host file changed');
  const r = await c.request(OP.READ, hello.nodeid, readIn(fh, 0n, 100));
  t.equal(r.payload.toString(), 'sandboxed\n', 'READ');
  await c.request(OP.RELEASE, hello.nodeid, readIn(fh, 0n, 0));

  const set = await c.request(OP.SETXATTR, hello.nodeid, xattrIn('user.sandbox', Buffer.from('yes')));
  t.equal(set.h.error, 0, 'SETXATTR (through /proc/self/fd)');
  const get = await c.request(OP.GETXATTR, hello.nodeid, xattrIn('user.sandbox'));
  t.equal(get.payload.toString(), 'yes', 'GETXATTR');
  t.equal(spawnSync('getfattr', ['--only-values', '-n', 'user.sandbox', path.join(p.share, 'hello')]).stdout?.toString(), 'yes', 'the host sees the xattr');

  const od = await c.request(OP.OPENDIR, 1n, openIn(0));
  t.equal(od.h.error, 0, 'OPENDIR');
  const dfh = od.payload.readBigUInt64LE(0);
  const rd = await c.request(OP.READDIR, 1n, readIn(dfh, 0n, 4096));
  t.same(direntNames(rd.payload).filter((n) => n !== '.' && n !== '..').sort(), ['hello', 'passwd-link'], 'READDIR');
  await c.request(OP.RELEASEDIR, 1n, readIn(dfh, 0n, 0));

  // A symlink to a host file: the server never follows it, and the file is not in its world.
  const link = await c.lookup(1n, 'passwd-link');
  t.equal(link.error, 0, 'LOOKUP of the symlink');
  const rl = await c.request(OP.READLINK, link.nodeid, Buffer.alloc(0));
  t.equal(rl.payload.toString(), '/etc/passwd', 'READLINK gives the target text only');
  const lo = await c.request(OP.OPEN, link.nodeid, openIn(0));
  t.not(lo.h.error, 0, `OPEN of the symlink is refused (${lo.h.error})`);
  t.notOk(fs.existsSync(`${root}/etc/passwd`), 'and following it inside the sandbox reaches nothing');

  // Capabilities: the serving thread and the libuv pool keep exactly the kept set.
  const main = status(pid);
  t.equal(BigInt('0x' + main.CapEff), capMask(KEPT), `CapEff of the serving thread is the kept set (${main.CapEff})`);
  t.equal(BigInt('0x' + main.CapBnd), capMask(KEPT), 'and so is its bounding set');
  t.equal(main.NoNewPrivs, '1', 'no_new_privs');
  const launch = capMask([...KEPT, ...SETUP]);
  let reduced = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    const eff = BigInt('0x' + status(pid, Number(tid)).CapEff);
    t.equal(eff & ~launch, 0n, `thread ${tid} has nothing beyond the launch bounding set`);
    if (tid !== String(pid) && eff === capMask(KEPT)) reduced++;
  }
  const all = fs.readdirSync(`/proc/${pid}/task`).map((tid) => `${tid}:${status(pid, Number(tid)).CapEff}`).join(' ');
  t.ok(reduced >= 1, `threads started after the drop (the libuv pool: ${reduced}) have only the kept set (${all})`);

  // SIGTERM to the launcher reaches the server: state saved, exit 0.
  run.child.kill('SIGTERM');
  t.equal(await run.exit, 0, 'exit 0 after SIGTERM');
  t.ok(fs.existsSync(path.join(p.state, 'state.json')), 'state saved to the state dir');
  t.ok(fs.existsSync(path.join(p.backup, 'state.json')), 'and to the backup dir');
  t.notOk(fs.existsSync(p.sock), 'socket file removed');
  t.notOk(fs.existsSync(`/proc/${pid}`), 'the server is gone (no orphan)');
  c.fe.close();
});

t.test('the server dies with a SIGKILLed launcher (no orphan)', { skip }, async (t) => {
  const p = setup(t);
  const run = startVfsd([`--socket-path=${p.sock}`, `--shared-dir=${p.share}`]);
  await waitFor(() => /waiting for vhost-user front end/.test(run.log()), 'the server', 15000);
  const pid = await servingPid(run);
  run.child.kill('SIGKILL');
  await run.exit;
  await waitFor(() => !fs.existsSync(`/proc/${pid}`) || status(pid).State.startsWith('Z'), 'the server to die', 10000);
  t.pass('the server died with its launcher');
});

/** Starts the sandboxed server with `args`, answers the serving thread's CapEff, stops it. */
async function effectiveCaps(t: Test, p: ReturnType<typeof setup>, args: string[]): Promise<bigint> {
  const run = startVfsd([`--socket-path=${p.sock}`, `--shared-dir=${p.share}`, ...args]);
  t.teardown(() => run.child.kill('SIGKILL'));
  const c = await connect(p.sock, run);
  const pid = await servingPid(run);
  await waitFor(() => /sandbox entered/.test(run.log()), 'the sandbox');
  const eff = BigInt('0x' + status(pid).CapEff);
  run.child.kill('SIGTERM');
  t.equal(await run.exit, 0, `${args.join(' ')}: clean exit`);
  c.fe.close();
  return eff;
}

t.test('--inode-file-handles never: dac_read_search is not kept (no handles to open)', { skip }, async (t) => {
  const eff = await effectiveCaps(t, setup(t), ['--inode-file-handles=never']);
  t.equal(eff, capMask(KEPT.filter((n) => n !== 'dac_read_search')), 'the kept set without dac_read_search');
});

t.test('--modcaps changes the kept set; bad items are usage errors', { skip }, async (t) => {
  const p = setup(t);
  const want = capMask([...KEPT.filter((n) => n !== 'mknod'), 'sys_admin']);
  t.equal(await effectiveCaps(t, p, ['--modcaps=+SYS_ADMIN:-mknod']), want, '+sys_admin kept, mknod dropped');

  for (const bad of ['--modcaps=+bogus', '--modcaps=sys_admin', '--modcaps=', '-omodcaps=+chown:-nope']) {
    const r = spawnSync(process.execPath, [CLI, `--socket-path=${p.sock}`, `--shared-dir=${p.share}`, bad], { encoding: 'utf8' });
    t.equal(r.status, 2, `${bad}: exit 2`);
    t.match(r.stderr, /^vfsd: invalid --modcaps item/, `${bad}: one line saying what is wrong`);
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  const m = spawnSync(process.execPath, [CLI, `--mount=${p.dir}`, `--shared-dir=${p.share}`, '--sandbox', 'namespace'], { encoding: 'utf8' });
  t.equal(m.status, 2, '--mount with --sandbox namespace: usage error');
  t.match(m.stderr, /--sandbox namespace works with --socket-path\/--fd only/);
  const s = spawnSync(process.execPath, [CLI, `--socket-path=${p.sock}`, `--shared-dir=${p.share}`, '--sandbox=chroot', `--state-dir=${p.state}`], { encoding: 'utf8' });
  t.equal(s.status, 2, 'chroot with a state dir: usage error');
});

t.test('asking a sandbox without root: one line, exit 1', { skip }, async (t) => {
  const p = setup(t);
  fs.chmodSync(p.dir, 0o755);
  const r = spawnSync(process.execPath, [CLI, `--socket-path=${p.sock}`, `--shared-dir=${p.share}`, '--sandbox=namespace'], { encoding: 'utf8', uid: 65534, gid: 65534 });
  if (r.status !== 1 && /EACCES|Cannot find module/.test(r.stderr)) { t.comment('the build tree is not readable by nobody'); return; }
  t.equal(r.status, 1, 'exit 1');
  t.match(r.stderr, /^vfsd: --sandbox namespace needs root/);
});

t.test('chroot: same process, root is the export, requests served', { skip }, async (t) => {
  const p = setup(t);
  const run = startVfsd([`--socket-path=${p.sock}`, `--shared-dir=${p.share}`, '--sandbox=chroot', '--xattr']);
  t.teardown(() => run.child.kill('SIGKILL'));
  const c = await connect(p.sock, run);
  const pid = run.child.pid!;
  t.equal(fs.readlinkSync(`/proc/${pid}/root`), p.share, 'the process (same pid: exec in place) has the export as its root');
  t.equal(fs.readlinkSync(`/proc/${pid}/ns/mnt`), fs.readlinkSync('/proc/self/ns/mnt'), 'no new mount namespace');
  t.equal(BigInt('0x' + status(pid).CapEff), capMask(KEPT), 'kept capabilities only');
  t.equal((await c.request(OP.INIT, 0n, guestInitIn())).h.error, 0, 'INIT');
  const hello = await c.lookup(1n, 'hello');
  t.equal(hello.error, 0, 'LOOKUP');
  const open = await c.request(OP.OPEN, hello.nodeid, openIn(0));
  t.equal(open.h.error, 0, 'OPEN');
  const r = await c.request(OP.READ, hello.nodeid, readIn(open.payload.readBigUInt64LE(0), 0n, 100));
  t.equal(r.payload.toString(), 'hi\n', 'READ');
  // xattrs name the inode by a /proc/self/fd path, which only the cwd (the held fd) still reaches.
  const set = await c.request(OP.SETXATTR, hello.nodeid, xattrIn('user.chroot', Buffer.from('yes')));
  t.equal(set.h.error, 0, 'SETXATTR after chroot');
  const get = await c.request(OP.GETXATTR, hello.nodeid, xattrIn('user.chroot'));
  t.equal(get.payload.toString(), 'yes', 'GETXATTR after chroot');
  t.equal(fs.readFileSync(path.join(p.share, 'hello'), 'utf8'), 'hi\n', 'the host file itself');
  run.child.kill('SIGTERM');
  t.equal(await run.exit, 0, 'exit 0');
  c.fe.close();
});

t.test('remapped inode numbers: the same with and without the sandbox; host mounts made after start are seen', { skip }, async (t) => {
  const p = setup(t);
  // The export is a shared mount (as a VM manager's usually is), so later host mounts propagate.
  const mnt = (args: string[]) => t.equal(spawnSync('mount', args).status, 0, `mount ${args.join(' ')}`);
  mnt(['--bind', p.share, p.share]);
  mnt(['--make-shared', p.share]);
  for (const d of ['t1', 't2']) {
    fs.mkdirSync(path.join(p.share, d));
    mnt(['-t', 'tmpfs', 'tmpfs', path.join(p.share, d)]);
    fs.writeFileSync(path.join(p.share, d, 'f'), d);
  }
  fs.mkdirSync(path.join(p.share, 'late'));
  const names = ['t1', 't2', 't1/f', 't2/f'];

  const numbers = async (sandbox: string) => {
    const run = startVfsd([`--socket-path=${p.sock}`, `--shared-dir=${p.share}`, '--multidevs=remap', `--state-dir=${p.state}`, `--sandbox=${sandbox}`]);
    t.teardown(() => run.child.kill('SIGKILL'));
    const c = await connect(p.sock, run);
    await c.request(OP.INIT, 0n, guestInitIn());
    const out = await inodeNumbers(t, c, names, sandbox);
    return { run, c, out };
  };

  const a = await numbers('namespace');
  t.ok(BigInt('0x' + a.out['t1/f']) >= 1n << 63n, 'the submount\'s numbers are remapped (the client did not offer submounts)');
  // A host mount made after the sandboxed server started appears inside it.
  mnt(['-t', 'tmpfs', 'tmpfs', path.join(p.share, 'late')]);
  fs.writeFileSync(path.join(p.share, 'late', 'new'), 'late mount');
  const late = await a.c.lookup(1n, 'late');
  const lf = await a.c.lookup(late.nodeid, 'new');
  t.equal(lf.error, 0, 'a file on a host mount made after start is found');
  const open = await a.c.request(OP.OPEN, lf.nodeid, openIn(0));
  const rd = await a.c.request(OP.READ, lf.nodeid, readIn(open.payload.readBigUInt64LE(0), 0n, 100));
  t.equal(rd.payload.toString(), 'late mount', 'and read');
  a.run.child.kill('SIGTERM');
  t.equal(await a.run.exit, 0);
  a.c.fe.close();
  const devicesAfter = (file: string) => JSON.parse(JSON.parse(fs.readFileSync(file, 'utf8')).payload).deviceRegistry.devices.map((d: [string, number]) => d[0]).sort();
  const sandboxed = devicesAfter(path.join(p.state, 'state.json'));

  const b = await numbers('none');
  b.run.child.kill('SIGTERM');
  t.equal(await b.run.exit, 0);
  b.c.fe.close();
  t.same(b.out, a.out, 'every number is the same without the sandbox');
  t.same(devicesAfter(path.join(p.state, 'state.json')), sandboxed, 'and the unsandboxed run registered no device the sandboxed one named differently');
  t.ok(sandboxed.length >= 2, `devices registered: ${sandboxed.join(', ')}`);
});

t.test('multidevs under --sandbox chroot: devices identified and named through the held /proc/self/fd', { skip }, async (t) => {
  const p = setup(t);
  const mnt = (args: string[]) => t.equal(spawnSync('mount', args).status, 0, `mount ${args.join(' ')}`);
  for (const d of ['t1', 't2']) {
    fs.mkdirSync(path.join(p.share, d));
    mnt(['-t', 'tmpfs', 'tmpfs', path.join(p.share, d)]);
    fs.writeFileSync(path.join(p.share, d, 'f'), d);
  }
  const names = ['t1', 't2', 't1/f', 't2/f'];
  const serve = async (sandbox: string, multidevs: string) => {
    const run = startVfsd([`--socket-path=${p.sock}`, `--shared-dir=${p.share}`, `--multidevs=${multidevs}`, `--sandbox=${sandbox}`]);
    t.teardown(() => run.child.kill('SIGKILL'));
    const c = await connect(p.sock, run);
    await c.request(OP.INIT, 0n, guestInitIn());
    const out = await inodeNumbers(t, c, names, `${sandbox} ${multidevs}`);
    run.child.kill('SIGTERM');
    t.equal(await run.exit, 0, `${sandbox} ${multidevs}: exit 0`);
    c.fe.close();
    return { out, log: run.log() };
  };
  // warn names each other device with the path of the object found on it: inside the chroot the
  // kernel gives that path from the new root, and only through the fd held on /proc/self/fd.
  const warned = await serve('chroot', 'warn');
  for (const d of ['t1', 't2']) t.match(warned.log, new RegExp(`path /${d} on device`), `chroot warn: the log names /${d}`);
  t.notMatch(warned.log, /path fd \d+/, 'no object named by a bare fd number');
  const chrooted = await serve('chroot', 'remap');
  t.ok(BigInt('0x' + chrooted.out['t1/f']) >= 1n << 63n, 'chroot remap: the submount\'s numbers are remapped');
  const plain = await serve('none', 'remap');
  t.same(chrooted.out, plain.out, 'the same numbers as without the sandbox');
});

t.test('a VM manager deleting the state dir while the sandboxed server runs: state still saved at stop', { skip }, async (t) => {
  const p = setup(t);
  const args = [`--socket-path=${p.sock}`, `--shared-dir=${p.share}`, `--state-dir=${p.state}`, `--state-backup-dir=${p.backup}`];
  let run = startVfsd(args);
  t.teardown(() => run.child.kill('SIGKILL'));
  let c = await connect(p.sock, run);
  await c.request(OP.INIT, 0n, guestInitIn());
  fs.rmSync(p.state, { recursive: true });
  run.child.kill('SIGTERM');
  t.equal(await run.exit, 0, 'exit 0');
  c.fe.close();
  t.ok(fs.existsSync(path.join(p.state, 'state.json')), 'the deleted state dir was made again and written');
  t.ok(fs.existsSync(path.join(p.backup, 'state.json')), 'and the backup written');

  // The whole tree above the state dir goes: the bound parent is gone, the backup still holds.
  run = startVfsd(args);
  c = await connect(p.sock, run);
  await c.request(OP.INIT, 0n, guestInitIn());
  t.notOk(fs.existsSync(p.backup), 'the backup dir was removed at start (not a mount point inside)');
  fs.rmSync(path.dirname(p.state), { recursive: true });
  run.child.kill('SIGTERM');
  t.equal(await run.exit, 0, 'exit 0 (no endless mkdir in the deleted directory)');
  c.fe.close();
  t.match(run.log(), /could not save/, 'the lost primary is reported');
  t.ok(fs.existsSync(path.join(p.backup, 'state.json')), 'the backup was written');
  run = startVfsd(args);
  c = await connect(p.sock, run);
  t.match(run.log(), /"from":"backup"/, 'the next start recovers from the backup');
  run.child.kill('SIGTERM');
  t.equal(await run.exit, 0);
  c.fe.close();
});
