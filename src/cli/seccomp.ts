// --seccomp none|kill|log|trap (virtiofsd's option, default kill): once startup is done (the
// sandbox entered, the mount made or the socket listening), every thread of vfsd may make only
// the syscalls below. What a hostile guest could do after finding a bug in request handling is
// then bounded by this list: no exec, no ptrace, no new mounts or namespaces, no module or BPF
// loading, no io_uring (it would bypass the filter), no personality/keyring/perf calls.
//
// The list was measured, not guessed: vfsd's own test workloads (the /dev/fuse suites, the
// vhost-user suites, the sandboxes) ran under `strace -f -c` and under `--seccomp log`, and the
// kernel's audit lines for anything refused were read back; every name here was seen or is the
// sibling a libc/kernel version may use instead (e.g. newfstatat for fstat, clone for clone3).
import { seccomp, SeccompAction } from '../native/seccomp';
import { X86_64_SYSCALLS } from './seccomp-x86_64';
import type { Logger } from '../log/logger';

export type SeccompMode = 'none' | 'kill' | 'log' | 'trap';
export const SECCOMP_MODES: readonly SeccompMode[] = ['none', 'kill', 'log', 'trap'];

/** The allowlist, by what needs it. */
export const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  // The passthrough operations, the state store and the stats file. umount2: a /dev/fuse mount
  // is removed at stop. ioctl: FUSE passthrough backing ids, terminals. inotify: Node's fs.watch.
  files: [
    'read', 'write', 'readv', 'writev', 'pread64', 'pwrite64', 'preadv', 'pwritev', 'preadv2', 'pwritev2',
    'open', 'openat', 'openat2', 'close', 'close_range', 'creat',
    'stat', 'fstat', 'lstat', 'newfstatat', 'statx', 'statfs', 'fstatfs',
    'lseek', 'fsync', 'fdatasync', 'syncfs', 'sync_file_range', 'ftruncate', 'truncate', 'fallocate',
    'copy_file_range', 'sendfile', 'splice', 'tee',
    'getdents64', 'mkdir', 'mkdirat', 'mknodat', 'symlinkat', 'readlink', 'readlinkat', 'unlink', 'unlinkat', 'rmdir',
    'rename', 'renameat', 'renameat2', 'link', 'linkat', 'chmod', 'fchmod', 'fchmodat', 'fchmodat2',
    'fchown', 'fchownat', 'lchown', 'utimensat', 'futimesat', 'access', 'faccessat', 'faccessat2',
    'flock', 'fcntl', 'dup', 'dup2', 'dup3', 'name_to_handle_at', 'open_by_handle_at',
    'getxattr', 'lgetxattr', 'fgetxattr', 'setxattr', 'lsetxattr', 'fsetxattr',
    'listxattr', 'llistxattr', 'flistxattr', 'removexattr', 'lremovexattr', 'fremovexattr',
    'umask', 'chdir', 'fchdir', 'getcwd', 'ioctl', 'umount2', 'inotify_init1', 'inotify_add_watch', 'inotify_rm_watch',
  ],
  // V8's heap and JIT (pkeys: V8 protects code pages with them), vhost-user's guest memory.
  memory: [
    'mmap', 'munmap', 'mprotect', 'madvise', 'mremap', 'brk', 'mincore', 'membarrier',
    'pkey_alloc', 'pkey_free', 'pkey_mprotect',
  ],
  // The libuv pool, V8's workers, native worker threads; signals (SIGTERM, SIGUSR1), timers.
  threads: [
    'clone', 'clone3', 'futex', 'set_robust_list', 'get_robust_list', 'rseq', 'sched_yield',
    'sched_getaffinity', 'sched_setaffinity', 'sched_getparam', 'sched_getscheduler',
    'gettid', 'getpid', 'getppid', 'getpgrp', 'tgkill', 'tkill', 'kill', 'exit', 'exit_group',
    'rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'rt_sigtimedwait', 'rt_sigqueueinfo', 'sigaltstack', 'restart_syscall',
    'nanosleep', 'clock_nanosleep', 'clock_gettime', 'clock_getres', 'gettimeofday', 'time', 'getrusage', 'times',
    'prctl', 'arch_prctl', 'getrandom', 'uname', 'sysinfo', 'getpriority', 'setpriority', 'prlimit64', 'getrlimit', 'setrlimit',
  ],
  // Acting with the caller's fsuid/fsgid and groups (src/passthrough/credentials.ts), and the
  // per-thread capability changes that go with it.
  credentials: [
    'getuid', 'geteuid', 'getgid', 'getegid', 'getresuid', 'getresgid', 'getgroups', 'setgroups',
    'setfsuid', 'setfsgid', 'setresuid', 'setresgid', 'setuid', 'setgid', 'capget', 'capset',
  ],
  // libuv's loop, the transports' eventfds.
  events: [
    'epoll_create1', 'epoll_ctl', 'epoll_wait', 'epoll_pwait', 'epoll_pwait2', 'eventfd2',
    'poll', 'ppoll', 'select', 'pselect6', 'pipe2', 'pipe',
  ],
  // vhost-user (accepting the front-end, fds passed with SCM_RIGHTS) and --syslog.
  sockets: [
    'socket', 'socketpair', 'bind', 'listen', 'accept', 'accept4', 'connect', 'sendmsg', 'recvmsg',
    'sendto', 'recvfrom', 'shutdown', 'getsockopt', 'setsockopt', 'getsockname', 'getpeername',
  ],
};

