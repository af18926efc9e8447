// Names of our own fds under /proc/self/fd, for the calls that need a path or the kernel's name
// of an object (readlink). Everything goes through ONE O_PATH fd on /proc/self/fd, opened the
// first time it is asked for (the engine asks at construction, before a sandbox is entered) and
// kept for the life of the process: under --sandbox chroot, /proc is no longer reachable by an
// absolute path, but the fd held on it still is.
import { AT_FDCWD, C, sys } from '../native/sys';

let dirFd = -1;

/** The fd on /proc/self/fd (or -errno if it cannot be opened). */
export function procSelfFd(): number {
  if (dirFd < 0) {
    const fd = sys.openat(AT_FDCWD, '/proc/self/fd', C.O_PATH | C.O_DIRECTORY | C.O_CLOEXEC, 0);
    if (fd < 0) return fd;
    dirFd = fd;
  }
  return dirFd;
}

/** The name of fd relative to procSelfFd(). */
export function procName(fd: number): string {
  return String(fd);
}

/** The path the kernel gives for fd (its /proc/self/fd link) into buf: its length or -errno. */
export function fdLinkInto(fd: number, buf: Buffer): number {
  const dir = procSelfFd();
  return dir < 0 ? dir : sys.readlinkat(dir, procName(fd), buf);
}

/** The path the kernel gives for fd, or '' when it cannot be read (or does not fit buf). */
export function fdPath(fd: number, buf: Buffer): string {
  const n = fdLinkInto(fd, buf);
  return n > 0 && n < buf.length ? buf.subarray(0, n).toString() : '';
}
