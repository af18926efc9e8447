// FUSE passthrough keeps an inode's backing id registered after its last open handle closed, for
// the next open (io-modes.ts keptIds). What that must not change, on a real /dev/fuse mount:
//  - A kept id was registered by an earlier opener, whose credentials the kernel's passthrough
//    writes run with. Root writes a plain file (the id is registered with CAP_FSETID) and closes
//    it; the owner sets setuid on the host; another user appends. The host clears the setuid bit: so must we
//    (the kept id is given up, since the file's setuid state changed: the writable open of a
//    setuid file then does its I/O through the server, as the writer). Reusing the kept id
//    blindly keeps the bit: the write runs as root.
//  - A kept id holds the file open in the kernel: an unlinked file's blocks must come back once
//    the kernel forgets the inode, as natively once the last close is done.
// Both compared with the same acts on a native twin directory.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { C } from '../../src/native/sys';
import { startVfsd } from '../helpers/vfsd-process';
import { scratchTmpfs, twins } from '../helpers/native-twins';
import { runAs } from '../helpers/compare';
import { waitUntil } from '../helpers/wait';

const root = process.geteuid?.() === 0;
const OWNER = { uid: 1000, gid: 1000 };
const OTHER = { uid: 65534, gid: 65534 };

function seed(dir: string): void {
  fs.mkdirSync(dir, 0o755);
  fs.writeFileSync(path.join(dir, 'f'), 'x');
  fs.chownSync(path.join(dir, 'f'), OWNER.uid, OWNER.gid);
  fs.chmodSync(path.join(dir, 'f'), 0o777);
}

t.test('a kept backing id changes neither setuid clearing nor when an unlinked file\'s space returns', { skip: !root && 'needs root' }, async (t) => {
  const scratch = scratchTmpfs(t, 'vfsd-kept-backing-', C.MS_NOSUID | C.MS_NODEV);
  const { src, native } = twins(scratch, 'kept', ['t'], seed);
  const v = await startVfsd(t, { sharedDir: src, args: ['--allow-other'] });
  const trees = { native: path.join(native, 't'), mount: path.join(v.mnt, 't') };

  // The bit is set on the host, so the kernel's cached mode of the mount's inode lacks it and
  // the kernel clears nothing itself: what clears it is the writer's own write on the host.
  const onHost = { native: trees.native, mount: path.join(src, 't') };
  for (const [where, dir] of Object.entries(trees)) {
    const f = path.join(dir, 'f');
    fs.appendFileSync(f, 'r'); // root's open+write+close: the id registered by root, then kept
    const hostF = path.join(onHost[where as keyof typeof onHost], 'f');
    t.same(runAs(OWNER, (p: string) => require('node:fs').chmodSync(p, 0o4777), hostF), null, `${where}: the owner sets setuid on the host`);
    t.same(runAs(OTHER, (p: string) => require('node:fs').appendFileSync(p, 'w'), f), null, `${where}: another user appends`);
  }
  const modeOf = (p: string) => (fs.statSync(p).mode & 0o7777).toString(8);
  t.equal(modeOf(path.join(src, 't', 'f')), modeOf(path.join(trees.native, 'f')), 'the export\'s mode is the native twin\'s (setuid cleared by the write)');
  t.equal(fs.readFileSync(path.join(src, 't', 'f'), 'utf8'), 'xrw', 'both writes reached the host');

  // 32 MiB written and read back through the mount (two opens: the second takes the kept id),
  // then unlinked: the tmpfs's free blocks come back, as they do natively.
  const free = () => fs.statfsSync(scratch).bfree;
  const big = Buffer.alloc(32 << 20, 0x5a);
  const before = free();
  fs.writeFileSync(path.join(trees.native, 'big'), big);
  fs.unlinkSync(path.join(trees.native, 'big'));
  t.equal(free(), before, 'natively the space is back at the unlink');
  fs.writeFileSync(path.join(trees.mount, 'big'), big);
  t.ok(fs.readFileSync(path.join(trees.mount, 'big')).equals(big), 'the file reads back through the mount');
  t.ok(free() < before - (16 << 20) / fs.statfsSync(scratch).bsize, 'the file takes its space');
  fs.unlinkSync(path.join(trees.mount, 'big'));
  // After the kernel's FORGET of the inode, which it sends once the unlinked inode is evicted.
  await waitUntil(() => free() === before, 10000);
  t.equal(free(), before, 'through vfsd the space comes back too');
  await v.stop();
});
