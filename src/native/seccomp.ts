// The seccomp part of the addon (native/sys_seccomp.cc). Same contract as sys.ts: numbers back,
// -errno on failure.
import { addon } from './addon';

/** What the filter does to a syscall not on the list (native Action). */
export const enum SeccompAction { Kill = 0, Log = 1, Trap = 2 }

interface NativeSeccomp {
  /** Sets no_new_privs and installs the allowlist filter on every thread (TSYNC). x86_64 only
   *  (-ENOSYS elsewhere). Trap also installs a SIGSYS handler that writes the syscall number to
   *  stderr and makes the call fail with ENOSYS. */
  seccompInstall(allowed: Uint32Array, action: SeccompAction): number;
  /** Makes a syscall vfsd never needs (personality(0xffffffff), a harmless query): tests use it
   *  to see the filter act. Returns its result or -errno. */
  seccompProbe(): number;
  /** The number of the syscall seccompProbe makes. */
  seccompProbeNumber(): number;
}

export const seccomp: NativeSeccomp = addon as unknown as NativeSeccomp;
