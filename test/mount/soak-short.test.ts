// The soak script (scripts/soak.ts) in short, so it cannot rot: 20 s with 2 clients must pass (op
// by op and full-tree equal, no resource growth, vfsd stops with 0, nothing left behind), and a run
// with a divergence planted in the twin must fail, naming the seed, the client and the op.
import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const SOAK = path.resolve(__dirname, '..', '..', 'scripts', 'soak.js');
const root = process.getuid?.() === 0;

function soak(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SOAK, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => { out += d.toString(); });
    child.stderr!.on('data', (d) => { out += d.toString(); });
    // A hang is a failure too: the soak bounds its own waits, this only keeps the test from hanging.
    const timer = setTimeout(() => child.kill('SIGTERM'), 180_000);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

/** The directories the run announced ("export X, mount Y, twin Z"). */
function dirsOf(out: string): string[] {
  const m = /export (\S+), mount (\S+), twin (\S+),/.exec(out);
  return m ? [m[1], m[2], m[3]] : [];
}

const seed = (Math.random() * 2 ** 32) >>> 0;
/** The modes besides the default, which the first test runs. */
const INODE_MODES = ['never', 'prefer', 'mandatory'];

t.test('20 s soak with 2 clients passes and leaves nothing behind', { skip: !root && 'needs root', timeout: 240_000 }, async (t) => {
  const r = await soak(['--duration', '20', '--clients', '2', '--seed', String(seed)]);
  t.equal(r.code, 0, `exit 0 (seed ${seed})`, { output: r.out });
  const pass = /soak: PASS (\d+) ops/.exec(r.out);
  t.ok(pass && Number(pass[1]) > 100, `ops ran: ${pass?.[1]}`);
  t.match(r.out, /final: \d+ ops, trees equal/, 'the final full-tree compare ran');
  t.match(r.out, /after the kernel dropped its caches/, 'the fd check after dropping caches ran');
  const dirs = dirsOf(r.out);
  t.equal(dirs.length, 3, 'directories announced');
  for (const d of dirs) t.notOk(fs.existsSync(d), `${d} removed`);
});

// The same soak in each way vfsd can hold inodes (an fd each, file handles, or a budget of fds with
// file handles for the rest): every op must answer as the native twin does in every mode. This is
// the conformance run of the suite: no POSIX filesystem test suite is packaged for Debian 12.
for (const mode of INODE_MODES) {
  t.test(`20 s soak with --inode-file-handles ${mode}`, { skip: !root && 'needs root', timeout: 240_000 }, async (t) => {
    const r = await soak(['--duration', '20', '--clients', '2', '--seed', String(seed), '--inode-file-handles', mode]);
    t.equal(r.code, 0, `exit 0 (seed ${seed})`, { output: r.out });
    t.match(r.out, new RegExp(`inode file handles ${mode}`), 'vfsd ran in that mode');
    t.match(r.out, /final: \d+ ops, trees equal/, 'the final full-tree compare ran');
  });
}

t.test('a divergence planted in the twin fails the run with seed, client and op', { skip: !root && 'needs root', timeout: 240_000 }, async (t) => {
  const r = await soak(['--duration', '20', '--clients', '2', '--seed', String(seed), '--inject-divergence', '200']);
  t.equal(r.code, 1, 'exit 1', { output: r.out });
  t.match(r.out, new RegExp(`DIVERGENCE seed ${seed} (client 0 op #\\d+|in the full-tree compare)`), 'the divergence names the seed and where');
  t.match(r.out, /injected-divergence/, 'and shows the planted entry');
  for (const d of dirsOf(r.out)) t.notOk(fs.existsSync(d), `${d} removed after the failure`);
});
