// Containment of client-supplied names. Everything the server does is relative to a directory fd
// it holds, so the only ways out of the export are names that walk (`/`, `..`) and symlinks the
// server follows (it never does: O_NOFOLLOW/AT_SYMLINK_NOFOLLOW everywhere). A hostile client may
// send any bytes: a name with '/' would walk, one with NUL would be cut short by the kernel and
// mean something else than what was checked, an over-long one must not reach a fixed buffer.
import { Errno } from '../protocol/errno';

export const NAME_MAX = 255;
const SLASH = 0x2f;
const DOT = 0x2e;

/** 0 when `name` is a single path component we may create or look up, else -errno. */
export function checkName(name: Uint8Array): number {
  if (name.length === 0) return -Errno.EINVAL;
  if (name.length > NAME_MAX) return -Errno.ENAMETOOLONG;
  if (name.indexOf(SLASH) >= 0 || name.indexOf(0) >= 0) return -Errno.EINVAL;
  return 0;
}

export const isDot = (n: Uint8Array) => n.length === 1 && n[0] === DOT;
export const isDotDot = (n: Uint8Array) => n.length === 2 && n[0] === DOT && n[1] === DOT;

/** For operations that create, remove or rename: `.` and `..` are never valid targets. */
export function checkNewName(name: Uint8Array): number {
  const r = checkName(name);
  if (r < 0) return r;
  return isDot(name) || isDotDot(name) ? -Errno.EINVAL : 0;
}
