// What the passthrough filesystem needs to know from the command line (one object, built once
// by the CLI, like virtiofsd's Config).
import type { IdTranslation } from '../policy/id-map';
export type CacheMode = 'auto' | 'always' | 'metadata' | 'never';
/** never: one O_PATH fd per inode; prefer/mandatory: file handles only (fds where none can be
 *  had / refuse such objects); auto: O_PATH fds for the recently used inodes within a budget
 *  below RLIMIT_NOFILE, file handles for the rest (fds only where there are no handles). */
export type InodeFileHandles = 'auto' | 'never' | 'prefer' | 'mandatory';

export interface PassthroughConfig {
  sharedDir: string;
  cache: CacheMode;
  xattr: boolean;
  readOnly: boolean;
  inodeFileHandles: InodeFileHandles;
  /** auto: how many inode fds may be open at once (default: from RLIMIT_NOFILE at start) */
  inodeFdBudget?: number;
  posixLocks: boolean;
  flock: boolean;
  /** --translate-uid/--translate-gid; null (or absent): ids pass unchanged, at no cost */
  ids?: IdTranslation | null;
}

export const defaultPassthroughConfig = (sharedDir: string): PassthroughConfig => ({
  sharedDir,
  cache: 'auto',
  xattr: false,
  readOnly: false,
  inodeFileHandles: 'auto',
  posixLocks: true,
  flock: true,
  ids: null,
});

/** Entry and attribute validity (seconds) the kernel may cache, by cache mode. */
export function timeoutsFor(cache: CacheMode): number {
  switch (cache) {
    case 'never': return 0;
    case 'auto': return 1;
    case 'metadata':
    case 'always': return 86400;
  }
}
