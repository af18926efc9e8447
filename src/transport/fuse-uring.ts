// FUSE over io_uring as /dev/fuse's transport, seen from TypeScript: which transport a mount asked
// for, and — once INIT is answered — which one serves it and why, in words an operator can act
// on. The ring itself is native (native/fuse_uring*.cc); the session prepares it before INIT and
// registers its entries when the INIT answer takes FUSE_OVER_IO_URING.
import * as fs from 'node:fs';
import { errnoName } from '../log/errno-name';
import type { FuseUringStatus } from '../native/fuse-dev';

/** dev: read/writev on /dev/fuse (the default); uring: FUSE over io_uring, falling back to dev
 *  with a warning when the kernel refuses; auto: io_uring when the kernel allows, quietly. */
export type FuseTransportChoice = 'dev' | 'uring' | 'auto';
export const FUSE_TRANSPORTS: readonly FuseTransportChoice[] = ['dev', 'uring', 'auto'];

/** Ring entries per CPU queue: each holds one request in flight (its payload buffer is
 *  max_write bytes, mapped but touched only as far as requests reach). */
export const URING_ENTRIES_PER_QUEUE = 8;

export const ENABLE_URING_PARAM = '/sys/module/fuse/parameters/enable_uring';

/** The module parameter as it reads now: 'Y', 'N', or null (no FUSE io_uring in this kernel). */
export function enableUringParam(): 'Y' | 'N' | null {
  try {
    const v = fs.readFileSync(ENABLE_URING_PARAM, 'utf8').trim();
    return v === 'Y' || v === 'N' ? v : null;
  } catch {
    return null;
  }
}

export interface UringOutcome {
  /** the transport that serves the mount */
  transport: 'io_uring' | 'read/writev';
  /** why not io_uring, when it was asked for and is not used */
  reason?: string;
}

function prepareFailure(errno: number): string {
  switch (errnoName(errno)) {
    case 'ENOSYS': return 'this kernel has no io_uring';
    case 'EPERM': return 'io_uring is disabled for this process (sysctl kernel.io_uring_disabled)';
    case 'EINVAL': return "this kernel's io_uring has no 128-byte SQEs (Linux < 5.19)";
    default: return `creating the io_uring failed: ${errnoName(errno)}`;
  }
}

function notOffered(): string {
  const p = enableUringParam();
  if (p === 'N') return `the kernel did not offer FUSE_OVER_IO_URING: ${ENABLE_URING_PARAM} is N (as root: echo Y > ${ENABLE_URING_PARAM})`;
  if (p === null) return 'the kernel did not offer FUSE_OVER_IO_URING (no CONFIG_FUSE_IO_URING: Linux 6.14+ is needed)';
  return 'the kernel did not offer FUSE_OVER_IO_URING';
}

/** What serves the mount, from the session's status once INIT is answered. */
export function uringOutcome(s: FuseUringStatus): UringOutcome {
  switch (s.state) {
    case 'active': return { transport: 'io_uring' };
    case 'not-negotiated': return { transport: 'read/writev', reason: notOffered() };
    case 'refused': return { transport: 'read/writev', reason: `the kernel refused the ring's registration: ${errnoName(s.errno)}` };
    case 'off': return { transport: 'read/writev', reason: s.errno ? prepareFailure(s.errno) : 'not asked for' };
    case 'prepared': return { transport: 'read/writev', reason: 'INIT not answered yet' };
  }
}
