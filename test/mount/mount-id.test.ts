// Inodes are keyed by (mount id, st_dev, st_ino), not just (st_dev, st_ino). Inside the export:
// a tmpfs at A, the same tmpfs bind-mounted again at B, and another tmpfs mounted on A/sub only.
// A and B are the same directory of the same filesystem (same dev and ino), but A/sub is the
// inner tmpfs while B/sub is the outer tmpfs's own directory. A server keyed by (dev, ino) alone
// would merge A and B into one node and show one of them wrongly. Through vfsd, every path must
// show exactly what the host shows there, whichever of A or B the client visits first, with each
// --inode-file-handles mode.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startVfsd, tempBase, unmountTree } from '../helpers/vfsd-process';
import { treeOf } from '../helpers/compare';

const root = process.geteuid?.() === 0;

function mount(...args: string[]): void {
  execFileSync('mount', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

t.test('mount-id keying: bind mounts and a mount inside only one of them', { skip: !root && 'needs root' }, async (t) => {
  const base = tempBase('vfsd-it-mntid-');
  const src = path.join(base, 'src');
  t.teardown(() => {
    unmountTree(base);
    fs.rmSync(base, { recursive: true, force: true });
  });
  const A = path.join(src, 'A');
  const B = path.join(src, 'B');
  fs.mkdirSync(A, { recursive: true });
  fs.mkdirSync(B);
  fs.writeFileSync(path.join(src, 'plain'), 'on the export fs');
  mount('-t', 'tmpfs', '-o', 'size=8m', 'outer', A);
  // Private, so the mount on A/sub below does not propagate to the bind at B.
  mount('--make-private', A);
  fs.writeFileSync(path.join(A, 'top'), 'outer tmpfs file');
  fs.mkdirSync(path.join(A, 'sub'));
  fs.writeFileSync(path.join(A, 'sub', 'under'), 'outer tmpfs, under the inner mount');
  mount('--bind', A, B);
  mount('--make-private', B);
  mount('-t', 'tmpfs', '-o', 'size=8m', 'inner', path.join(A, 'sub'));
  fs.writeFileSync(path.join(A, 'sub', 'inner'), 'inner tmpfs file');
  fs.mkdirSync(path.join(A, 'sub', 'deeper'));
  fs.writeFileSync(path.join(A, 'sub', 'deeper', 'x'), 'deep in the inner tmpfs');

  // The host's view is what we expect (if this fails, the setup is wrong, not vfsd).
  t.same(fs.readdirSync(path.join(A, 'sub')).sort(), ['deeper', 'inner'], 'host: A/sub is the inner tmpfs');
  t.same(fs.readdirSync(path.join(B, 'sub')), ['under'], 'host: B/sub is the outer tmpfs\'s own directory');
  t.equal(fs.statSync(A).ino, fs.statSync(B).ino, 'host: A and B have the same inode number...');
  t.equal(fs.statSync(A).dev, fs.statSync(B).dev, '... and the same device');
  const hostA = treeOf(A);
  const hostB = treeOf(B);

  for (const handles of ['never', 'prefer', 'mandatory']) {
    for (const order of [['A', 'B'], ['B', 'A']]) {
      t.test(`--inode-file-handles=${handles}, visiting ${order.join(' then ')}`, async (t) => {
        const v = await startVfsd(t, { sharedDir: src, args: [`--inode-file-handles=${handles}`] });
        for (const which of order) {
          const got = treeOf(path.join(v.mnt, which));
          t.same(got, which === 'A' ? hostA : hostB, `${which}: every name and content as on the host`);
        }
        // Again, now that both are known to the server (and cached by the client).
        t.same(fs.readdirSync(path.join(v.mnt, 'A', 'sub')).sort(), ['deeper', 'inner'], 'A/sub is still the inner tmpfs');
        t.same(fs.readdirSync(path.join(v.mnt, 'B', 'sub')), ['under'], 'B/sub is still the outer directory');
        t.equal(fs.readFileSync(path.join(v.mnt, 'B', 'sub', 'under'), 'utf8'), 'outer tmpfs, under the inner mount', 'the file hidden under A/sub is reachable via B/sub, as on the host');
        t.equal(fs.readFileSync(path.join(v.mnt, 'plain'), 'utf8'), 'on the export fs', 'the export\'s own files are fine');
        // A new file through A/sub lands in the inner tmpfs only.
        fs.writeFileSync(path.join(v.mnt, 'A', 'sub', `new-${handles}-${order[0]}`), 'made through vfsd');
        t.ok(fs.existsSync(path.join(A, 'sub', `new-${handles}-${order[0]}`)), 'a file made via A/sub is in the inner tmpfs on the host');
        t.notOk(fs.existsSync(path.join(v.mnt, 'B', 'sub', `new-${handles}-${order[0]}`)), 'and not in B/sub');
        fs.unlinkSync(path.join(A, 'sub', `new-${handles}-${order[0]}`));
        t.equal(await v.stop(), 0, 'vfsd stops cleanly with the submounts busy');
      });
    }
  }
});
