// Entry point of the native addon: each module registers its functions on `exports`.
// One file per job: sys_* are thin syscall wrappers, fuse_* own /dev/fuse mounts and sessions,
// vhost_* own vhost-user-fs backends, dir_encode turns getdents64 records into FUSE dirents.
// The contract with TypeScript is written where it is used, in the typed faces src/native/*.ts:
// sys.ts and sandbox.ts (the sys_* wrappers: -errno results, Name arguments), fuse-dev.ts,
// vhost-user.ts, dirents.ts, and channel.ts (the RequestChannel both transports implement).
// (The test-only primitives are a separate addon: vhost_test_support.cc.)
#include <napi.h>
#include "modules.h"
#include "meta_jobs.h"
#include "worker_pool.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  vfsd::InitSysFiles(env, exports);
  vfsd::InitSysXattr(env, exports);
  vfsd::InitSysCreds(env, exports);
  vfsd::InitSysProcess(env, exports);
  vfsd::InitSysSandbox(env, exports);
  vfsd::InitFuseDev(env, exports);
  vfsd::InitVhostUser(env, exports);
  vfsd::InitDirEncode(env, exports);
  vfsd::InitSysSeccomp(env, exports);
  vfsd::InitSysSyslog(env, exports);
  vfsd::InitWorkerPool(env, exports);
  vfsd::InitMetaJobs(env, exports);
  return exports;
}

NODE_API_MODULE(vfsd_native, Init)
