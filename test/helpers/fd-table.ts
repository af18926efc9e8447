// Filling this process's fd table, for tests of what a server does when no fd number is free.
import * as fs from 'node:fs';

/** Opens /dev/null until the soft limit refuses one: the fd table is full. Returns the fds. */
export function fillFds(): number[] {
  const fds: number[] = [];
  for (;;) {
    try {
      fds.push(fs.openSync('/dev/null', 'r'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EMFILE') throw e;
      return fds;
    }
  }
}
