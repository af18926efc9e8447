// --uid-map/--gid-map through the real CLI, played as QEMU over the vhost-user socket: the namespace
// sandbox is made in a new user namespace with exactly those maps, the server is uid 0 there with
// its kept capabilities, and on the host it acts as the mapped ids: a guest's root creates files
// owned by the host id mapped to 0, other callers by theirs, callers outside the map are refused,
// and host files owned by ids outside the map are the overflow id and not writable. The same
// requests without the maps (the control) give the host ids themselves. Then the same as an
// unprivileged user: the maps written by newuidmap/newgidmap from /etc/subuid and /etc/subgid
// (entries this test adds and removes), and a map of one's own id written without helpers.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { guestInitIn, FUSE, type Caller } from '../helpers/vhost-frontend';
import { createIn, openIn } from '../helpers/fuse-requests';
import { entryOf } from '../helpers/fuse-replies';
import { setup, connect, servingPid, status, capMask, KEPT, startVfsd } from '../helpers/sandbox-session';
import { CLI } from '../helpers/vfsd-process';
import { waitFor } from '../helpers/wait';

const root = process.geteuid?.() === 0;
const NOBODY = 65534;
const MAP = ':0:100000:65536:';
const EPERM = -1;
const EACCES = -13;

/** The export of setup(), reachable by the mapped ids: the temp dir is 0700 root, the share
 *  belongs to `owner` (what the namespace's root is on the host), 'mine' to 100005:100007 (ids
 *  5:7 in the namespace) and 'hello' stays root's (outside every map). */
function mappedExport(t: Test, owner: number, dirOwner = 0) {
  const p = setup(t);
  fs.chmodSync(p.dir, 0o755);
  fs.chownSync(p.dir, dirOwner, dirOwner);
  fs.chownSync(p.share, owner, owner);
  fs.chmodSync(p.share, 0o777); // every caller may create: the owners decide what it becomes
  fs.writeFileSync(path.join(p.share, 'mine'), 'mapped\n');
  fs.chownSync(path.join(p.share, 'mine'), 100005, 100007);
  return p;
}

interface Seen {
  /** owner of 'mine' and of 'hello' as the guest sees them */
  mine: [number, number];
  hello: [number, number];
  /** CREATE as each caller: the errno, and the host owner of what was made */
  created: Record<string, { error: number; host?: [number, number] }>;
  /** OPEN O_RDWR of root's 0644 'hello' as the guest's root */
  writeHello: number;
}

const CALLERS: Record<string, Caller> = { root: { uid: 0, gid: 0 }, u1000: { uid: 1000, gid: 1000 }, u70000: { uid: 70000, gid: 70000 } };

async function observe(t: Test, share: string, c: Awaited<ReturnType<typeof connect>>, callers = CALLERS): Promise<Seen> {
  t.equal((await c.request(FUSE.INIT, 0n, guestInitIn())).h.error, 0, 'INIT');
  const owner = async (name: string): Promise<[number, number]> => {
    const r = await c.request(FUSE.LOOKUP, 1n, Buffer.from(name + '\0'));
    t.equal(r.h.error, 0, `LOOKUP ${name}`);
    const e = entryOf(r.payload);
    return [e.uid, e.gid];
  };
  const seen: Seen = { mine: await owner('mine'), hello: await owner('hello'), created: {}, writeHello: 0 };
  for (const [who, caller] of Object.entries(callers)) {
    const name = `by-${who}`;
    const r = await c.request(FUSE.CREATE, 1n, createIn(0o102 /* O_CREAT|O_RDWR */, 0o100644, name), 1, undefined, caller);
    const host = fs.existsSync(path.join(share, name)) ? fs.statSync(path.join(share, name)) : null;
    seen.created[who] = { error: r.h.error, ...(host ? { host: [host.uid, host.gid] as [number, number] } : {}) };
  }
  const hello = entryOf((await c.request(FUSE.LOOKUP, 1n, Buffer.from('hello\0'))).payload);
  seen.writeHello = (await c.request(FUSE.OPEN, BigInt(hello.nodeid), openIn(2 /* O_RDWR */))).h.error;
  return seen;
}

/** /proc/PID/uid_map's lines as number triples. */
const mapOf = (pid: number, which: 'uid_map' | 'gid_map') =>
  fs.readFileSync(`/proc/${pid}/${which}`, 'utf8').trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));

async function serve(t: Test, args: string[], as: string[] = []) {
  const run = startVfsd(args, as);
  t.teardown(() => run.child.kill('SIGKILL'));
  return run;
}

