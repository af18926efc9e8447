// Out of fds after the soft RLIMIT_NOFILE was lowered under a running server (prlimit by an
// operator or a VM manager): EMFILE means no free fd number below the new limit, so shedding
// inode fds (PassthroughFs.shedForShortage) helps only if it closes fds numbered below it. The
// least recently used inode fds may well be numbered above it (opened when the limit was
// higher); closing those frees numbers no open can take, and the retry fails again.
// In-process (test/helpers/pool-server.ts), budget 64: the first 30 inodes get fds numbered above
// a block of /dev/null fds, the next 30 the numbers the block gave back, below; the limit is then
// lowered to the first group's lowest fd and the free numbers below it filled. A LOOKUP of a new
// name must still be answered, as it is natively with a free fd.
// Can fail: without the `below` filter the shed closes the first group's fds (the clock's oldest)
// and the LOOKUP answers EMFILE.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { C, sys } from '../../src/native/sys';
import * as P from '../../src/protocol';
import { poolExport, poolServer } from '../helpers/pool-server';
import { fillFds } from '../helpers/fd-table';
import { name, req } from '../helpers/fuse-requests';

const root = process.geteuid?.() === 0;
const ROOT = 1;
const BUDGET = 64;
const HALF = 30;

t.test('out of fds under a lowered limit: the shed closes fds numbered below it', { skip: !root && 'needs root (file handles)', timeout: 60000 }, async (t) => {
  const dir = poolExport(t, 'vfsd-it-fds-lowered-');
  for (let i = 0; i < 2 * HALF; i++) fs.writeFileSync(path.join(dir, `g${i}`), `${i}`);
  fs.writeFileSync(path.join(dir, 'new'), 'new');
  const srv = poolServer(t, dir, { inodeFdBudget: BUDGET });
  const fdOf = async (i: number): Promise<number> => {
    const e = await srv.later(null, req(P.Op.LOOKUP, ROOT, name(`g${i}`)), `LOOKUP g${i}`);
    if (e.errno !== 0) throw new Error(`LOOKUP g${i}: errno ${e.errno}`);
    return srv.pfs.inode(Number(e.data.readBigUInt64LE(0)))?.fd ?? -1;
  };

  const block: number[] = [];
  for (let i = 0; i < 2 * HALF; i++) block.push(fs.openSync('/dev/null', 'r'));
  const high: number[] = [];
  for (let i = 0; i < HALF; i++) high.push(await fdOf(i));
  for (const fd of block) fs.closeSync(fd);
  const low: number[] = [];
  for (let i = HALF; i < 2 * HALF; i++) low.push(await fdOf(i));
  t.ok(Math.max(...low) < Math.min(...high), `the older inodes' fds (${Math.min(...high)}..) are numbered above the newer ones' (..${Math.max(...low)})`);

  const limits = sys.getrlimit(C.RLIMIT_NOFILE);
  if (typeof limits === 'number') throw new Error(`getrlimit: ${limits}`);
  const filler: number[] = [];
  t.teardown(() => {
    for (const fd of filler) fs.closeSync(fd);
    sys.setrlimit(C.RLIMIT_NOFILE, limits[0], limits[1]);
  });
  t.equal(sys.setrlimit(C.RLIMIT_NOFILE, Math.min(...high), limits[1]), 0, 'soft limit lowered under the older inodes\' fds');
  filler.push(...fillFds());

  const l = await srv.later(t, req(P.Op.LOOKUP, ROOT, name('new')), 'LOOKUP new');
  t.equal(l.errno, 0, 'LOOKUP of a new name with no fd number free below the limit: answered');
  if (l.errno === 0) t.equal(Number(l.data.readBigUInt64LE(P.Size.ENTRY_OUT - P.Size.ATTR)), fs.statSync(path.join(dir, 'new')).ino, '...with new\'s inode');
});
