// The name of an errno for messages ("ENOENT"), the name Node gives the code of its own errors:
// os.constants.errno lists EAGAIN before EWOULDBLOCK and ENOTSUP before EOPNOTSUPP, and the
// first name of a number is the one kept. A leaf: every layer may import it.
import * as os from 'node:os';

const NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(os.constants.errno)) if (!NAMES.has(value)) NAMES.set(value, name);

/** errno is positive (5, not -5): a -errno result r is named by errnoName(-r). */
export function errnoName(errno: number): string {
  return NAMES.get(errno) ?? `errno ${errno}`;
}
