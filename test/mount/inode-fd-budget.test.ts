// 100,000 files in one directory with vfsd's open-file limit at 1024 (issue 11 item 6): the
// default (--inode-file-handles auto) keeps O_PATH fds for the recently used inodes within a
// budget below the limit and file handles for the rest, so it never runs out; prefer and
// mandatory hold handles only. Each creates, lists and removes all the files, and vfsd's fds
// (counted in /proc/PID/fd while the client works) stay under the budget. `never` holds one fd per
// inode: it is the control, failing with EMFILE (cleanly: an errno for the client, the server up).
//
// The client is a python loop of mknod/listdir/unlink: one syscall per file, so the server is
// what is measured. The export is a tmpfs of its own.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { startVfsd, tempBase, unmountTree, VfsdProcess } from '../helpers/vfsd-process';
import { inodeFdBudget } from '../../src/passthrough/inode-fd-ring';

const root = process.geteuid?.() === 0;
const N = 100_000;
const NOFILE = 1024;
const BUDGET = inodeFdBudget(NOFILE);
/** fds vfsd has besides inode fds: stdio, /dev/fuse, epoll, the export root, libuv's, node's */
const OTHERS = 64;

/** Creates (mknod), lists or removes files 0..n-1 of dir; prints one JSON line of what it did. */
const CLIENT = `
import os, sys, json, errno
op, d, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = ['f%06d' % i for i in range(n)]
done, err = 0, None
try:
    if op == 'create':
        for p in names:
            os.mknod(os.path.join(d, p))
            done += 1
    elif op == 'list':
        got = os.listdir(d)
        done = len(got)
        err = None if sorted(got) == names else 'names differ'
    else:
        for p in names:
            os.unlink(os.path.join(d, p))
            done += 1
except OSError as e:
    err = errno.errorcode.get(e.errno, str(e.errno))
print(json.dumps({'done': done, 'err': err}))
`;

interface Run { done: number; err: string | null; maxFds: number }

/** Runs one client op; counts vfsd's open fds every 100 ms meanwhile. */
function client(v: VfsdProcess, op: string, dir: string, n: number): Promise<Run> {
  const fdDir = `/proc/${v.child.pid}/fd`;
  let maxFds = 0;
  const count = () => { try { maxFds = Math.max(maxFds, fs.readdirSync(fdDir).length); } catch { /* exited */ } };
  const timer = setInterval(count, 100);
  return new Promise((resolve, reject) => {
    const p = spawn('python3', ['-c', CLIENT, op, dir, String(n)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let errText = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { errText += d; });
    p.on('exit', (code) => {
      clearInterval(timer);
      count();
      try {
        resolve({ ...(JSON.parse(out) as { done: number; err: string | null }), maxFds });
      } catch {
        reject(new Error(`client ${op} exited ${code}: ${out} ${errText}`));
      }
    });
  });
}

async function withTmpfsExport(t: Test, mode: string): Promise<VfsdProcess> {
  const base = tempBase('vfsd-fd-budget-');
  const share = path.join(base, 'share');
  fs.mkdirSync(share);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,nr_inodes=200k,mode=0755', 'tmpfs', share]);
  t.teardown(() => { unmountTree(share); fs.rmSync(base, { recursive: true, force: true }); });
  fs.mkdirSync(path.join(share, 'many'));
  return startVfsd(t, {
    sharedDir: share, args: [`--inode-file-handles=${mode}`],
    prefix: ['prlimit', `--nofile=${NOFILE}:${NOFILE}`, '--'],
  });
}

const alive = (v: VfsdProcess) => v.exitCode() === null && v.child.signalCode === null;

for (const mode of ['auto', 'prefer', 'mandatory']) {
  t.test(`${N} files in one directory, open-file limit ${NOFILE}, --inode-file-handles ${mode}: all created, listed, removed`, { skip: !root && 'needs root', timeout: 600000 }, async (t) => {
    const v = await withTmpfsExport(t, mode);
    const dir = path.join(v.mnt, 'many');
    if (mode === 'auto') t.match(v.log(), new RegExp(`"inode_fd_budget":${BUDGET}\\b`), `the budget is ${BUDGET} inode fds`);
    const made = await client(v, 'create', dir, N);
    t.same({ done: made.done, err: made.err }, { done: N, err: null }, `all ${N} created`);
    t.ok(made.maxFds <= BUDGET + OTHERS, `vfsd held at most ${made.maxFds} fds while creating (budget ${BUDGET} + ${OTHERS})`);
    t.equal(fs.readdirSync(path.join(v.src, 'many')).length, N, 'all on the host');
    // Forget the kernel's dentries: the listing then looks every name up again (READDIRPLUS).
    fs.writeFileSync('/proc/sys/vm/drop_caches', '2');
    const listed = await client(v, 'list', dir, N);
    t.same({ done: listed.done, err: listed.err }, { done: N, err: null }, `all ${N} listed, with the right names`);
    t.ok(listed.maxFds <= BUDGET + OTHERS, `at most ${listed.maxFds} fds while listing`);
    const gone = await client(v, 'remove', dir, N);
    t.same({ done: gone.done, err: gone.err }, { done: N, err: null }, `all ${N} removed`);
    t.ok(gone.maxFds <= BUDGET + OTHERS, `at most ${gone.maxFds} fds while removing`);
    t.same(fs.readdirSync(path.join(v.src, 'many')), [], 'none left on the host');
    t.ok(alive(v), 'vfsd still running');
    t.equal(await v.stop(), 0, 'clean exit');
  });
}

t.test(`control: --inode-file-handles never runs out at open-file limit ${NOFILE}, cleanly`, { skip: !root && 'needs root', timeout: 300000 }, async (t) => {
  const v = await withTmpfsExport(t, 'never');
  const dir = path.join(v.mnt, 'many');
  const made = await client(v, 'create', dir, N);
  t.ok(made.done > 0 && made.done < NOFILE, `creation stops before ${NOFILE} files (after ${made.done})`);
  t.ok(made.err === 'EMFILE' || made.err === 'ENFILE', `with EMFILE/ENFILE (${made.err})`);
  t.ok(alive(v), 'vfsd still running');
  t.ok(fs.statSync(v.mnt).isDirectory(), 'the mount still answers');
  const gone = await client(v, 'remove', dir, made.done);
  t.same({ done: gone.done, err: gone.err }, { done: made.done, err: null }, 'what was made can be removed');
  t.equal(await v.stop(), 0, 'clean exit');
});
