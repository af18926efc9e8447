// On a slow mount, an inode whose fd the budget took back is opened again from its file handle
// on the worker pool (issue 12), not on vfsd's JS thread: open_by_handle_at reads the inode from
// the disk, or asks the server, once the host's cache let it go. Through the real command on
// /dev/fuse, on the held source (test/helpers/held-source.ts, which offers EXPORT_SUPPORT):
//  - vfsd runs with an open-file limit of 300 (prlimit, and --rlimit-nofile 0 to keep it), so it
//    keeps at most 44 inode fds (inode-fd-ring.ts inodeFdBudget); two `lag*` LOOKUPs mark the
//    export's mount slow;
//  - the test opens `held-h` O_PATH (its fd keeps vfsd's inode looked up, and sends no OPEN);
//  - 100 other files are looked up: the budget takes back held-h's inode fd;
//  - the host drops its dentry and inode caches, so the source's kernel forgets held-h, and
//    opening its handle becomes a LOOKUP of "." in it, which the source holds;
//  - fstat of the O_PATH fd (a GETATTR): vfsd must open the handle on the pool, answer other
//    clients meanwhile, and then give held-h's attributes (the same inode number).
// A regular file, not a directory: a directory's handle is reconnected to its parent (LOOKUP of
// "..", then a READDIR to find its name), which the held source does not serve.
// Control: with --thread-pool-size 0 the open runs on vfsd's JS thread, and a stat of the root
// is not answered while it is held — so the test can fail.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LIST_NAMES, mountHeldSource, statHeldUp, type HeldSource } from '../helpers/held-source';
import { heldAct, makeSlow, othersAnsweredWhileHeld } from '../helpers/slow-vfsd';
import { startVfsd, type VfsdProcess } from '../helpers/vfsd-process';
import { OP } from '../fixtures/stub-engine';

const root = process.geteuid?.() === 0;
const BUDGET = 44; // inodeFdBudget(300): 300 less the 256 kept for what is not an inode
const O_PATH = 0o10000000; // Linux (x86-64, arm64); node's fs.constants leaves it out

/** vfsd on the held source with a budget of BUDGET inode fds and its mount marked slow; held-h
 *  opened O_PATH (async: this thread serves the source), its vfsd inode's fd then taken back by
 *  the budget and its host inode forgotten by the source's kernel; LOOKUP held from then on. */
async function evictedFile(t: Test, args: string[]): Promise<{ src: HeldSource; v: VfsdProcess; file: fs.promises.FileHandle; ino: number }> {
  const src = mountHeldSource(t, []);
  const v = await startVfsd(t, { sharedDir: src.dir, args: ['--cache', 'never', '--rlimit-nofile', '0', '--log-level', 'info', ...args],
    prefix: ['prlimit', '--nofile=300:300', '--'] });
  await makeSlow(v.mnt, 1);
  const file = await fs.promises.open(path.join(v.mnt, 'held-h'), O_PATH);
  t.teardown(() => file.close());
  const { ino } = await file.stat();
  // More inodes than the budget: held-h's fd, the least recently used, is taken back.
  for (const name of LIST_NAMES.slice(0, 100)) await fs.promises.stat(path.join(v.mnt, 'list', name));
  // Slow again: those 100 LOOKUPs ran on the pool, and FAST_RUNS (64) of them in a row under
  // FAST_US (as the in-process source answers on a quiet machine) rightly bring the mount back
  // inline, where the held open would then run (seen in a CI run).
  await makeSlow(v.mnt, 3);
  await fs.promises.writeFile('/proc/sys/vm/drop_caches', '2');
  src.hold(OP.LOOKUP);
  return { src, v, file, ino };
}

t.test('an inode reopened from its handle on a slow source does not hold up other clients', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, v, file, ino } = await evictedFile(t, ['--thread-pool-size', '4']);
  t.match(v.log(), new RegExp(`inode_fd_budget.{0,4}${BUDGET}\\b`), `vfsd keeps at most ${BUDGET} inode fds`);
  const held = await heldAct(src, OP.LOOKUP, 'open of the handle (a LOOKUP of "." in the source)', () => file.stat());
  const again = await othersAnsweredWhileHeld(t, src, v.mnt, OP.LOOKUP, 'open of the handle', held);
  t.equal(again.ino, ino, 'fstat got held-h\'s attributes: the same inode');
  await file.close();
  t.equal(await v.stop(), 0, 'clean exit');
});

t.test('control: --thread-pool-size 0 opens the handle inline, so the held open holds up a stat', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, v, file, ino } = await evictedFile(t, ['--thread-pool-size', '0']);
  const held = await heldAct(src, OP.LOOKUP, 'open of the handle (a LOOKUP of "." in the source)', () => file.stat());
  await statHeldUp(t, v.mnt, () => src.release(OP.LOOKUP, true), 'open_by_handle_at');
  t.equal((await held.p).ino, ino, 'then fstat gets held-h\'s attributes');
  await file.close();
  t.equal(await v.stop(), 0, 'clean exit');
});