t.test('root with --uid-map/--gid-map: a user namespace with the maps, files owned by the mapped ids', { skip: !root && 'needs root' }, async (t) => {
  const p = mappedExport(t, 100000);
  const run = await serve(t, [`--socket-path=${p.sock}`, `--shared-dir=${p.share}`, '--sandbox=namespace', `--uid-map=${MAP}`, `--gid-map=${MAP}`]);
  const c = await connect(p.sock, run);
  const pid = await servingPid(run);
  t.not(fs.readlinkSync(`/proc/${pid}/ns/user`), fs.readlinkSync('/proc/self/ns/user'), 'the server is in its own user namespace');
  for (const ns of ['mnt', 'pid', 'net']) t.not(fs.readlinkSync(`/proc/${pid}/ns/${ns}`), fs.readlinkSync(`/proc/self/ns/${ns}`), `and its own ${ns} namespace`);
  t.same(mapOf(pid, 'uid_map'), [[0, 100000, 65536]], '/proc/PID/uid_map is the --uid-map');
  t.same(mapOf(pid, 'gid_map'), [[0, 100000, 65536]], '/proc/PID/gid_map is the --gid-map');
  t.equal(fs.readFileSync(`/proc/${pid}/setgroups`, 'utf8').trim(), 'allow', 'root wrote the maps: setgroups stays allowed');
  const st = status(pid);
  t.equal(st.Uid, '100000\t100000\t100000\t100000', 'the server runs as uid 0 inside = 100000 on the host');
  t.equal(st.Gid, '100000\t100000\t100000\t100000', 'and gid 100000');
  t.equal(st.Groups, '', 'with no supplementary groups (the launcher\'s were dropped)');
  t.equal(BigInt('0x' + st.CapEff), capMask(KEPT), `its kept capabilities (within its namespace: ${st.CapEff})`);

  const seen = await observe(t, p.share, c);
  t.same(seen.mine, [5, 7], 'a host file of 100005:100007 is 5:7 to the guest');
  t.same(seen.hello, [NOBODY, NOBODY], 'a host file of root (outside the map) is the overflow id 65534');
  t.same(seen.created.root, { error: 0, host: [100000, 100000] }, 'the guest\'s root creates a file owned by 100000:100000 on the host');
  t.same(seen.created.u1000, { error: 0, host: [101000, 101000] }, 'caller 1000:1000 creates one owned by 101000:101000');
  t.same(seen.created.u70000, { error: EPERM }, 'caller 70000 has no host id in the map: refused, nothing made');
  t.equal(seen.writeHello, EACCES, 'the guest\'s root cannot open host root\'s 0644 file for writing (no capability over unmapped owners)');
  t.equal(fs.statSync(path.join(p.share, 'hello')).uid, 0, 'and it still belongs to root');

  run.child.kill('SIGTERM');
  t.equal(await run.exit, 0, 'exit 0 after SIGTERM');
  t.notOk(fs.existsSync(`/proc/${pid}`), 'the server is gone');
  c.fe.close();
});

t.test('in a user namespace too, the server dies with a SIGKILLed launcher (the id change clears the parent-death signal: set after it)', { skip: !root && 'needs root' }, async (t) => {
  const p = mappedExport(t, 100000);
  const run = await serve(t, [`--socket-path=${p.sock}`, `--shared-dir=${p.share}`, `--uid-map=${MAP}`, `--gid-map=${MAP}`]);
  const c = await connect(p.sock, run);
  const pid = await servingPid(run);
  run.child.kill('SIGKILL');
  await run.exit;
  await waitFor(() => !fs.existsSync(`/proc/${pid}`) || status(pid).State.startsWith('Z'), 'the server to die', 10000);
  t.pass('the server died with its launcher');
  c.fe.close();
});

t.test('control: the same requests without the maps act as the host ids themselves', { skip: !root && 'needs root' }, async (t) => {
  const p = mappedExport(t, 100000);
  const run = await serve(t, [`--socket-path=${p.sock}`, `--shared-dir=${p.share}`, '--sandbox=namespace']);
  const c = await connect(p.sock, run);
  const pid = await servingPid(run);
  t.equal(fs.readlinkSync(`/proc/${pid}/ns/user`), fs.readlinkSync('/proc/self/ns/user'), 'no user namespace');
  const seen = await observe(t, p.share, c);
  t.same(seen.mine, [100005, 100007], 'host owners unchanged');
  t.same(seen.hello, [0, 0]);
  t.same(seen.created.root, { error: 0, host: [0, 0] }, 'the guest\'s root creates root\'s files');
  t.same(seen.created.u1000, { error: 0, host: [1000, 1000] });
  t.same(seen.created.u70000, { error: 0, host: [70000, 70000] }, 'every caller id is a host id');
  t.equal(seen.writeHello, 0, 'root may write root\'s file');
  run.child.kill('SIGTERM');
  t.equal(await run.exit, 0);
  c.fe.close();
});

