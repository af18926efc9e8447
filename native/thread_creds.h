// Per-thread credentials for C++ callers (the worker pool's metadata jobs): the same raw-syscall
// switch sys_creds.cc offers to JavaScript (setCreds/resetCreds), usable on any thread. A thread
// switched with SetThreadCreds keeps that identity until ResetThreadCreds: the caller restores.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace vfsd {

// Groups, then fsgid, then fsuid. 0, or -errno after which the thread is back to its own
// credentials (the operation must then not run).
// keepGroups: leave the supplementary groups as they are (a user namespace with setgroups denied).
int SetThreadCreds(uid_t uid, gid_t gid, bool keepGroups, size_t ngroups, const gid_t* groups);
// Back to the process's euid/egid and the groups it had when the addon loaded. 0 or -errno.
int ResetThreadCreds();

// CAP_FSETID out of the calling thread's effective set while the object lives, back in when it
// goes (if it was there). For kernel objects that keep the credentials they are made with and
// act with them for other callers later: a FUSE backing file (FUSE_DEV_IOC_BACKING_OPEN) does
// every passthrough write of its inode with them, and CAP_FSETID in them would keep a setuid
// bit that the writer's own write clears on the host. It is a credentials change (capset, and
// the old creds freed by RCU): measurably dear on a path taken per open.
class WithoutFsetid {
 public:
  WithoutFsetid();
  ~WithoutFsetid();
  WithoutFsetid(const WithoutFsetid&) = delete;
  WithoutFsetid& operator=(const WithoutFsetid&) = delete;
  // 0, or -errno: the capability could not be lowered (then nothing was changed).
  int error() const { return error_; }

 private:
  int error_ = 0;
  bool lowered_ = false;
  uint32_t effective_[2] = {0, 0};
};

}  // namespace vfsd
