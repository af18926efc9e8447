// Whether a directory the client looked up is still inside the export. The host may move such a
// directory out of the export (rename(2) from outside, by any process of the host); its node then
// names a directory outside, and every name relative to it — its files, "..", new files — would
// be outside too. PassthroughFs.withFdInExport asks this before any name is resolved in a
// directory other than the root, and answers ENOENT for one found outside.
//
// The check is the kernel's own name of the fd (its /proc/self/fd link) compared with the export
// root's. It is one readlinkat per request, and as racy as any check of the host's tree: a
// rename right after it is seen by the next request, not this one.
import { C, sys } from '../native/sys';
import { Errno } from '../protocol/errno';
import { HostStat, statFd } from './host-stat';
import { procName, procSelfFd } from './proc-fd';

const PAGE = 4096;

export class ExportContainment {
  private rootPath: Buffer | null = null;
  private readonly pathScratch = Buffer.alloc(PAGE);
  private readonly rootScratch = Buffer.alloc(PAGE);

  /** rootFd: the export root's O_PATH fd (owned by the inode store), rootStat: its statx. */
  constructor(private readonly rootFd: number, private readonly rootStat: HostStat) {}

  /** Whether the fd's path (as the kernel gives it in /proc/self/fd) is below the export root's.
   *  One readlink; the root's own path is re-read when it does not match, in case the host
   *  renamed the export itself. The kernel renders that path into one page: a path of 4096 bytes
   *  or more cannot be read (ENAMETOOLONG), and then a directory's ancestors are (insideDeep).
   *  A non-directory (LINK's source) has no ".." to climb and no other way to its parent: one
   *  that deep is taken as inside — what remains unchecked is a file the host itself moved out
   *  of the export to a place just as deep, which the client may then link back. */
  holds(fd: number, dir: boolean): boolean {
    const n = this.pathOf(fd);
    if (n === -Errno.ENAMETOOLONG || n >= PAGE) return !dir || this.insideDeep(fd);
    return n > 0 && this.pathBelowRoot(this.pathScratch.subarray(0, n));
  }

  private pathOf(fd: number): number {
    return sys.readlinkat(procSelfFd(), procName(fd), this.pathScratch);
  }

  private pathBelowRoot(p: Buffer): boolean {
    if (this.rootPath && isBelow(p, this.rootPath)) return true;
    const r = sys.readlinkat(procSelfFd(), procName(this.rootFd), this.rootScratch);
    if (r <= 0 || r >= PAGE) return false;
    this.rootPath = Buffer.from(this.rootScratch.subarray(0, r));
    return isBelow(p, this.rootPath);
  }

  /**
   * holds() for a directory too deep for readlink: climbs through ".." (which the kernel
   * resolves as a path walk would, across mount points upwards, never above the process's root)
   * until it meets the export root itself, by (mount id, dev, ino) — pinned by our fd, so it
   * cannot be another directory — or an ancestor whose path is short enough to read and compare.
   * Every step up shortens the path, so the climb ends; a directory moved out of the export meets
   * neither the root nor a path below it: outside.
   */
  private insideDeep(fd: number): boolean {
    const root = this.rootStat;
    let cur = fd;
    try {
      for (let steps = 0; steps < PAGE; steps++) {
        const up = sys.openat(cur, '..', C.O_PATH | C.O_DIRECTORY | C.O_CLOEXEC, 0);
        if (cur !== fd) sys.close(cur);
        cur = up;
        if (up < 0) return false;
        const st = statFd(up);
        if (typeof st === 'number') return false;
        if (st.mntId === root.mntId && st.inoLo === root.inoLo && st.inoHi === root.inoHi &&
          st.devMinor === root.devMinor && st.devMajor === root.devMajor) return true;
        const n = this.pathOf(up);
        if (n === -Errno.ENAMETOOLONG || n >= PAGE) continue;
        return n > 0 && this.pathBelowRoot(this.pathScratch.subarray(0, n));
      }
      return false;
    } finally {
      if (cur !== fd && cur >= 0) sys.close(cur);
    }
  }
}

/** p is a path strictly below root ("/a/b" is below "/a", "/ab" is not; everything is below "/"). */
function isBelow(p: Buffer, root: Buffer): boolean {
  if (root.length === 1 && root[0] === 0x2f) return p.length > 1 && p[0] === 0x2f;
  return p.length > root.length && p[root.length] === 0x2f && p.subarray(0, root.length).equals(root);
}
