// The worker pool's SETATTR jobs (native/meta_jobs.cc Chmod, Chown, Truncate, Utimens; used by
// setattr-ops.ts on a slow mount) against a real file: they run as the caller they are given, so
// the host decides as it would for that caller natively (chmod and utimes of another's file:
// EPERM; truncate by path without write permission: EACCES; chown by a non-root caller: EPERM),
// and each answer is the one the same act gets natively, run as that caller (runAs). A malformed
// post is EINVAL and queues nothing.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { metaJobs, MetaOp } from '../../src/native/meta-jobs';
import { workerPool } from '../../src/native/worker-pool';
import { C } from '../../src/native/sys';
import { runAs } from '../helpers/compare';

const root = process.geteuid?.() === 0;
const OWNER = 1000;
const NOBODY = 65534;
const EINVAL = 22;

/** Posts one attr job as uid (-1: the daemon) on fd; its status. */
function job(op: number, fd: number, fd2: number, nums: number[], uid: number): Promise<number> {
  const [a = 0, b = 0, c = 0, d = 0] = nums;
  return new Promise((resolve) => {
    const r = metaJobs.metaAttrJob(op, fd, fd2, a, b, c, d, uid, uid < 0 ? 0 : uid, uid < 0 ? null : new Uint32Array(0), (res) => resolve(res));
    if (r !== 1) resolve(r);
  });
}

/** The errno name the same act gets natively as uid (a fresh process), or 'ok'. */
function natively(uid: number, act: string, p: string): string {
  const r = runAs({ uid, gid: uid }, (a: { act: string; p: string }) => {
    const fs = require('node:fs') as typeof import('node:fs');
    try {
      if (a.act === 'chmod') fs.chmodSync(a.p, 0o640);
      if (a.act === 'chown') fs.chownSync(a.p, 1000, 1000);
      if (a.act === 'truncate') fs.truncateSync(a.p, 3);
      if (a.act === 'utimes') fs.utimesSync(a.p, 1000, 2000);
      return 'ok';
    } catch (e) {
      return (e as NodeJS.ErrnoException).code ?? String(e);
    }
  }, { act, p });
  return typeof r === 'string' ? r : JSON.stringify(r);
}

const ERRNO: Record<number, string> = { [-1]: 'EPERM', [-13]: 'EACCES' };
const named = (r: number) => (r === 0 ? 'ok' : ERRNO[r] ?? `errno ${-r}`);

t.test('SETATTR jobs on the pool answer as the host does for their caller', { skip: !root && 'needs root' }, async (t) => {
  // The pool's completions do not keep the event loop alive (vfsd's channel does): this does.
  const alive = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(alive));
  t.equal(workerPool.startWorkerPool(2), 0, 'pool started');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-meta-attr-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o755);
  const procSelf = fs.openSync('/proc/self/fd', 'r');
  t.teardown(() => fs.closeSync(procSelf));

  const ACTS = ['chmod', 'chown', 'truncate', 'utimes'];
  const seen = new Set<string>();
  for (const uid of [OWNER, NOBODY, 0]) {
    for (const act of ACTS) {
      // Twins: the native act on one file, the job on the other; both owned by OWNER, mode 0644.
      const mk = (n: string) => {
        const p = path.join(dir, `${act}-${uid}-${n}`);
        fs.writeFileSync(p, 'hello');
        fs.chownSync(p, OWNER, OWNER);
        fs.chmodSync(p, 0o644);
        return p;
      };
      const nat = mk('native'), ours = mk('job');
      const want = natively(uid, act, nat);
      const fd = fs.openSync(ours, C.O_PATH);
      let r: number;
      if (act === 'chmod') r = await job(MetaOp.Chmod, fd, procSelf, [0o640], uid);
      else if (act === 'chown') r = await job(MetaOp.Chown, fd, -1, [1000, 1000], uid);
      else if (act === 'truncate') r = await job(MetaOp.Truncate, fd, procSelf, [3], uid);
      else r = await job(MetaOp.Utimens, fd, -1, [1000, 0, 2000, 0], uid);
      fs.closeSync(fd);
      t.equal(named(r), want, `${act} as uid ${uid}: ${want}, as natively`);
      seen.add(`${act} ${want}`);
      const view = (p: string) => { const s = fs.statSync(p); return [(s.mode & 0o7777).toString(8), s.uid, s.gid, s.size]; };
      t.same(view(ours), view(nat), `${act} as uid ${uid}: the file is left as natively`);
      if (act === 'utimes') t.equal(fs.statSync(ours).mtimeMs === 2000 * 1000, want === 'ok', `utimes as uid ${uid}: mtime ${want === 'ok' ? '' : 'not '}set`);
    }
  }
  // Both answers of each rule were exercised.
  for (const s of ['chmod ok', 'chmod EPERM', 'truncate ok', 'truncate EACCES', 'chown ok', 'chown EPERM', 'utimes ok', 'utimes EPERM']) t.ok(seen.has(s), `seen: ${s}`);

  // Truncate of an open file (fd2 -1): ftruncate, allowed by how the file was opened.
  const p = path.join(dir, 'open');
  fs.writeFileSync(p, 'hello world');
  const w = fs.openSync(p, 'r+');
  t.equal(await job(MetaOp.Truncate, w, -1, [4], NOBODY), 0, 'ftruncate of a file opened for writing, as anyone: 0');
  fs.closeSync(w);
  t.equal(fs.readFileSync(p, 'utf8'), 'hell', 'truncated');

  t.equal(await job(MetaOp.Chmod, procSelf, -1, [0o600], 0), -EINVAL, 'Chmod without /proc/self/fd: EINVAL');
  t.equal(await job(MetaOp.Create, procSelf, -1, [0], 0), -EINVAL, 'a non-attr op: EINVAL');
});
