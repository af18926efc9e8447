// A shared mapping written through, as a client program does it (python's mmap: a real
// mmap(MAP_SHARED) + msync in another process), for the tests of which files may be mapped.
import { execFileSync } from 'node:child_process';

/** Maps the first 4 bytes of `file` MAP_SHARED, writes `data` (at most 4 bytes) at offset 0 and
 *  flushes: 'ok', or 'errno N' when the mapping is refused (ENODEV: 19). */
export function mmapSharedWrite(file: string, data: string): string {
  return execFileSync('python3', ['-c', `
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    m = mmap.mmap(fd, 4, mmap.MAP_SHARED)
except OSError as e:
    print('errno', e.errno); sys.exit(0)
b = sys.argv[2].encode()
m[0:len(b)] = b; m.flush(); m.close(); print('ok')`, file, data], { encoding: 'utf8' }).trim();
}
