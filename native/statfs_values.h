// fstatfs as the ten numbers TypeScript reads (src/native/sys.ts fstatfs, src/native/meta-jobs.ts
// Statfs): [bsize, blocks, bfree, bavail, files, ffree, namelen, frsize, type, flags]. One
// definition for the JS thread's wrapper (sys_files.cc) and the worker pool's job (meta_jobs.cc).
#pragma once
#include <errno.h>
#include <sys/statfs.h>

#include <cstring>

namespace vfsd {

constexpr size_t kStatfsValues = 10;

// 0, or -errno (out untouched).
inline int FstatfsValues(int fd, double* out) {
  struct statfs s;
  if (fstatfs(fd, &s) < 0) return -errno;
  const double v[kStatfsValues] = {
      double(s.f_bsize), double(s.f_blocks), double(s.f_bfree), double(s.f_bavail),
      double(s.f_files), double(s.f_ffree),  double(s.f_namelen), double(s.f_frsize),
      double(static_cast<unsigned long>(s.f_type)), double(s.f_flags)};
  memcpy(out, v, sizeof(v));
  return 0;
}

}  // namespace vfsd
