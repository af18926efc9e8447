// Out of fds on a slow mount (issue 12): a pooled open that fails EMFILE sheds older inode fds
// and tries once more, as an inline open does (PassthroughFs.retryShort), so the guest does not
// get EMFILE where the same request inline succeeds. The three pooled opens: LOOKUP's openat,
// the open of an evicted inode from its file handle (here before a GETATTR), and OPEN's reopen.
// In-process (test/helpers/pool-server.ts: the mount served on the pool), with a budget of 64
// inode fds; this process's fd table is then filled with /dev/null up to a lowered soft limit,
// so that the next fd anything opens fails EMFILE. (The
// vfsd command's fd numbers cannot be filled from outside: test/mount/faults-resources checks the
// inline retry with the limit lowered under it.)
// Can fail: without the retry each of the three answers EMFILE.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { C, sys } from '../../src/native/sys';
import * as P from '../../src/protocol';
import { poolExport, poolServer } from '../helpers/pool-server';
import { fillFds } from '../helpers/fd-table';
import { getattrIn, name, openIn, req } from '../helpers/fuse-requests';

const root = process.geteuid?.() === 0;
const ROOT = 1;
// Each shed closes 16 fds and lowers the budget to what is left, never below 16: three sheds
// need 64.
const BUDGET = 64;
const FILES = 80;

t.test('out of fds: pooled opens shed older inode fds and try again', { skip: !root && 'needs root (file handles)', timeout: 60000 }, async (t) => {
  const dir = poolExport(t, 'vfsd-it-pool-fds-');
  for (let i = 0; i <= FILES; i++) fs.writeFileSync(path.join(dir, `f${i}`), `${i}`);
  const srv = poolServer(t, dir, { inodeFdBudget: BUDGET });

  // More inodes than the budget: f0's fd, the least recently used, is taken back.
  const nodeids: bigint[] = [];
  for (let i = 0; i < FILES; i++) {
    const e = await srv.later(null, req(P.Op.LOOKUP, ROOT, name(`f${i}`)), `LOOKUP f${i}`);
    if (e.errno !== 0) throw new Error(`LOOKUP f${i}: errno ${e.errno}`);
    nodeids.push(e.data.readBigUInt64LE(0));
  }

  const limits = sys.getrlimit(C.RLIMIT_NOFILE);
  if (typeof limits === 'number') throw new Error(`getrlimit: ${limits}`);
  const open = fs.readdirSync('/proc/self/fd').map(Number);
  t.equal(sys.setrlimit(C.RLIMIT_NOFILE, Math.max(...open) + 32, limits[1]), 0, 'soft limit lowered');
  const filler: number[] = [];
  t.teardown(() => {
    for (const fd of filler) fs.closeSync(fd);
    sys.setrlimit(C.RLIMIT_NOFILE, limits[0], limits[1]);
  });

  filler.push(...fillFds());
  const a = await srv.later(t, req(P.Op.GETATTR, nodeids[0], getattrIn()), 'GETATTR f0 (opened from its handle)');
  t.equal(a.errno, 0, 'GETATTR of the evicted f0 with the fd table full: answered');
  if (a.errno === 0) t.equal(Number(a.data.readBigUInt64LE(16)), fs.statSync(path.join(dir, 'f0')).ino, 'with f0\'s attributes');

  filler.push(...fillFds());
  const l = await srv.later(t, req(P.Op.LOOKUP, ROOT, name(`f${FILES}`)), `LOOKUP f${FILES}`);
  t.equal(l.errno, 0, 'LOOKUP of a new name with the fd table full: answered');

  filler.push(...fillFds());
  const o = await srv.later(t, req(P.Op.OPEN, nodeids[FILES - 1], openIn(C.O_RDONLY)), `OPEN f${FILES - 1}`);
  t.equal(o.errno, 0, 'OPEN with the fd table full: answered');
});
