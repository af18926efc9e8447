// How long the metadata syscalls of one request took, for TypeScript's choice between serving a
// mount inline and on the worker pool (src/passthrough/off-loop.ts). Only the syscall is timed,
// never the JavaScript around it: a garbage collection or the engine's own work must not make a
// fast filesystem look slow. A SyscallTimer on the stack of a wrapper (sys_files.cc) records the
// syscall's duration into one double that TypeScript reads and clears through
// syscallClock() (src/native/sys.ts): the slowest timed syscall since it was last cleared, in ns.
// JS thread only (the wrappers run there); errno is kept across the timer.
#pragma once
#include <errno.h>
#include <time.h>

namespace vfsd {

double* SlowestSyscallNs();

class SyscallTimer {
 public:
  SyscallTimer() { clock_gettime(CLOCK_MONOTONIC, &t0_); }
  ~SyscallTimer() {
    int e = errno;
    timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = static_cast<double>(t1.tv_sec - t0_.tv_sec) * 1e9 + static_cast<double>(t1.tv_nsec - t0_.tv_nsec);
    double* slowest = SlowestSyscallNs();
    if (ns > *slowest) *slowest = ns;
    errno = e;
  }
  SyscallTimer(const SyscallTimer&) = delete;
  SyscallTimer& operator=(const SyscallTimer&) = delete;

 private:
  timespec t0_;
};

}  // namespace vfsd
