// Faults over virtio-fs in a real guest (the /dev/fuse side is test/mount/faults-*):
//
//   kill     SIGKILL vfsd while the guest writes numbered blocks and fsyncs each one: every block
//            the guest reported fsynced is on the host, byte-exact; the kill was mid-stream (some
//            blocks reported, the stream unfinished).
//   term     SIGTERM vfsd under a streaming guest writer: exit 0, state saved, fsynced data there.
//   vanish   kill -9 QEMU during heavy guest writes: vfsd notices, saves state, exits 0, leaves no
//            fd or mount behind; every block the guest wrote is on the host.
//   restart  --multidevs remap with --state-dir/--state-backup-dir on a tree with two tmpfs
//            submounts: a clean stop writes state and backup; the "VM manager" deletes the state
//            dir; a second boot with a new vfsd shows the same inode numbers (loaded from the
//            backup, which is then removed). And after a SIGKILL (nothing saved at stop) the
//            checkpoint in the state dir gives the same numbers. The second boot meets the devices
//            in the other order, and a control vfsd without state shows that this changes the
//            numbers: the "same numbers" checks can fail.
//
// Two boots in all. The first carries one virtio-fs device per fault, each with its own vfsd, and
// runs the phases one after another (scripts/faults-run1.sh); each phase leaves its share
// dead, since QEMU 7.2 cannot reconnect a vhost-user-fs back end, and the guest writer on it hangs
// in its next request: nothing waits on it, and the boot ends with the host killing QEMU.
// Every wait is bounded. The seed (VFSD_ACCEPT_SEED) picks the kill moments.
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { guestScript, mountsUnder, runSeed } from '../helpers/acceptance';
import { ComparisonTable } from '../helpers/compare-table';
import { prng } from '../helpers/faults';
import { bootGuest, genBytes, type GuestCheck, type GuestRun, guestUnavailable, repoRoot } from '../helpers/guest';
import { onAbnormalExit } from '../helpers/reaper';
import { tempBase, unmountTree } from '../helpers/vfsd-process';

const BLOCK = 65536;
const STREAM_BLOCKS = 1_000_000; // far more than a run gets through: the stream never ends by itself
/** Tree of the remap shares: files on the export's own filesystem and on two tmpfs submounts. */
const TREE_FILES = ['top', 'a/f1', 'a/d/f2', 'b/f1', 'b/d/f2'];
const ORDER_RUN1 = ['top', 'a/f1', 'a/d/f2', 'b/f1', 'b/d/f2'];
const ORDER_RUN2 = ['top', 'b/f1', 'b/d/f2', 'a/f1', 'a/d/f2'];
const REMAPPED = (rel: string) => rel.startsWith('a/') || rel.startsWith('b/');

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(50);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// One vfsd process per share, as a VM manager starts it

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Server {
  name: string;
  child: ChildProcess;
  socket: string;
  log(): string;
  exit: Promise<Exit>;
  alive(): boolean;
}

