// Metadata jobs: the syscalls of a metadata request (a LOOKUP's openat + statx, a GETATTR's
// statx, a READDIR's getdents64, a READLINK, a STATFS) run on the worker pool (as the caller where
// the syscall checks permission), and the result goes back to a JavaScript
// callback on the loop thread. TypeScript decides when to use them (a source that answers slowly,
// src/passthrough/off-loop.ts) and what the result means; the contract is src/native/meta-jobs.ts.
#pragma once
#include <napi.h>

namespace vfsd {

// Registers metaJob, metaIntoJob, metaMakeJob, metaAttrJob, metaXattrJob and metaLockJob on
// exports (each queues one MetaJob: meta_job.h).
void InitMetaJobs(Napi::Env env, Napi::Object exports);

}  // namespace vfsd
