// An export and its native twin, side by side on one scratch tmpfs: tests that compare an act
// through the mount with the same act natively need both on the same kind of filesystem (tmpfs:
// POSIX ACLs, file handles), and, when the act depends on mount flags, the same flags as the vfsd
// mount (nosuid,nodev).
//
//   const scratch = scratchTmpfs(t, 'vfsd-perm-', C.MS_NOSUID | C.MS_NODEV);
//   const { src, native } = twins(scratch, 'case 1', ['root', 'owner'], seed);
import * as fs from 'node:fs';
import * as path from 'node:path';
import { C, sys } from '../../src/native/sys';
import { tempBase } from './vfsd-process';

interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

/** A fresh tmpfs (mode 0755) with these mount flags; unmounted and removed at teardown. */
export function scratchTmpfs(t: Teardown, prefix: string, flags = 0): string {
  const base = tempBase(prefix);
  t.teardown(() => {
    sys.umount2(base, C.MNT_DETACH);
    fs.rmSync(base, { recursive: true, force: true });
  });
  const r = sys.mount('tmpfs', base, 'tmpfs', flags, 'mode=0755');
  if (r < 0) throw new Error(`mount tmpfs on ${base}: errno ${-r}`);
  return base;
}

/** <scratch>/<name>/{src,native}, each holding seed(<dir>/<sub>) for every sub. */
export function twins(scratch: string, name: string, subs: string[], seed: (dir: string) => void): { src: string; native: string } {
  const top = path.join(scratch, name.replace(/[^a-z0-9]+/gi, '_'));
  const src = path.join(top, 'src');
  const native = path.join(top, 'native');
  for (const d of [top, src, native]) {
    fs.mkdirSync(d);
    fs.chmodSync(d, 0o755);
  }
  for (const sub of subs) {
    seed(path.join(src, sub));
    seed(path.join(native, sub));
  }
  return { src, native };
}
