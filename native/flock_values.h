// struct flock as the four numbers TypeScript passes (src/native/sys.ts fcntlLock,
// src/native/meta-jobs.ts metaLockJob): [type, start, len, pid], whence always SEEK_SET. One
// definition for the JS thread's wrapper (sys_files.cc) and the worker pool's lock job
// (meta_jobs.cc). The numbers are the client's: ones that are not integers are refused, not cast.
#pragma once
#include <fcntl.h>

#include <cstddef>
#include <cstdint>

#include "sys_args.h"  // Args::ToInt64

namespace vfsd {

constexpr size_t kFlockValues = 4;

// false (fl untouched) when one of the numbers is not an integer.
inline bool FlockFromValues(const double* v, struct flock* fl) {
  int64_t n[kFlockValues];
  for (size_t i = 0; i < kFlockValues; i++) {
    if (!Args::ToInt64(v[i], &n[i])) return false;
  }
  *fl = {};
  fl->l_type = static_cast<short>(n[0]);
  fl->l_whence = SEEK_SET;
  fl->l_start = n[1];
  fl->l_len = n[2];
  fl->l_pid = static_cast<pid_t>(n[3]);
  return true;
}

inline void FlockToValues(const struct flock& fl, double* v) {
  v[0] = fl.l_type;
  v[1] = static_cast<double>(fl.l_start);
  v[2] = static_cast<double>(fl.l_len);
  v[3] = fl.l_pid;
}

}  // namespace vfsd
