// Typed face of native/meta_jobs.cc: a metadata request's syscalls run on the worker pool as the
// caller, off the JS thread, and the result comes back to a callback on the JS thread.
//  - Lookup: openat(fd, name, O_PATH|O_NOFOLLOW) then statx of the new fd; result = the new fd
//    (the callback owns it) or -errno.
//  - Stat: statx of fd; result 0 or -errno.
//  - Reopen: opens what fd is with `flags` through fd2 = /proc/self/fd (as PassthroughFs.reopen
//    does inline); result = the new fd (the callback owns it) or -errno.
//  - Access: faccessat of what fd is through fd2 = /proc/self/fd, mask = `flags`, AT_EACCESS.
// stat (Lookup, Stat): the raw struct statx (256 bytes, src/passthrough/host-stat.ts decodes it;
// asked with AT_SYMLINK_NOFOLLOW and STATX_BASIC_STATS | STATX_BTIME | STATX_MNT_ID), else null.
// micros: how long the syscalls took on the worker (the engine's measure of the source).
// The job works on its own dups of fd (and fd2), taken before metaJob returns: the engine may
// close its fds at once. uid -1: the daemon's credentials; else uid/gid with exactly `groups`.
// Returns 1 (queued: the callback runs later, once), -ENOSYS when no pool runs (the engine then
// does the work inline), or another -errno (nothing queued, the callback never runs).
import { addon } from './addon';

export const MetaOp = { Lookup: 1, Stat: 2, Reopen: 3, Access: 4 } as const;

export type MetaDone = (result: number, stat: Buffer | null, micros: number) => void;

export interface MetaJobsNative {
  metaJob(op: number, fd: number, fd2: number, name: Uint8Array | null, flags: number,
    uid: number, gid: number, groups: Uint32Array | null, done: MetaDone): number;
}

export const metaJobs: MetaJobsNative = addon as MetaJobsNative;
