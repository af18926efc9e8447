// The long soak, by hand: `npm run soak -- --duration 2h --clients 4 [--seed S]`.
//
// Mounts the real vfsd command over /dev/fuse on an export, next to a native twin directory on the
// same host filesystem. K client processes each run a seeded random mix of operations (create,
// write at random offsets, read, truncate, rename within and across directories, link, symlink,
// readlink, mkdir, rmdir, unlink, chmod, setxattr/getxattr, readdir, stat) on the mount and the
// identical operation on the twin, comparing errno and returned data op by op (scripts/soak/ops.ts
// says why the clients cannot disturb each other). Every --compare-every seconds and at the end the
// clients pause and the whole trees are compared. vfsd's RSS and fd count are sampled throughout;
// sustained growth fails the run. Any divergence prints the seed, the client, the op number and
// both results, and exits 1. Needs root (a /dev/fuse mount).
//
// Options: --duration 90s|30m|2h (default 60s), --clients N (4), --seed S (random, printed),
// --ops N (per client, default unbounded), --with-passthrough (default) / --no-passthrough,
// --inode-file-handles MODE (vfsd's inode mode: never, prefer, mandatory, ...; default vfsd's),
// --compare-every SECONDS, --keep (leave the directories after a failure), --only N (run only
// client N of the seeded set: replays its op stream alone), --virtiofs (not yet:
// clients in a QEMU guest; exits 2). Test hook: --inject-divergence N (client 0 creates a file in
// the twin only at its op N: the run must then fail).
import { ChildProcess, fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sys } from '../src/native/sys';
import { startVfsd, type VfsdProcess } from '../test/helpers/vfsd-process';
import type { ClientArgs, ToClient, ToParent } from './soak/client';
import { SHARED } from './soak/ops';
import { compareTrees, snapshot } from './soak/tree';
import { fdExcessGrowth, rssGrowth, sample, type Sample, summary } from './soak/watch';

interface Options {
  durationS: number;
  clients: number;
  seed: number;
  ops: number;
  passthrough: boolean;
  compareEveryS: number;
  keep: boolean;
  injectAt: number;
  /** run only this client of the seeded set (replaying one client's op stream), or -1 */
  only: number;
  /** --inode-file-handles for vfsd, or null for its default */
  inodeFileHandles: string | null;
}

function usage(msg: string): never {
  process.stderr.write(`soak: ${msg}\nusage: soak.js [--duration 90s|30m|2h] [--clients N] [--seed S] [--ops N] [--with-passthrough|--no-passthrough] [--inode-file-handles MODE] [--compare-every S] [--keep] [--only N]\n`);
  process.exit(2);
}