/** Why an unprivileged user namespace cannot be made here, or null. */
function unprivilegedUserNsProblem(): string | null {
  if (!root) return 'needs root (to add /etc/subuid entries and act as nobody)';
  const r = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'unshare', '--user', 'true'], { encoding: 'utf8' });
  if (r.error) return `setpriv/unshare: ${r.error.message}`;
  if (r.status !== 0) return `the kernel refuses unprivileged user namespaces here (${r.stderr.trim()})`;
  return null;
}

const asNobody = ['/usr/bin/setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];

/** Adds `line` to /etc/subuid and /etc/subgid for the test; restores them as they were. */
function subIds(t: Test, line: string): void {
  for (const f of ['/etc/subuid', '/etc/subgid']) {
    const before = fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : null;
    fs.writeFileSync(f, (before ?? '') + (before && !before.endsWith('\n') ? '\n' : '') + line + '\n');
    t.teardown(() => (before === null ? fs.rmSync(f, { force: true }) : fs.writeFileSync(f, before)));
  }
}

const noUserNs = unprivilegedUserNsProblem() ?? false;
const noHelpers = noUserNs || (spawnSync('newuidmap', []).error ? 'newuidmap missing (scripts/install-deps.sh installs uidmap)' : false);

t.test('unprivileged (nobody) with subordinate ranges: newuidmap/newgidmap write the maps, the share is served', { skip: noHelpers }, async (t) => {
  subIds(t, 'nobody:100000:65536');
  const p = mappedExport(t, 100000, NOBODY);
  const run = await serve(t, [`--socket-path=${p.sock}`, `--shared-dir=${p.share}`, `--uid-map=${MAP}`, `--gid-map=${MAP}`], asNobody);
  const c = await connect(p.sock, run);
  const pid = await servingPid(run);
  t.equal(status(run.child.pid!).Uid.split('\t')[0], String(NOBODY), 'the launcher is nobody');
  t.match(run.log(), /"sandbox":"namespace"/, 'the maps choose the namespace sandbox (none would be the default for nobody)');
  t.same(mapOf(pid, 'uid_map'), [[0, 100000, 65536]], 'uid_map as asked (written by newuidmap)');
  t.same(mapOf(pid, 'gid_map'), [[0, 100000, 65536]], 'gid_map as asked (written by newgidmap)');
  t.equal(status(pid).Uid, '100000\t100000\t100000\t100000', 'the server is uid 0 inside = 100000 on the host');
  t.equal(BigInt('0x' + status(pid).CapEff), capMask(KEPT), 'with the kept capabilities within its namespace');
  const seen = await observe(t, p.share, c);
  t.same(seen.mine, [5, 7]);
  t.same(seen.created.root, { error: 0, host: [100000, 100000] }, 'the guest\'s root creates 100000:100000');
  t.same(seen.created.u1000, { error: 0, host: [101000, 101000] }, 'caller 1000 creates 101000:101000');
  t.same(seen.created.u70000, { error: EPERM }, 'caller 70000 refused');
  t.equal(seen.writeHello, EACCES, 'root\'s file stays out of reach');
  run.child.kill('SIGTERM');
  t.equal(await run.exit, 0, 'exit 0 after SIGTERM');
  c.fe.close();
});

t.test('unprivileged, a map of one\'s own ids only: written without helpers, setgroups denied, still served', { skip: noUserNs }, async (t) => {
  const p = mappedExport(t, NOBODY, NOBODY);
  // gid 5 inside, not 0: the server then keeps its gid, and a caller with gid 5 needs a switch.
  const run = await serve(t, [`--socket-path=${p.sock}`, `--shared-dir=${p.share}`, `--uid-map=:0:${NOBODY}:1:`, `--gid-map=:5:${NOBODY}:1:`], asNobody);
  const c = await connect(p.sock, run);
  const pid = await servingPid(run);
  t.same(mapOf(pid, 'uid_map'), [[0, NOBODY, 1]], 'uid_map: nobody is 0 inside');
  t.same(mapOf(pid, 'gid_map'), [[5, NOBODY, 1]], 'gid_map: nogroup is 5 inside');
  t.equal(fs.readFileSync(`/proc/${pid}/setgroups`, 'utf8').trim(), 'deny', 'setgroups denied, as the kernel demands of an unprivileged gid map');
  t.equal(status(pid).Gid.split('\t')[0], String(NOBODY), 'the server kept its gid (0 is not mapped)');
  const callers = { root: { uid: 0, gid: 0 }, g5: { uid: 0, gid: 5 }, u1000: { uid: 1000, gid: 1000 } };
  const seen = await observe(t, p.share, c, callers);
  t.same(seen.created.root, { error: 0, host: [NOBODY, NOBODY] }, 'the guest\'s root creates files as nobody');
  t.same(seen.created.g5, { error: 0, host: [NOBODY, NOBODY] }, 'caller 0:5 too: the switch to its gid works without touching the groups nobody may change');
  t.same(seen.created.u1000, { error: EPERM }, 'any other caller is unmapped: refused');
  t.same(seen.mine, [NOBODY, NOBODY], 'files of other host ids are the overflow id');
  run.child.kill('SIGTERM');
  t.equal(await run.exit, 0);
  c.fe.close();
});

t.test('control: nobody without maps gets no namespace sandbox; bad combinations are refused in one line', { skip: !root && 'needs root to act as nobody' }, async (t) => {
  const p = mappedExport(t, NOBODY, NOBODY);
  const cli = (args: string[], as: string[] = []) => {
    const argv = [...as, process.execPath, CLI, `--socket-path=${p.sock}`, `--shared-dir=${p.share}`, ...args];
    // Without tap's NODE_OPTIONS loaders, which would write their reports as nobody at exit.
    return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  };
  const r = cli(['--sandbox=namespace'], asNobody);
  t.equal(r.status, 1, 'nobody, --sandbox namespace, no maps: exit 1');
  t.match(r.stderr, /^vfsd: --sandbox namespace needs root, or --uid-map\/--gid-map/);
  const cases: Array<[string[], RegExp]> = [
    [['--sandbox=chroot', `--uid-map=${MAP}`], /--uid-map takes effect only with --sandbox namespace/],
    [['--sandbox=none', `--gid-map=${MAP}`], /--gid-map takes effect only with --sandbox namespace .*--sandbox none makes none/],
    [['--uid-map=:1:100000:10:'], /--uid-map: no range maps uid 0 inside the namespace/],
    // measured: with either, every OPEN fails with EPERM inside the user namespace
    [[`--uid-map=${MAP}`, '--inode-file-handles=mandatory'], /--inode-file-handles mandatory cannot work in the user namespace of --uid-map/],
    [[`--gid-map=${MAP}`, '--inode-file-handles=prefer'], /--inode-file-handles prefer cannot work in the user namespace of --gid-map/],
  ];
  for (const [args, msg] of cases) {
    const u = cli(args);
    t.equal(u.status, 2, `${args.join(' ')}: exit 2`);
    t.match(u.stderr, msg, 'saying why');
    t.notOk(fs.existsSync(p.sock), 'nothing was served');
  }
  const g = cli([`--gid-map=:0:${NOBODY}:1:`], asNobody);
  t.equal(g.status, 2, 'nobody with a gid map alone: its uid maps to itself, not to 0: exit 2');
  t.match(g.stderr, new RegExp(`no range maps uid 0 .*--uid-map=:0:${NOBODY}:1:`));
  if (!noHelpers && !/^nobody:/m.test(fs.existsSync('/etc/subuid') ? fs.readFileSync('/etc/subuid', 'utf8') : '')) {
    const n = cli([`--uid-map=${MAP}`, `--gid-map=${MAP}`], asNobody);
    t.equal(n.status, 1, 'nobody with a range /etc/subuid does not give it: exit 1');
    t.match(n.stderr, /^vfsd: sandbox: user namespace: newuidmap refused the map \(.+\); the ranges must be this user's in \/etc\/subuid/);
    t.notOk(fs.existsSync(p.sock), 'and the socket is gone with it');
  }
  const m = spawnSync(process.execPath, [CLI, `--mount=${p.dir}`, `--shared-dir=${p.share}`, `--uid-map=${MAP}`], { encoding: 'utf8' });
  t.equal(m.status, 2, '--mount with a map: exit 2');
  t.match(m.stderr, /--uid-map needs --sandbox namespace, which serves --socket-path\/--fd only/);
});