/** Only with --fuse-transport uring: the ring is set up before the filter, then entered (and its
 *  buffers registered) while serving. io_uring work is not seen by seccomp, which is why these
 *  are not on the list otherwise. */
export const URING: readonly string[] = ['io_uring_setup', 'io_uring_enter', 'io_uring_register'];

export class SeccompError extends Error {}

/** The syscall numbers of the allowlist on this machine's architecture, or null if vfsd has no
 *  table for it. Throws if the list names a syscall the table lacks (a build mistake). */
export function allowedNumbers(arch: string = process.arch, uring = false): Uint32Array | null {
  if (arch !== 'x64') return null;
  const names = [...Object.values(ALLOWED).flat(), ...(uring ? URING : [])];
  return Uint32Array.from(names.map((n) => {
    const nr = X86_64_SYSCALLS[n];
    if (nr === undefined) throw new SeccompError(`seccomp: no x86_64 number for '${n}'`);
    return nr;
  }));
}

const ACTION: Record<Exclude<SeccompMode, 'none'>, SeccompAction> = {
  kill: SeccompAction.Kill, log: SeccompAction.Log, trap: SeccompAction.Trap,
};

/** Can this mode be installed here? null, or the one-line reason it cannot (checked at parse
 *  time, so an unsupported machine is refused before anything starts). */
export function seccompUnsupported(mode: SeccompMode, arch: string = process.arch): string | null {
  if (mode === 'none' || arch === 'x64') return null;
  return `--seccomp=${mode}: vfsd has no syscall table for ${arch} yet; use --seccomp=none`;
}

/**
 * The mode to use: as given, or by default 'kill' — except for an unprivileged --mount, whose
 * unmount at stop runs the setuid fusermount3, which no_new_privs (a filter's precondition)
 * would strip of its setuid and the filter would refuse to exec. There the default is 'none'
 * (returned with the reason, for the log) and an explicit filter is a usage error.
 */
export function resolveSeccomp(given: SeccompMode | null, unprivilegedMount: boolean): { mode: SeccompMode; why?: string } | { error: string } {
  if (!unprivilegedMount) return { mode: given ?? 'kill' };
  const why = 'an unprivileged --mount unmounts at stop with the setuid fusermount3, which the filter (with no_new_privs) cannot run';
  if (given === null) return { mode: 'none', why };
  if (given === 'none') return { mode: 'none' };
  return { error: `--seccomp=${given}: ${why}; use --seccomp=none or run as root` };
}

/** Installs the filter (no-op for 'none'). Throws SeccompError with the errno text on failure. */
export function installSeccomp(mode: SeccompMode, log: Logger, uring = false): void {
  if (mode === 'none') return;
  const nrs = allowedNumbers(process.arch, uring);
  if (!nrs) throw new SeccompError(seccompUnsupported(mode)!);
  const r = seccomp.seccompInstall(nrs, ACTION[mode]);
  if (r < 0) throw new SeccompError(`seccomp: cannot install the filter: errno ${-r}`);
  log.info('seccomp filter installed', { action: mode, allowed: nrs.length });
}

/** Test hook: with VFSD_TEST_SECCOMP_PROBE set in its environment, vfsd makes one unlisted
 *  syscall on each SIGUSR2 and logs what came back (tests look for this line, or for the
 *  process dying of SIGSYS). Without the variable nothing listens. */
export function probeIfAsked(log: Logger, env: NodeJS.ProcessEnv = process.env): void {
  if (!env.VFSD_TEST_SECCOMP_PROBE) return;
  process.on('SIGUSR2', () => {
    const nr = seccomp.seccompProbeNumber();
    const r = seccomp.seccompProbe();
    log.warn('seccomp probe', { syscall: nr, result: r });
  });
}
