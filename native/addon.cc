// Entry point of the native addon: each module registers its functions on `exports`.
// One file per job: sys_* are thin syscall wrappers, fuse_dev owns /dev/fuse sessions,
// vhost_user owns vhost-user-fs backends. See native/API.md for the contract with TypeScript.
#include <napi.h>
#include "modules.h"
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
  vfsd::InitWorkerPool(env, exports);
  return exports;
}

NODE_API_MODULE(vfsd_native, Init)
