// The escape suite through a real mount: vfsd (the CLI) serves base/export on base/m/mnt over
// /dev/fuse, and client processes use the mount as any program would. The mount point sits one
// level deeper than the export, so a relative symlink such as ../outside/canary means base/outside
// (the canary) if vfsd followed it, but base/m/outside (nothing) when the client kernel follows it,
// as it must. Absolute symlinks and /proc magic links are checked from a client in its own mount
// namespace, where a decoy is bind-mounted over the canary: what the client reads must be the
// decoy (its own view), and the real canary's atime never moves. Root only.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import { EscapeEnv, CANARY_TEXT } from '../fuzz/escape-env';
import { isRoot } from '../fuzz/export';
import { isMounted } from '../helpers/mountinfo';

const CLI = path.resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');
const DECOY_TEXT = 'DECOY: the client\'s own view\n';
const skip = !isRoot && 'needs root (/dev/fuse mount, mount namespaces)';

interface Served { env: EscapeEnv; mnt: string; vfsd: ChildProcess; log: () => string; run: (script: string, opts?: { cwd?: string; input?: string }) => { status: number | null; out: string; err: string } }

async function serve(t: { teardown(f: () => void | Promise<void>): void }, prepare: (env: EscapeEnv) => void): Promise<Served> {
  const env = new EscapeEnv('vfsd-escape-mnt-');
  const mnt = path.join(env.base, 'm', 'mnt');
  fs.mkdirSync(mnt, { recursive: true });
  const vfsdCwd = path.join(env.base, 'vfsd-cwd');
  fs.mkdirSync(vfsdCwd);
  fs.writeFileSync(path.join(vfsdCwd, 'marker'), 'VFSD CWD\n');
  prepare(env);
  let log = '';
  const vfsd = spawn(process.execPath, [CLI, '--shared-dir', env.export, '--mount', mnt, '--log-level=info'], { cwd: vfsdCwd, stdio: ['ignore', 'pipe', 'pipe'] });
  vfsd.stdout!.on('data', (d) => (log += d));
  vfsd.stderr!.on('data', (d) => (log += d));
  const exited = new Promise((r) => vfsd.once('exit', r));
  t.teardown(async () => {
    if (vfsd.exitCode === null) vfsd.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (isMounted(mnt)) spawnSync('umount', ['-l', mnt]);
    vfsd.kill('SIGKILL');
    env.remove();
  });
  for (let i = 0; !isMounted(mnt); i++) {
    if (vfsd.exitCode !== null || i > 400) throw new Error(`vfsd did not mount:\n${log}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  const run = (script: string, opts: { cwd?: string; input?: string } = {}) => {
    const r = spawnSync('bash', ['-c', script], { cwd: opts.cwd ?? env.base, input: opts.input, encoding: 'utf8', timeout: 20000 });
    return { status: r.status, out: r.stdout, err: r.stderr };
  };
  return { env, mnt, vfsd, log: () => log, run };
}

t.test('symlinks out of the export and /proc magic links are followed by the client, never by vfsd', { skip }, async (t) => {
  const s = await serve(t, (env) => {
    fs.symlinkSync(env.canary, path.join(env.export, 'abs'));
    fs.symlinkSync('../outside/canary', path.join(env.export, 'rel'));
    fs.symlinkSync('../../../../../../../../..' + env.canary, path.join(env.export, 'dotdots'));
    fs.symlinkSync('/proc/self/fd/0', path.join(env.export, 'pfd'));
    fs.symlinkSync('/proc/self/cwd', path.join(env.export, 'pcwd'));
    fs.symlinkSync('/proc/self/root' + env.canary, path.join(env.export, 'proot'));
    fs.writeFileSync(path.join(env.base, 'decoy'), DECOY_TEXT);
  });
  const { env, mnt } = s;
  env.seal();
  t.equal(fs.readlinkSync(path.join(mnt, 'abs')), env.canary, 'readlink through the mount gives the target text');
  // A client in its own mount namespace, where the canary's path holds the decoy.
  const inNs = (cmd: string, opts: { cwd?: string; input?: string } = {}) =>
    s.run(`unshare -m --propagation private bash -c ${JSON.stringify(`mount --bind ${env.base}/decoy ${env.canary} && ${cmd}`)}`, opts);
  for (const name of ['abs', 'dotdots', 'proot']) {
    const r = inNs(`cat ${mnt}/${name}`);
    t.equal(r.out, DECOY_TEXT, `${name}: the client reads what the target is in ITS namespace (the decoy)`);
  }
  const rel = s.run(`cat ${mnt}/rel`);
  t.not(rel.status, 0, 'rel (../outside/canary): resolved by the client next to the mount point, where nothing is');
  t.notMatch(rel.out, /CANARY/, 'and the canary is not what it reads');
  // /proc/self/fd/0 is the reading process's stdin; /proc/self/cwd its own cwd.
  fs.mkdirSync(path.join(env.base, 'client-cwd'));
  fs.writeFileSync(path.join(env.base, 'client-cwd', 'marker'), 'CLIENT CWD\n');
  // (stdin from a file: Node's stdio pipes are sockets, which open() through /proc refuses)
  fs.writeFileSync(path.join(env.base, 'client-stdin'), 'CLIENT STDIN\n');
  t.equal(s.run(`cat ${mnt}/pfd < ${env.base}/client-stdin`).out, 'CLIENT STDIN\n', 'pfd: the client\'s own fd 0, not vfsd\'s');
  t.equal(s.run(`cat ${mnt}/pcwd/marker`, { cwd: path.join(env.base, 'client-cwd') }).out, 'CLIENT CWD\n', 'pcwd: the client\'s own cwd, not vfsd\'s');
  t.equal(env.outsideChanges(), '', 'vfsd never read the canary (atime unchanged) nor touched anything outside');
});

t.test('a directory moved out from under a client that holds it open', { skip }, async (t) => {
  const s = await serve(t, (env) => {
    fs.mkdirSync(path.join(env.export, 'moving'));
    fs.writeFileSync(path.join(env.export, 'moving', 'mine'), 'inside\n');
  });
  const { env, mnt } = s;
  // The client holds the directory (an open fd, as a process's cwd would) and names files in it
  // through /proc/self/fd/N/..., resolved by the client kernel from that directory's node. (Not
  // chdir: on a mount without default_permissions chdir asks ACCESS, which this build lacks.)
  const dfd = fs.openSync(path.join(mnt, 'moving'), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  t.teardown(() => fs.closeSync(dfd));
  const via = (name: string) => `/proc/self/fd/${dfd}/${name}`;
  t.equal(fs.readFileSync(via('mine'), 'utf8'), 'inside\n', 'served while inside');
  const outsideDir = path.join(env.outside, 'moved');
  fs.renameSync(path.join(env.export, 'moving'), outsideDir);
  fs.writeFileSync(path.join(outsideDir, 'secret'), CANARY_TEXT);
  env.seal();
  const errnoOf = (f: () => unknown) => { try { f(); return 'ok'; } catch (e) { return (e as NodeJS.ErrnoException).code; } };
  t.equal(errnoOf(() => fs.readFileSync(via('secret'))), 'ENOENT', 'reading a file the host put in the moved directory fails');
  t.equal(errnoOf(() => fs.writeFileSync(via('created'), 'x')), 'ENOENT', 'creating a file in it fails');
  t.equal(errnoOf(() => fs.mkdirSync(via('made'))), 'ENOENT', 'making a directory in it fails');
  t.equal(errnoOf(() => fs.symlinkSync('x', via('sl'))), 'ENOENT', 'a symlink in it fails');
  t.equal(errnoOf(() => fs.readdirSync(`/proc/self/fd/${dfd}`)), 'ENOENT', 'listing it anew fails (its names are outside now)');
  t.equal(env.outsideChanges(), '', 'nothing outside the export was read, written or created');
  t.same(fs.readdirSync(outsideDir).sort(), ['mine', 'secret'], 'the moved directory holds only what the host put there');
});

t.test('swapping a directory and a symlink on the host while the client reads and creates through the mount', { skip }, async (t) => {
  const s = await serve(t, (env) => {
    fs.mkdirSync(path.join(env.export, 'sw'));
    fs.writeFileSync(path.join(env.export, 'sw', 'f'), 'inside\n');
  });
  const { env, mnt } = s;
  env.seal();
  const swapper = spawn('bash', ['-c', `cd ${JSON.stringify(env.export)} && while :; do mv sw sw.d; ln -s ../outside/dir sw; rm sw; mv sw.d sw; done`], { stdio: 'ignore' });
  t.teardown(() => swapper.kill('SIGKILL'));
  // How often a read finds the directory is chance: the client's kernel caches what a LOOKUP of
  // "sw" found for the entry timeout (1 s), a symlink as well as the directory (a missing name is
  // not cached), and the swapper holds each about equally long. So each second reads the inside
  // file or nothing, about one chance in two (3 s alone failed a CI run with 1891 rounds): the
  // client goes on, up to 15 s, until it has read it once.
  const r = s.run(`end=$((SECONDS+3)); cap=$((SECONDS+15)); i=0; seen=0; while [ $SECONDS -lt $end ] || { [ $seen = 0 ] && [ $SECONDS -lt $cap ]; }; do i=$((i+1)); if out=$(cat ${mnt}/sw/f 2>/dev/null); then echo "$out"; [ "$out" = inside ] && seen=1; fi; echo x 2>/dev/null > ${mnt}/sw/n$i; done; echo "rounds:$i"`);
  swapper.kill('SIGKILL');
  await new Promise((res) => swapper.once('exit', res));
  t.match(r.out, /rounds:\d+/, 'the client looped');
  t.match(r.out, /inside/, 'and read the export\'s file');
  t.notMatch(r.out, /CANARY/, 'never the outside one');
  t.same(fs.readdirSync(path.join(env.outside, 'dir')), ['f'], 'no file appeared in the outside directory');
  t.equal(env.outsideChanges(), '', 'nothing outside the export was read, written or created');
});

t.test('hard links and device nodes through the mount', { skip }, async (t) => {
  const s = await serve(t, (env) => {
    fs.symlinkSync(env.canary, path.join(env.export, 'abs'));
    fs.writeFileSync(path.join(env.export, 'plain'), 'plain\n');
  });
  const { env, mnt } = s;
  env.seal();
  t.equal(s.run(`ln ${mnt}/abs ${mnt}/hl`).status, 0, 'ln of a symlink links the symlink');
  t.ok(fs.lstatSync(path.join(env.export, 'hl')).isSymbolicLink(), 'the new name is a symlink');
  t.not(s.run(`ln -L ${mnt}/abs ${mnt}/hl2`).status, 0, 'ln -L (follow) of a symlink to the canary fails (other filesystem: EXDEV)');
  t.not(s.run(`ln ${env.canary} ${mnt}/hl3`).status, 0, 'ln of the outside file itself fails (EXDEV)');
  t.equal(fs.statSync(env.canary).nlink, 1, 'the canary has no new link');
  t.equal(s.run(`mknod ${mnt}/null c 1 3 && mkfifo ${mnt}/fifo`).status, 0, 'mknod and mkfifo work through the mount');
  t.ok(fs.lstatSync(path.join(env.export, 'null')).isCharacterDevice(), 'the host has the device node');
  t.not(s.run(`echo x > ${mnt}/null`).status, 0, 'opening the device node through the mount is refused (nodev mount)');
  // The FIFO is opened by the client kernel as its own FIFO: a reader and a writer meet without vfsd.
  t.equal(s.run(`(cat ${mnt}/fifo > ${env.base}/fifo-out &) ; echo through > ${mnt}/fifo; sleep 0.2; cat ${env.base}/fifo-out`).out, 'through\n', 'a FIFO on the mount works, locally');
  const held = fs.readdirSync(`/proc/${s.vfsd.pid}/fd`).filter((fd) => {
    try {
      const target = fs.readlinkSync(`/proc/${s.vfsd.pid}/fd/${fd}`);
      const flags = parseInt(/flags:\s*(\d+)/.exec(fs.readFileSync(`/proc/${s.vfsd.pid}/fdinfo/${fd}`, 'utf8'))![1], 8);
      return /\/(null|fifo)$/.test(target) && target.startsWith(env.export) && !(flags & 0o10000000);
    } catch {
      return false;
    }
  });
  t.same(held, [], 'vfsd holds no opened (non-O_PATH) fd on the device node or the FIFO');
  t.equal(env.outsideChanges(), '', 'nothing outside the export was read, written or created');
});
