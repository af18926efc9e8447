// Open flags the client sends that vfsd adjusts as virtiofsd does: O_NOATIME is stripped unless
// --preserve-noatime (then a read through the mount leaves the host file's atime alone, as a
// native O_NOATIME read does). The native directory is the control: there, a plain read does
// move the atime (so the test can fail) and an O_NOATIME read does not.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startVfsd } from '../helpers/vfsd-process';
import { C, sys } from '../../src/native/sys';

const root = process.geteuid?.() === 0;
const OLD = 1000000000; // 2001: older than the mtime, so relatime updates it on any read

/** Sets f's atime and mtime to OLD, reads it opened with flags, returns its atime (seconds). */
function readWith(f: string, hostPath: string, flags: number): number {
  fs.utimesSync(hostPath, OLD, OLD);
  const fd = sys.openat(-100, f, C.O_RDONLY | flags, 0);
  if (fd < 0) throw new Error(`open ${f}: errno ${-fd}`);
  const n = sys.pread(fd, Buffer.alloc(16), 16, 0);
  sys.close(fd);
  if (n !== 4) throw new Error(`read ${f}: ${n}`);
  return Math.floor(fs.statSync(hostPath).atimeMs / 1000);
}

const prepare = (src: string) => {
  fs.writeFileSync(path.join(src, 'f'), 'data');
  fs.mkdirSync(path.join(src, 'native'));
  fs.writeFileSync(path.join(src, 'native', 'f'), 'data');
};

t.test('O_NOATIME through the mount', { skip: !root && 'needs root' }, async (t) => {
  // cache=never: every read reaches vfsd (no page cache, no FUSE passthrough).
  const keep = await startVfsd(t, { args: ['--cache', 'never', '--preserve-noatime'], prepare });
  const nat = path.join(keep.src, 'native', 'f');
  t.not(readWith(nat, nat, 0), OLD, 'control: natively a plain read updates the atime');
  t.equal(readWith(nat, nat, C.O_NOATIME), OLD, 'control: natively an O_NOATIME read does not');

  t.equal(readWith(path.join(keep.mnt, 'f'), path.join(keep.src, 'f'), C.O_NOATIME), OLD,
    '--preserve-noatime: the host file keeps its atime');
  t.not(readWith(path.join(keep.mnt, 'f'), path.join(keep.src, 'f'), 0), OLD, 'and a plain read still updates it');
  await keep.stop();

  const strip = await startVfsd(t, { args: ['--cache', 'never'], prepare });
  t.not(readWith(path.join(strip.mnt, 'f'), path.join(strip.src, 'f'), C.O_NOATIME), OLD,
    'default: O_NOATIME is stripped (as virtiofsd does), the host atime moves');
});
