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

// Every module's registration hook, in the order they register (modules.h, and the two
// headers of the pool's parts).
static void (*const kModules[])(Napi::Env, Napi::Object) = {
    vfsd::InitSysFiles,  vfsd::InitSysXattr,   vfsd::InitSysCreds,   vfsd::InitSysProcess,
    vfsd::InitSysSandbox, vfsd::InitFuseDev,   vfsd::InitVhostUser,  vfsd::InitDirEncode,
    vfsd::InitSysSeccomp, vfsd::InitSysSyslog, vfsd::InitWorkerPool, vfsd::InitMetaJobs,
};

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  for (auto init : kModules) init(env, exports);
  return exports;
}

NODE_API_MODULE(vfsd_native, Init)
