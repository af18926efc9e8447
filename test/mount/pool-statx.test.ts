// STATX of a slow mount runs on the worker pool (issue 12). The kernel sends STATX instead of
// GETATTR when the caller asks for more than the basic stats: libuv (Node's fs.stat) and
// coreutils' stat ask for btime, so on a real mount most stats are STATX. Through the real
// command on /dev/fuse, on the held source (test/helpers/held-source.ts): vfsd (--cache never)
// first sees two LOOKUPs of `lag*` names take 20 ms each inline, which marks the export's mount
// slow; the source then holds the GETATTR that vfsd's statx of a `held*` file becomes there
// until the test lets it go: vfsd must answer another client's stat meanwhile, and the client
// then gets the file's attributes. Its request is checked to be a STATX (vfsd's counts at exit).
// Control: with --thread-pool-size 0 the statx runs on vfsd's JS thread and the stat is not
// answered while it is held — so the test can fail.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OP } from '../fixtures/stub-engine';
import { statHeldUp } from '../helpers/held-source';
import { heldAct, othersAnsweredWhileHeld, slowVfsd } from '../helpers/slow-vfsd';
import { requestCounts } from '../helpers/vfsd-process';

const root = process.geteuid?.() === 0;

t.test('a STATX held on a slow source does not hold up other clients; the answer is the file\'s', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, v } = await slowVfsd(t, OP.GETATTR, ['--thread-pool-size', '4', '--log-level', 'info']);
  const p = path.join(v.mnt, 'held-statx');
  const held = await heldAct(src, OP.GETATTR, 'STATX (a GETATTR in the source)', () => fs.promises.stat(p));
  const st = (await othersAnsweredWhileHeld(t, src, v.mnt, OP.GETATTR, 'STATX', held)) as fs.Stats;
  t.ok(st.isFile(), 'the client got the file\'s attributes');
  t.equal(await v.stop(), 0, 'clean exit');
  t.ok((requestCounts(v.log()).STATX ?? 0) > 0, 'the client\'s stats reached vfsd as STATX');
});

t.test('control: --thread-pool-size 0 runs the statx inline, so the held one holds up the stat', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, v } = await slowVfsd(t, OP.GETATTR, ['--thread-pool-size', '0']);
  const p = path.join(v.mnt, 'held-statx');
  const held = await heldAct(src, OP.GETATTR, 'STATX (a GETATTR in the source)', () => fs.promises.stat(p));
  await statHeldUp(t, v.mnt, () => src.release(OP.GETATTR, true), 'the statx');
  t.ok(((await held.p) as fs.Stats).isFile(), 'the held STATX completes with the file\'s attributes');
  t.equal(await v.stop(), 0, 'clean exit');
});
