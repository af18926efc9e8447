// Metadata jobs: the syscalls of a metadata request (a LOOKUP's openat + statx, a GETATTR's
// statx) run on the worker pool as the caller, and the result goes back to a JavaScript
// callback on the loop thread. TypeScript decides when to use them (a source that answers slowly,
// src/passthrough/off-loop.ts) and what the result means; the contract is src/native/meta-jobs.ts.
#pragma once
#include <napi.h>

namespace vfsd {

// Registers metaJob(...) on exports.
void InitMetaJobs(Napi::Env env, Napi::Object exports);

}  // namespace vfsd
