// The sandbox's syscalls (native/sys_sandbox.cc). Same contract as sys.ts: numbers >= 0 on
// success, -errno on failure, TypeError only for a wrong argument type.
import { addon } from './addon';

export interface NativeSandbox {
  /** clone (into new mount, pid and net namespaces when newNamespaces) + execve of file with the
   *  bounding set cut to keepCaps, no_new_privs, and inheritFds kept open. The child gets
   *  SIGKILL when this process dies. Returns [host pid, pidfd, goFd] or -errno.
   *  userNamespace: a new user namespace owns the others; the child waits until one byte is
   *  written to goFd (the caller writes the maps first, then the byte, then closes goFd; closing
   *  it without the byte makes the child exit 1), becomes uid/gid 0 inside, then execs.
   *  goFd is -1 without a user namespace. */
  sandboxSpawn(file: string, argv: string[], env: string[], keepCaps: Uint32Array, newNamespaces: boolean, inheritFds: Uint32Array, userNamespace: boolean): [number, number, number] | number;
  /** Same hardening, then execve in place (same pid). Returns only on failure (-errno). */
  sandboxExec(file: string, argv: string[], env: string[], keepCaps: Uint32Array, inheritFds: Uint32Array): number;
  /** The CALLING thread's permitted and effective sets become exactly keep (bounding set too). */
  capSetThread(keep: Uint32Array): number;
  pivotRoot(newRoot: string, putOld: string): number;
  chroot(dir: string): number;
  /** A listening unix socket (close-on-exec) at path, chowned to group if not ''. fd or -errno. */
  listenUnix(path: string, group: string): number;
  /** Reaps the child behind pidfd when it ends: cb(exit code or -1, terminating signal or 0).
   *  Keeps the event loop alive until then. */
  watchChild(pidfd: number, cb: (code: number, signal: number) => void): number;
}

export const sandbox: NativeSandbox = addon.sandbox as NativeSandbox;
