// The sandbox's syscalls (native/sys_sandbox.cc). Same contract as sys.ts: numbers >= 0 on
// success, -errno on failure, TypeError only for a wrong argument type.
import { addon } from './addon';

export interface NativeSandbox {
  /** clone (into new mount, pid and net namespaces when newNamespaces) + execve of file with the
   *  bounding set cut to keepCaps, no_new_privs, and inheritFds kept open. The child gets
   *  SIGKILL when this process dies. Returns [host pid, pidfd] or -errno. */
  sandboxSpawn(file: string, argv: string[], env: string[], keepCaps: Uint32Array, newNamespaces: boolean, inheritFds: Uint32Array): [number, number] | number;
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