async function startServer(name: string, sharedDir: string, socket: string, args: string[]): Promise<Server> {
  const cli = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
  const child = spawn(process.execPath, [cli, `--socket-path=${socket}`, `--shared-dir=${sharedDir}`, '--cache=auto', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exit = new Promise<Exit>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const unregister = onAbnormalExit(() => alive() && child.kill('SIGKILL'));
  void exit.then(unregister);
  if (!(await until(() => fs.existsSync(socket) || !alive(), 30_000)) || !alive()) {
    child.kill('SIGKILL');
    throw new Error(`vfsd ${name} did not listen on ${socket}:\n${out}`);
  }
  return { name, child, socket, log: () => out, exit, alive };
}

/** The exit, or null when it did not come within `ms` (the server is then killed). */
async function exitWithin(s: Server, ms: number): Promise<Exit | null> {
  const r = await Promise.race([s.exit, sleep(ms).then(() => null)]);
  if (r === null) s.child.kill('SIGKILL');
  return r;
}

/** The fields of the first JSON log line with this message. */
function logEntry(s: Server, msg: string): Record<string, unknown> | undefined {
  for (const line of s.log().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const e = JSON.parse(line) as Record<string, unknown>;
      if (e.msg === msg) return e;
    } catch {
      // a partial line
    }
  }
  return undefined;
}

/** Device entries in a state file (0 when missing or unreadable). */
function stateDevices(file: string): number {
  try {
    const env = JSON.parse(fs.readFileSync(file, 'utf8')) as { payload: string };
    return (JSON.parse(env.payload) as { deviceRegistry?: { devices?: unknown[] } }).deviceRegistry?.devices?.length ?? 0;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------------------------
// The blocks the guest writes (vfsd-probe blocks): the same bytes, generated here

function blockBytes(i: number): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(`VFSD-BLK ${String(i).padStart(10, '0')}\n`, 0, 'latin1');
  genBytes(BLOCK - 32, (Math.imul(i, 2654435761) + 1) >>> 0).copy(b, 32);
  return b;
}

/** Problems with blocks 0..n-1 of the host file (empty: all there, byte-exact), and how many
 *  whole, intact blocks the file holds from its start. */
function checkBlocks(file: string, n: number): { problems: string[]; intact: number; size: number } {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (e) {
    return { problems: [(e as Error).message], intact: 0, size: 0 };
  }
  let intact = 0;
  while ((intact + 1) * BLOCK <= data.length && data.subarray(intact * BLOCK, (intact + 1) * BLOCK).equals(blockBytes(intact))) intact++;
  const problems = intact >= n ? [] : [`block ${intact} of ${n} reported is ${data.length < (intact + 1) * BLOCK ? 'missing' : 'corrupt'} (file ${data.length} bytes)`];
  return { problems, intact, size: data.length };
}

/** Stream reports from the console, as they arrive: "VFSD-DATA kill fsynced 12". */
class StreamProgress {
  readonly count = new Map<string, number>();
  readonly ended = new Map<string, string>();
  onLine = (line: string): void => {
    const m = /VFSD-DATA (kill|term|vanish) (fsynced|wrote|complete|error-\w+) (\d+)/.exec(line);
    if (!m) return;
    if (m[2] === 'fsynced' || m[2] === 'wrote') this.count.set(m[1], Math.max(this.count.get(m[1]) ?? 0, Number(m[3])));
    else this.ended.set(m[1], `${m[2]} ${m[3]}`);
  };
  of(ch: string): number {
    return this.count.get(ch) ?? 0;
  }
  /** Waits until `ch` reported `n` blocks or ended; false if neither within `ms`. */
  reached(ch: string, n: number, ms: number): Promise<boolean> {
    return until(() => this.of(ch) >= n || this.ended.has(ch), ms).then((ok) => ok && this.of(ch) >= n);
  }
}

/** rel -> inode number (decimal string) from a `vfsd-probe stat` data channel. */
function inodes(run: GuestRun, share: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of run.data.get(`${share}:ino`) ?? []) {
    const f = line.split(' ');
    const prefix = `/mnt/${share}/`;
    if (f.length >= 4 && f[0].startsWith(prefix) && /^\d+$/.test(f[3])) m.set(f[0].slice(prefix.length), f[3]);
  }
  return m;
}

function diffInodes(a: Map<string, string>, b: Map<string, string>, paths: string[]): string[] {
  return paths.filter((p) => a.get(p) === undefined || a.get(p) !== b.get(p)).map((p) => `${p}: ${a.get(p) ?? '?'} vs ${b.get(p) ?? '?'}`);
}

/** Processes (other than this one) with an fd or cwd under `dir`. */
function holdersUnder(dir: string): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target = '';
      try {
        target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (target === dir || target.startsWith(dir + '/')) out.push(`pid ${pid} fd ${fd} -> ${target}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

const why = guestUnavailable();
if (why) {
  t.plan(0, why);
} else {
  t.setTimeout(1_800_000);
  t.test('faults over virtio-fs', { timeout: 1_500_000 }, async (t) => {
    const seed = runSeed();
    const rnd = prng(seed);
    t.comment(`seed ${seed} (VFSD_ACCEPT_SEED=${seed} replays the kill moments)`);
    const checks: GuestCheck[] = [];
    const check = (name: string, ok: boolean, detail = '') => checks.push({ name, ok, detail });

    const base = tempBase('vfsd-vfaults-');
    const servers: Server[] = [];
    const unregisterMounts = onAbnormalExit(() => unmountTree(base));
    t.teardown(async () => {
      for (const s of servers) if (s.alive()) s.child.kill('SIGKILL');
      await Promise.all(servers.map((s) => exitWithin(s, 10_000)));
      unmountTree(base);
      unregisterMounts();
      if (mountsUnder(base).length === 0) fs.rmSync(base, { recursive: true, force: true });
    });
    const dir = (...p: string[]) => path.join(base, ...p);
    for (const d of ['kill', 'term', 'vanish', 'tree', 'sock', 'state']) fs.mkdirSync(dir(d));
    // The remap tree: tmpfs on a and b, fresh filesystems of one kind, so their inode numbers collide.
    fs.writeFileSync(dir('tree', 'top'), 'on the export\n');
    for (const sub of ['a', 'b']) {
      fs.mkdirSync(dir('tree', sub));
      const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', `vfaults-${sub}`, dir('tree', sub)], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`mount tmpfs: ${r.stderr}`);
      fs.mkdirSync(dir('tree', sub, 'd'));
      fs.writeFileSync(dir('tree', sub, 'f1'), `${sub} f1\n`);
      fs.writeFileSync(dir('tree', sub, 'd', 'f2'), `${sub} f2\n`);
    }
    const hostIno = (rel: string) => fs.statSync(dir('tree', rel)).ino;
    check('restart/host-inodes-collide', hostIno('a/f1') === hostIno('b/f1') || hostIno('a/d/f2') === hostIno('b/d/f2'),
      `a/f1 ${hostIno('a/f1')} b/f1 ${hostIno('b/f1')}`);

    const state = (share: string) => dir('state', share);
    const backup = (share: string) => dir('state', `${share}-backup`);
    const stateFile = (share: string) => path.join(state(share), 'state.json');
    const backupFile = (share: string) => path.join(backup(share), 'state.json');
    const remapArgs = (share: string) => ['--no-announce-submounts', '--multidevs=remap', `--state-dir=${state(share)}`, `--state-backup-dir=${backup(share)}`];
    const start = async (name: string, shared: string, args: string[]) => {
      const s = await startServer(name, shared, dir('sock', `${name}.sock`), args);
      servers.push(s);
      return s;
    };

    // ---- boot 1 ----------------------------------------------------------------------------
    const remap1 = await start('remap', dir('tree'), remapArgs('remap'));
    const ckpt1 = await start('ckpt', dir('tree'), remapArgs('ckpt'));
    const kill = await start('kill', dir('kill'), []);
    const term = await start('term', dir('term'), [`--state-dir=${state('term')}`]);
    const vanish = await start('vanish', dir('vanish'), [`--state-dir=${state('vanish')}`]);

    const progress = new StreamProgress();
    let qemu: ChildProcess | undefined;
    let qemuKilled = false;
    const want = { kill: 4 + Math.floor(rnd() * 40), term: 4 + Math.floor(rnd() * 20), vanish: 8 + Math.floor(rnd() * 40) };
    const atSignal = { kill: 0, term: 0, vanish: 0 };
    t.comment(`signals after ${want.kill} fsynced (kill), ${want.term} fsynced (term), ${want.vanish} written (vanish) blocks`);

    const onSync = async (name: string) => {
      switch (name) {
        case 'remap-stop': {
          remap1.child.kill('SIGTERM');
          const e = await exitWithin(remap1, 30_000);
          check('restart/run1-clean-stop', e?.code === 0, `exit ${JSON.stringify(e)}`);
          const saved = logEntry(remap1, 'state saved');
          check('restart/run1-saved-state-and-backup', saved?.primary === true && saved?.backup === true &&
            stateDevices(stateFile('remap')) === 2 && stateDevices(backupFile('remap')) === 2,
          `log ${JSON.stringify(saved)}, devices: state ${stateDevices(stateFile('remap'))} backup ${stateDevices(backupFile('remap'))}`);
          break;
        }
        case 'ckpt-kill': {
          // The checkpoint follows a registry change within a fraction of a second; bounded wait.
          const written = await until(() => stateDevices(stateFile('ckpt')) === 2, 30_000);
          check('ckpt/checkpoint-before-kill', written, `${stateDevices(stateFile('ckpt'))} devices in ${stateFile('ckpt')}`);
          ckpt1.child.kill('SIGKILL');
          const e = await exitWithin(ckpt1, 30_000);
          check('ckpt/vfsd-died-by-SIGKILL', e?.signal === 'SIGKILL', `exit ${JSON.stringify(e)}`);
          check('ckpt/nothing-saved-at-stop', !fs.existsSync(backupFile('ckpt')) && logEntry(ckpt1, 'state saved') === undefined,
            fs.existsSync(backupFile('ckpt')) ? 'a backup was written' : '');
          break;
        }
        case 'kill': {
          const streaming = await progress.reached('kill', want.kill, 180_000);
          atSignal.kill = progress.of('kill');
          check('kill/streaming-before-kill', streaming, `${atSignal.kill} blocks fsynced when the kill was sent ${progress.ended.get('kill') ?? ''}`);
          kill.child.kill('SIGKILL');
          const e = await exitWithin(kill, 30_000);
          check('kill/vfsd-died-by-SIGKILL', e?.signal === 'SIGKILL', `exit ${JSON.stringify(e)}`);
          await sleep(1500); // reports of fsyncs answered just before the kill are still on the wire
          break;
        }
        case 'term': {
          const streaming = await progress.reached('term', want.term, 180_000);
          atSignal.term = progress.of('term');
          check('term/streaming-before-signal', streaming, `${atSignal.term} blocks fsynced when SIGTERM was sent ${progress.ended.get('term') ?? ''}`);
          term.child.kill('SIGTERM');
          const e = await exitWithin(term, 30_000);
          check('term/vfsd-exit-0', e?.code === 0, `exit ${JSON.stringify(e)}`);
          const saved = logEntry(term, 'state saved');
          check('term/state-saved', saved?.primary === true && fs.existsSync(stateFile('term')), `log ${JSON.stringify(saved)}`);
          await sleep(1500);
          break;
        }
        case 'vanish': {
          const streaming = await progress.reached('vanish', want.vanish, 180_000);
          atSignal.vanish = progress.of('vanish');
          check('vanish/streaming-before-kill', streaming, `${atSignal.vanish} blocks written when QEMU was killed ${progress.ended.get('vanish') ?? ''}`);
          check('vanish/vfsd-serving-before', vanish.alive(), '');
          qemuKilled = qemu?.kill('SIGKILL') ?? false;
          break;
        }
      }
    };

    const run1 = await bootGuest({
      socketPath: remap1.socket,
      tag: 'remap',
      extraShares: [ckpt1, kill, term, vanish].map((s) => ({ socketPath: s.socket, tag: s.name })),
      script: [`STAT_PATHS='${ORDER_RUN1.join(' ')}'`, `BLOCK=${BLOCK}`, ''].join('\n') + guestScript('faults-run1.sh'),
      timeoutMs: 900_000,
      onSync,
      onLine: progress.onLine,
      onQemu: (q) => (qemu = q),
    });

    // kill: every block the guest reported fsynced is on the host.
    const killed = progress.of('kill');
    const k = checkBlocks(dir('kill', 'stream'), killed);
    check('kill/mid-stream', killed > 0 && !progress.ended.has('kill') && k.size < STREAM_BLOCKS * BLOCK,
      `${killed} blocks reported fsynced (${atSignal.kill} at the kill), stream ${progress.ended.get('kill') ?? 'unfinished'}, host file ${k.size} bytes`);
    check('kill/fsynced-blocks-on-host', killed > 0 && k.problems.length === 0, k.problems.join('; ') || `${k.intact} whole blocks on the host, ${killed} fsynced`);

    // A dead share leaves its writer waiting in the guest forever; the guest itself must go on.
    check('kill/guest-goes-on', progress.of('term') > 0, `the next phase wrote ${progress.of('term')} blocks on another share`);
    // term
    const termed = progress.of('term');
    const tm = checkBlocks(dir('term', 'stream'), termed);
    check('term/mid-stream', termed > 0 && !progress.ended.has('term'), `${termed} blocks reported fsynced (${atSignal.term} at SIGTERM: the rest were in flight and finished), stream ${progress.ended.get('term') ?? 'unfinished'}`);
    check('term/fsynced-blocks-on-host', termed > 0 && tm.problems.length === 0, tm.problems.join('; ') || `${tm.intact} whole blocks on the host, ${termed} fsynced`);

    check('term/guest-goes-on', progress.of('vanish') > 0, `the next phase wrote ${progress.of('vanish')} blocks on another share`);
    // vanish
    const ve = await exitWithin(vanish, 30_000);
    check('vanish/qemu-killed-mid-stream', qemuKilled && run1.exitCode === null && !progress.ended.has('vanish'),
      `qemu killed: ${qemuKilled}, guest rc ${run1.exitCode}, stream ${progress.ended.get('vanish') ?? 'unfinished'}`);
    check('vanish/vfsd-exit-0', ve?.code === 0, `exit ${JSON.stringify(ve)}`);
    check('vanish/noticed-disconnect', logEntry(vanish, 'front end disconnected') !== undefined, '');
    check('vanish/state-saved', logEntry(vanish, 'state saved')?.primary === true && fs.existsSync(stateFile('vanish')), '');
    const written = progress.of('vanish');
    const vb = checkBlocks(dir('vanish', 'stream'), written);
    check('vanish/written-blocks-on-host', written > 0 && vb.problems.length === 0, vb.problems.join('; ') || `${vb.intact} whole blocks, ${written} written`);
    const holders = holdersUnder(base);
    const mounts = mountsUnder(base).filter((m) => m !== dir('tree', 'a') && m !== dir('tree', 'b'));
    check('vanish/no-fds-or-mounts-left', holders.length === 0 && mounts.length === 0, [...holders, ...mounts].join(', '));
    for (const r of run1.results) if (r.name !== 'guest/completed') checks.push(r);
    check('boot1/qemu-ended', !run1.timedOut, `${run1.durationMs} ms${run1.timedOut ? ', timed out' : ''}`);

    const ino1 = { remap: inodes(run1, 'remap'), ckpt: inodes(run1, 'ckpt') };
    const remapped = TREE_FILES.filter(REMAPPED);
    const marked = remapped.filter((p) => (BigInt(ino1.remap.get(p) ?? '0') >> 63n) === 1n);
    const idx = (p: string) => (BigInt(ino1.remap.get(p) ?? '0') >> 48n) & 0x7fffn;
    check('restart/run1-remapped-numbers', marked.length === remapped.length && idx('a/f1') !== idx('b/f1') && ino1.remap.get('top') === String(hostIno('top')),
      `${marked.length}/${remapped.length} remapped, device indices a=${idx('a/f1')} b=${idx('b/f1')}`);

    // ---- the VM manager's teardown, then boot 2 --------------------------------------------
    fs.rmSync(state('remap'), { recursive: true, force: true });
    const remap2 = await start('remap2', dir('tree'), remapArgs('remap'));
    const ckpt2 = await start('ckpt2', dir('tree'), remapArgs('ckpt'));
    const control = await start('control', dir('tree'), ['--no-announce-submounts', '--multidevs=remap']);
    // Logged before the socket is listening, but the pipe may deliver it a moment later.
    await until(() => logEntry(remap2, 'state loaded') !== undefined && logEntry(ckpt2, 'state loaded') !== undefined, 10_000);
    const loaded = logEntry(remap2, 'state loaded');
    check('restart/loaded-from-backup', loaded?.from === 'backup' && loaded?.backup_removed === true, `log ${JSON.stringify(loaded)}`);
    check('restart/backup-removed-after-load', !fs.existsSync(backupFile('remap')) && !fs.existsSync(backup('remap')) && stateDevices(stateFile('remap')) === 2,
      `backup file ${fs.existsSync(backupFile('remap')) ? 'still there' : 'gone'}, state dir holds ${stateDevices(stateFile('remap'))} devices`);
    const loadedCkpt = logEntry(ckpt2, 'state loaded');
    check('ckpt/loaded-checkpoint', loadedCkpt?.from === 'primary', `log ${JSON.stringify(loadedCkpt)}`);

    const run2 = await bootGuest({
      socketPath: remap2.socket,
      tag: 'remap',
      extraShares: [ckpt2, control].map((s) => ({ socketPath: s.socket, tag: s.name.replace(/2$/, '') })),
      script: `STAT_PATHS='${ORDER_RUN2.join(' ')}'\n` + guestScript('faults-run2.sh'),
      timeoutMs: 600_000,
    });
    checks.push(...run2.results.map((r) => ({ ...r, name: `boot2/${r.name}` })));
    const ino2 = { remap: inodes(run2, 'remap'), ckpt: inodes(run2, 'ckpt'), control: inodes(run2, 'control') };
    const dr = diffInodes(ino1.remap, ino2.remap, TREE_FILES);
    check('restart/same-numbers-from-backup', dr.length === 0 && ino2.remap.size === TREE_FILES.length, dr.join(', ') || `${ino2.remap.size} paths`);
    const dc = diffInodes(ino1.ckpt, ino2.ckpt, TREE_FILES);
    check('ckpt/same-numbers-from-checkpoint', dc.length === 0 && ino2.ckpt.size === TREE_FILES.length, dc.join(', ') || `${ino2.ckpt.size} paths`);
    const changed = diffInodes(ino1.remap, ino2.control, remapped);
    check('restart/control-without-state-differs', changed.length > 0 && ino2.control.size === TREE_FILES.length,
      changed.length ? `${changed.length} of ${remapped.length} remapped numbers differ without state` : 'a fresh registry gives the same numbers: the restart checks prove nothing');
    for (const s of [remap2, ckpt2, control]) {
      const e = await exitWithin(s, 30_000);
      check(`boot2/${s.name}-exit-0-at-poweroff`, e?.code === 0, `exit ${JSON.stringify(e)}`);
    }

    // ---- report ------------------------------------------------------------------------------
    const table = new ComparisonTable('faults over virtio-fs (real guest)');
    table.record('vfsd', checks);
    for (const c of checks) t.ok(c.ok, c.name, c.ok ? {} : { detail: c.detail });
    t.comment(`\n${table.render()}`);
    for (const c of checks) t.comment(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
    table.save('faults-virtiofs');
    if (checks.some((c) => !c.ok)) {
      t.comment(`--- boot 1 console (tail) ---\n${run1.console.slice(-3000)}`);
      t.comment(`--- boot 2 console (tail) ---\n${run2.console.slice(-2000)}`);
      for (const s of servers) t.comment(`--- vfsd ${s.name} log (tail) ---\n${s.log().slice(-1500)}`);
    }
  });
}
