// Engine fds lent to pooled jobs, in place of a dup() of the job's own.
//
// Why not a dup: closing any fd of a file is a flush of it (f_op->flush). NFS writes back every
// dirty page of the file and waits; CIFS and Ceph do the like; a FUSE source gets a FLUSH round
// trip. A pooled READ or WRITE that closed its own dup when done therefore made every pooled write
// to an NFS file synchronous, and a FUSE source answered two requests per READ. A lease has no
// such cost: the job uses the engine's fd itself, and the engine's close of a leased fd
// (CloseWhenUnleased, RELEASE's) is deferred until the last job using it ends. The fd number stays
// allocated meanwhile, so no other open can get it under a job's feet.
//
// Threads: leases are taken on the loop thread when a job is posted; they end on the worker when
// its syscall is done (so a deferred close, the file's last, runs there, off the loop), or on the
// loop thread for a job that never ran.
#pragma once

namespace vfsd {

// One more lease on fd (>= 0). -ENOMEM if the table could not grow (then nothing is leased).
int LeaseFd(int fd);
// Ends one lease; closes fd if the engine asked for its close and this was the last lease.
void EndLease(int fd);
// The engine is done with fd: closes it now (close()'s 0 or -errno) unless jobs lease it; then
// the last lease's end closes it and this returns 0. `onPool`: a close that would run now runs on
// a worker instead (the file's filesystem may wait in close: see src/passthrough/file-ops.ts).
int CloseWhenUnleased(int fd, bool onPool);
// Fds leased right now (tests).
unsigned LeasedFds();

}  // namespace vfsd
