// A fresh server's first listing (issue 11, item 8: once, right after `npm start`, `ls -la` of the
// mount showed only . and .. while the export held hello.txt). Repeated fresh starts, each listed
// the moment the mount appears, in each cache mode: `ls -la` (glibc's readdir, which hides
// entries whose d_ino is 0) and raw getdents64 must both show every name, with non-zero inode
// numbers equal to what stat says, and a second listing must agree.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startVfsd } from '../helpers/vfsd-process';
import { getdents } from '../helpers/compare';

const root = process.geteuid?.() === 0;
const ROUNDS = 6;
const NAMES = ['hello.txt', 'a', 'b.txt', 'dir', 'link'];

function prepare(src: string): void {
  fs.writeFileSync(path.join(src, 'hello.txt'), 'Hello from vfsd\n');
  fs.writeFileSync(path.join(src, 'a'), 'a');
  fs.writeFileSync(path.join(src, 'b.txt'), 'b');
  fs.mkdirSync(path.join(src, 'dir'));
  fs.symlinkSync('hello.txt', path.join(src, 'link'));
}

t.test('the first listing of a fresh server shows the whole export', { skip: !root && 'needs root' }, async (t) => {
  for (const cache of ['auto', 'always', 'never']) {
    for (let i = 0; i < ROUNDS; i++) {
      const v = await startVfsd(t, { prepare, args: ['--cache', cache] });
      // At once, as a user typing `ls -la` after the mount message would.
      const ls = spawnSync('ls', ['-1a', v.mnt], { encoding: 'utf8' });
      const listed = ls.stdout.split('\n').filter(Boolean).sort();
      const raw = getdents(v.mnt);
      const again = getdents(v.mnt);
      const ok = ls.status === 0 && listed.join() === ['.', '..', ...NAMES].sort().join() &&
        NAMES.every((n) => raw.has(n) && raw.get(n) !== 0n && raw.get(n) === fs.lstatSync(path.join(v.mnt, n), { bigint: true }).ino) &&
        [...again].join() === [...raw].join();
      if (!ok) {
        await v.stop();
        t.fail(`cache=${cache} round ${i}: ls ${JSON.stringify(listed)} (${ls.status} ${ls.stderr}), getdents ${JSON.stringify([...raw].map(([k, n]) => `${k}:${n}`))}, again ${again.size}\n${v.log()}`);
        return;
      }
      await v.stop();
    }
    t.pass(`cache=${cache}: ${ROUNDS} fresh starts, every first listing complete`);
  }
});