function seconds(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(v);
  if (!m) usage(`bad duration '${v}'`);
  return Number(m[1]) * ({ s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'] ?? 1);
}

function parse(argv: string[]): Options {
  const o: Options = {
    durationS: 60, clients: 4, seed: (Math.random() * 2 ** 32) >>> 0, ops: Infinity, passthrough: true,
    compareEveryS: NaN, keep: false, injectAt: 0, only: -1, inodeFileHandles: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const [k, inline] = argv[i].split(/=(.*)/s, 2);
    const val = () => inline ?? argv[++i] ?? usage(`${k} needs a value`);
    const int = () => {
      const n = Number(val());
      if (!Number.isInteger(n) || n < 0) usage(`${k} needs a whole number`);
      return n;
    };
    switch (k) {
      case '--duration': o.durationS = seconds(val()); break;
      case '--clients': o.clients = int(); break;
      case '--seed': o.seed = int() >>> 0; break;
      case '--ops': o.ops = int(); break;
      case '--with-passthrough': o.passthrough = true; break;
      case '--no-passthrough': o.passthrough = false; break;
      case '--compare-every': o.compareEveryS = seconds(val()); break;
      // vfsd's own value check (exit 2) judges the mode: the soak only passes it on
      case '--inode-file-handles': o.inodeFileHandles = val(); break;
      case '--keep': o.keep = true; break;
      case '--inject-divergence': o.injectAt = int(); break;
      case '--only': o.only = int(); break;
      case '--virtiofs': usage('--virtiofs (clients in a QEMU guest) is not implemented yet');
      // falls through: usage() never returns
      default: usage(`unknown option ${argv[i]}`);
    }
  }
  if (o.clients < 1 || o.clients > 64) usage('--clients must be 1..64');
  if (o.only >= o.clients) usage('--only N needs N < --clients');
  if (Number.isNaN(o.compareEveryS)) o.compareEveryS = Math.min(60, Math.max(5, o.durationS / 4));
  return o;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const say = (line: string) => process.stdout.write(`soak: ${line}\n`);

/** Does the filesystem under `dir` take user xattrs (through this path)? */
function xattrsWork(dir: string): boolean {
  const f = path.join(dir, '.soak-xattr-probe');
  fs.writeFileSync(f, '');
  try {
    return sys.setxattr(f, 'user.soak-probe', Buffer.from('1'), 0, true) === 0;
  } finally {
    fs.rmSync(f);
  }
}

class Client {
  state: 'running' | 'paused' | 'done' | 'exited' = 'running';
  ops = 0;
  private waiters: (() => void)[] = [];
  constructor(readonly id: number, readonly child: ChildProcess) {}
  settle(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  /** Resolves when the client is no longer running (paused, done or gone). */
  idle(): Promise<void> {
    return this.state === 'running' ? new Promise((r) => this.waiters.push(r)) : Promise.resolve();
  }
  send(m: ToClient): void {
    if (this.child.connected) this.child.send(m);
  }
}

async function main(): Promise<number> {
  const o = parse(process.argv.slice(2));
  if (process.getuid?.() !== 0) usage('needs root (it mounts vfsd over /dev/fuse)');
  const teardowns: (() => void | Promise<void>)[] = [];
  let vfsd: VfsdProcess | undefined;
  let twin = '';
  const clients: Client[] = [];
  let failed: string | null = null;
  const samples: Sample[] = [];
  let sampler: NodeJS.Timeout | undefined;

  const cleanup = async () => {
    if (sampler) clearInterval(sampler);
    for (const c of clients) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    if (failed && o.keep) {
      say(`kept: export ${vfsd?.src} twin ${twin} (vfsd stopped)`);
      await vfsd?.stop();
      return;
    }
    for (const fn of teardowns.reverse()) await fn();
    if (twin) fs.rmSync(twin, { recursive: true, force: true });
  };
  const fail = (msg: string) => {
    failed ??= msg;
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      fail(`stopped by ${sig}`);
      void cleanup().then(() => process.exit(130));
    });
  }

  try {
    say(`seed ${o.seed}, ${o.clients} clients, ${o.durationS} s${Number.isFinite(o.ops) ? `, at most ${o.ops} ops per client` : ''}, passthrough ${o.passthrough ? 'on' : 'off'}, inode file handles ${o.inodeFileHandles ?? 'default'} (replay: --seed ${o.seed} --clients ${o.clients})`);
    const dirs = [SHARED, ...Array.from({ length: o.clients }, (_, i) => `c${i}`)];
    vfsd = await startVfsd({ teardown: (fn) => teardowns.push(fn) }, {
      args: ['--xattr', ...(o.passthrough ? [] : ['--no-passthrough']),
        ...(o.inodeFileHandles ? ['--inode-file-handles', o.inodeFileHandles] : [])],
      prepare: (src) => { for (const d of dirs) fs.mkdirSync(path.join(src, d)); },
    });
    twin = fs.mkdtempSync(path.join(path.dirname(vfsd.base), 'vfsd-soak-twin-'));
    for (const d of dirs) fs.mkdirSync(path.join(twin, d));
    const xattrs = xattrsWork(twin) && xattrsWork(vfsd.mnt);
    say(`export ${vfsd.src}, mount ${vfsd.mnt}, twin ${twin}, xattrs ${xattrs ? 'on' : 'off (not supported here)'}`);
    const server = vfsd;
    const serverPid = server.child.pid!;
    let stoppingServer = false;
    server.child.on('exit', (code, sig) => stoppingServer || fail(`vfsd exited during the run (${code ?? sig}):\n${server.log().slice(-3000)}`));

    sampler = setInterval(() => {
      const s = sample(serverPid);
      if (s) samples.push(s);
    }, o.durationS >= 600 ? 10_000 : 1000);
    sampler.unref();

    // The fd baseline for the leak check at the end: mounted, nothing looked up yet.
    const baseline = sample(serverPid);
    const clientJs = path.join(__dirname, 'soak', 'client.js');
    for (let i = 0; i < o.clients; i++) {
      if (o.only >= 0 && i !== o.only) continue;
      const args: ClientArgs = { client: i, seed: o.seed, mount: server.mnt, twin, maxOps: Number.isFinite(o.ops) ? o.ops : 0, xattrs, injectAt: i === 0 ? o.injectAt : 0 };
      const c = new Client(i, fork(clientJs, [JSON.stringify(args)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
      c.child.on('message', (m: ToParent) => {
        if (m.type === 'divergence') {
          c.ops = m.opNumber;
          fail(`DIVERGENCE seed ${o.seed} client ${m.client} op #${m.opNumber}: ${m.op}\n  mount: ${JSON.stringify(m.mount)}\n  twin:  ${JSON.stringify(m.twin)}\n  replay this client alone: --seed ${o.seed} --clients ${o.clients} --only ${m.client} --ops ${m.opNumber}\n  its last ops (with the twin's results):\n    ${m.recent.join('\n    ')}`);
        } else {
          c.ops = m.ops;
          c.state = m.type === 'paused' ? 'paused' : 'done';
          c.settle();
        }
      });
      c.child.on('exit', (code) => {
        if (c.state !== 'done') fail(failed ? failed : `client ${i} exited (${code}) before it was done`);
        c.state = c.state === 'done' ? 'done' : 'exited';
        c.settle();
      });
      clients.push(c);
    }

    const started = Date.now();
    const deadline = started + o.durationS * 1000;
    let compares = 0;
    const atCompare: { fds: number; entries: number }[] = [];
    const totalOps = () => clients.reduce((a, c) => a + c.ops, 0);
    /** Pause every running client, compare the trees, resume. */
    const compareNow = async (label: string) => {
      for (const c of clients) if (c.state === 'running') c.send({ type: 'pause' });
      const all = Promise.all(clients.map((c) => c.idle()));
      if ((await Promise.race([all.then(() => true), sleep(120_000).then(() => false)])) === false) {
        fail('a client did not pause within 120 s: an operation on the mount hangs');
        return;
      }
      if (failed) return;
      const diffs = compareTrees(server.mnt, twin);
      compares++;
      if (diffs.length) {
        fail(`DIVERGENCE seed ${o.seed} in the full-tree compare (${label}, ${totalOps()} ops done):\n  ${diffs.slice(0, 20).join('\n  ')}${diffs.length > 20 ? `\n  ... ${diffs.length} in all` : ''}`);
        return;
      }
      const s = sample(serverPid);
      const entries = snapshot(twin).size;
      if (s) atCompare.push({ fds: s.fds, entries });
      say(`${Math.round((Date.now() - started) / 1000)} s ${label}: ${totalOps()} ops, trees equal (${entries} entries)${s ? `, vfsd RSS ${Math.round(s.rssKiB / 1024)} MiB, ${s.fds} fds` : ''}`);
      for (const c of clients) if (c.state === 'paused') { c.state = 'running'; c.send({ type: 'resume' }); }
    };

    let nextCompare = started + o.compareEveryS * 1000;
    while (!failed && Date.now() < deadline && clients.some((c) => c.state !== 'done')) {
      await sleep(Math.max(0, Math.min(200, deadline - Date.now(), nextCompare - Date.now())));
      if (!failed && Date.now() >= nextCompare && Date.now() < deadline) {
        await compareNow('periodic');
        nextCompare = Date.now() + o.compareEveryS * 1000;
      }
    }
    if (!failed) {
      for (const c of clients) if (c.state === 'running') c.send({ type: 'stop' });
      const all = Promise.all(clients.map((c) => c.idle()));
      if ((await Promise.race([all.then(() => true), sleep(120_000).then(() => false)])) === false) fail('a client did not stop within 120 s');
    }
    if (!failed) await compareNow('final');
    if (!failed) {
      const growth = rssGrowth(samples) ?? fdExcessGrowth(atCompare);
      if (growth) fail(`vfsd resource growth: ${growth} (${summary(samples)})`);
    }
    if (!failed) {
      // Nothing uses the mount now: once the kernel forgets its cached inodes, vfsd must let go of
      // the fds it held for them. More than a handful left is a leak (of fds or lookup counts).
      const before = sample(serverPid);
      fs.writeFileSync('/proc/sys/vm/drop_caches', '2');
      await sleep(2000);
      const after = sample(serverPid);
      const base = baseline?.fds ?? 0;
      if (before && after) {
        say(`vfsd fds ${before.fds} -> ${after.fds} after the kernel dropped its caches (at start ${base})`);
        if (after.fds > base + 16) fail(`vfsd still holds ${after.fds} fds after the kernel forgot its inodes (at start ${base}): a leak`);
      }
    }
    if (sampler) clearInterval(sampler);
    if (!failed) {
      stoppingServer = true;
      const code = await server.stop();
      if (code !== 0) fail(`vfsd stopped with ${code}:\n${server.log().slice(-3000)}`);
    }
    const secs = (Date.now() - started) / 1000;
    if (failed) {
      say(`FAIL after ${totalOps()} ops in ${secs.toFixed(0)} s (seed ${o.seed}, ${o.clients} clients, passthrough ${o.passthrough ? 'on' : 'off'})`);
      process.stdout.write(`${failed}\n`);
    } else {
      say(`PASS ${totalOps()} ops in ${secs.toFixed(0)} s (${Math.round(totalOps() / secs)}/s), ${compares} tree compares; vfsd ${summary(samples)}`);
    }
  } catch (e) {
    fail(`soak error: ${(e as Error).stack ?? e}`);
    process.stdout.write(`${failed}\n`);
  } finally {
    await cleanup();
  }
  return failed ? 1 : 0;
}

if (require.main === module) {
  main().then((code) => process.exit(code), (e) => {
    process.stderr.write(`soak: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
}
