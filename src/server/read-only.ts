// --readonly as a wrapper of any FileSystem: every operation that would change the export
// answers EROFS before it reaches the filesystem; the rest pass through unchanged. OPEN is
// refused for writing or truncating; WRITE never gets a target.
import { Errno } from '../protocol/errno';
import type { FileSystem } from './file-system';

const O_ACCMODE = 3;
const O_TRUNC = 0o1000;
const EROFS = -Errno.EROFS;
const refuse = (): number => EROFS;

/** The operations that change the export. */
const CHANGES = [
  'setattr', 'mknod', 'mkdir', 'symlink', 'link', 'unlink', 'rmdir', 'rename', 'create', 'tmpfile',
  'writeTarget', 'fallocate', 'copyFileRange', 'setxattr', 'removexattr',
] as const satisfies ReadonlyArray<keyof FileSystem>;

export function readOnly(inner: FileSystem): FileSystem {
  // An object whose prototype is the wrapped filesystem: every method not overridden here is the
  // inner one (its `this` reaches the inner one's fields through the prototype), at no cost per
  // call. Nothing is ever assigned through the wrapper, so the inner state stays the inner one's.
  const ro: FileSystem = Object.create(inner);
  for (const op of CHANGES) (ro as unknown as Record<string, unknown>)[op] = refuse;
  ro.open = (nodeid, flags) => ((flags & O_ACCMODE) !== 0 || (flags & O_TRUNC) !== 0 ? EROFS : inner.open(nodeid, flags));
  return ro;
}
