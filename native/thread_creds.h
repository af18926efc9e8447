// Per-thread credentials for C++ callers (the worker pool's metadata jobs): the same raw-syscall
// switch sys_creds.cc offers to JavaScript (setCreds/resetCreds), usable on any thread. A thread
// switched with SetThreadCreds keeps that identity until ResetThreadCreds: the caller restores.
#pragma once
#include <sys/types.h>

#include <cstddef>

namespace vfsd {

// Groups, then fsgid, then fsuid. 0, or -errno after which the thread is back to its own
// credentials (the operation must then not run).
int SetThreadCreds(uid_t uid, gid_t gid, size_t ngroups, const gid_t* groups);
// Back to the process's euid/egid and the groups it had when the addon loaded. 0 or -errno.
int ResetThreadCreds();

}  // namespace vfsd
