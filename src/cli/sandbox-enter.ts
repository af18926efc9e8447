// Inside the sandbox: build the new root and give up what was needed to build it.
//
// Runs in the process the launcher (sandbox-launch.ts) started, after every module is loaded
// (main.ts imports everything at the top): once the old root is gone, node's own files are too.
//
// namespace (we are pid 1 of new mount, pid and net namespaces):
//   1. / becomes recursively a slave: nothing we mount propagates back to the host, while mounts
//      the host makes under the export later still propagate in (if the host's mount is shared).
//   2. a small tmpfs becomes the new root. The export is bind-mounted (recursively) at its SAME
//      absolute path inside it, so paths in logs, /proc/self/fd links and the multidevs device
//      identities stay what they are without the sandbox. The parents of the state and backup
//      dirs are bound too (the parent, not the dir: the backup dir is removed at start and the
//      state dir may be deleted and recreated by a VM manager, which a mount point would forbid).
//      A fresh /proc (our pid namespace): the engine reopens inodes through /proc/self/fd.
//   3. the tmpfs is made read-only, pivot_root, the old root is detached, cwd is /.
// chroot: chroot(2) into the export, cwd /.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AT_FDCWD, C, must as mustSys, sys } from '../native/sys';
import { sandbox } from '../native/sandbox';
import { capNumbers } from './sandbox-caps';
import { SandboxError } from './sandbox-launch';

const MS_NOEXEC = 8;
const MS_REMOUNT = 32;
const MS_REC = 16384;
const MS_SLAVE = 1 << 19;
/** Where the new root is built. Any directory does: sources are reached through fds opened
 *  before it is covered, and the cover exists only in our mount namespace. */
const BUILD = '/tmp';

const must = (rc: number, what: string): number => mustSys(rc, `sandbox: ${what}`, SandboxError);

/** The directories the sandbox must reach besides the export, sorted so that a parent is bound
 *  before anything below it. */
function stateBinds(stateDirs: (string | null)[]): string[] {
  const out = new Set<string>();
  for (const d of stateDirs) {
    if (!d) continue;
    const abs = path.resolve(d);
    const parent = path.dirname(abs);
    // Binding '/' would undo the sandbox: bind the directory itself then.
    const target = parent === '/' ? abs : parent;
    fs.mkdirSync(target === abs ? abs : parent, { recursive: true, mode: 0o700 });
    out.add(target);
  }
  return [...out];
}

export function enterNamespaceRoot(sharedDir: string, stateDirs: (string | null)[]): void {
  must(sys.mount('none', '/', '', MS_REC | MS_SLAVE, ''), 'make / a slave');
  const inExport = (d: string) => d === sharedDir || d.startsWith(sharedDir + '/');
  const binds: { dir: string; rec: boolean }[] = [
    { dir: sharedDir, rec: true },
    // one already reachable through the export's recursive bind must not cover its submounts
    ...stateBinds(stateDirs).filter((d) => !inExport(d)).map((dir) => ({ dir, rec: false })),
  ].sort((a, b) => a.dir.length - b.dir.length);
  const fds = binds.map((b) => must(sys.openat(AT_FDCWD, b.dir, C.O_PATH | C.O_DIRECTORY, 0), `open ${b.dir}`));
  try {
    must(sys.mount('tmpfs', BUILD, 'tmpfs', C.MS_NOSUID | C.MS_NODEV | MS_NOEXEC, 'size=1m,mode=0755'), 'tmpfs root');
    binds.forEach((b, i) => {
      const target = path.join(BUILD, b.dir);
      fs.mkdirSync(target, { recursive: true, mode: 0o755 });
      must(sys.mount(`/proc/self/fd/${fds[i]}`, target, '', C.MS_BIND | (b.rec ? MS_REC : 0), ''), `bind ${b.dir}`);
    });
    fs.mkdirSync(path.join(BUILD, 'proc'), { mode: 0o555 });
    must(sys.mount('proc', path.join(BUILD, 'proc'), 'proc', C.MS_NOSUID | C.MS_NODEV | MS_NOEXEC, ''), 'mount /proc');
    must(sys.mount('none', BUILD, '', MS_REMOUNT | C.MS_BIND | C.MS_RDONLY | C.MS_NOSUID | C.MS_NODEV | MS_NOEXEC, ''), 'read-only root');
  } finally {
    for (const fd of fds) sys.close(fd);
  }
  process.chdir(BUILD);
  // pivot_root(".", "."): the old root ends up stacked on the new one, then is detached.
  must(sandbox.pivotRoot('.', '.'), 'pivot_root');
  must(sys.umount2('.', C.MNT_DETACH), 'detach the old root');
  process.chdir('/');
}

export function enterChroot(sharedDir: string): void {
  must(sandbox.chroot(sharedDir), `chroot ${sharedDir}`);
  process.chdir('/');
}

/** The main thread keeps only what serving needs. Threads created from now on (the libuv pool,
 *  started right after this) inherit exactly that. */
export function dropSetupCaps(kept: string[]): void {
  must(sandbox.capSetThread(capNumbers(kept)), 'drop capabilities');
}
