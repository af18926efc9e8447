// GETXATTR, LISTXATTR, SETXATTR and REMOVEXATTR of a slow mount on the worker pool (issue 12),
// through the real command on /dev/fuse with --xattr. The export is the held source
// (test/helpers/held-source.ts), a FUSE stub served by this process, which has no xattrs and
// takes every change: vfsd (with --cache never) first sees two LOOKUPs of `lag*` names take
// 20 ms each inline, which marks the export's mount slow (src/passthrough/off-loop.ts). The
// source then holds the xattr request a client's call makes on a `held*` file until the test
// lets it go: vfsd must still answer another client's stat meanwhile, and the client then gets
// the source's answer. The client calls run in python3 (Node has no xattr calls), in a child
// process, so this one stays free to release the held request.
// Control: with --thread-pool-size 0 the call runs on vfsd's JS thread and the stat is not
// answered while it is held — so the test can fail.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { OP } from '../fixtures/stub-engine';
import { statHeldUp } from '../helpers/held-source';
import { heldAct, othersAnsweredWhileHeld, slowVfsd } from '../helpers/slow-vfsd';

const root = process.geteuid?.() === 0;
const run = promisify(execFile);

/** Runs one os.*xattr call on p in python3; what it printed: 'ok', the list, or the errno. */
async function py(call: string, p: string): Promise<string> {
  const script = `import os, sys\np = sys.argv[1]\ntry:\n    r = ${call}\n    print('ok' if r is None else r)\nexcept OSError as e:\n    print('errno', e.errno)`;
  return (await run('python3', ['-c', script, p])).stdout.trim();
}

const CALLS: Array<{ op: number; what: string; call: string; want: string }> = [
  { op: OP.GETXATTR, what: 'GETXATTR', call: "os.getxattr(p, 'user.x')", want: 'errno 61' }, // ENODATA, the source's
  { op: OP.LISTXATTR, what: 'LISTXATTR', call: 'os.listxattr(p)', want: '[]' },
  { op: OP.SETXATTR, what: 'SETXATTR', call: "os.setxattr(p, 'user.x', b'value')", want: 'ok' },
  { op: OP.REMOVEXATTR, what: 'REMOVEXATTR', call: "os.removexattr(p, 'user.x')", want: 'ok' },
];

for (const c of CALLS) {
  t.test(`a ${c.what} held on a slow source does not hold up other clients; the answer is the source's`, { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
    const { src, v } = await slowVfsd(t, c.op, ['--xattr', '--thread-pool-size', '4']);
    const p = path.join(v.mnt, 'held-xattr');
    t.ok((await fs.promises.stat(p)).isFile(), 'the file is there');
    const held = await heldAct(src, c.op, c.what, () => py(c.call, p));
    t.equal(await othersAnsweredWhileHeld(t, src, v.mnt, c.op, c.what, held), c.want, `the client got ${c.want}`);
    t.equal(await v.stop(), 0, 'clean exit');
  });
}

t.test('control: --thread-pool-size 0 runs the GETXATTR inline, so the held one holds up the stat', { skip: !root && 'needs root', timeout: 90000 }, async (t) => {
  const { src, v } = await slowVfsd(t, OP.GETXATTR, ['--xattr', '--thread-pool-size', '0']);
  const p = path.join(v.mnt, 'held-xattr');
  await fs.promises.stat(p);
  const held = await heldAct(src, OP.GETXATTR, 'GETXATTR', () => py("os.getxattr(p, 'user.x')", p));
  await statHeldUp(t, v.mnt, () => src.release(OP.GETXATTR, true), 'the getxattr');
  t.equal(await held.p, 'errno 61', 'the held GETXATTR completes with the source\'s answer');
  t.equal(await v.stop(), 0, 'clean exit');
});
