// Process-wide limits (contract: src/native/sys.ts): the open-file limit a passthrough server must
// raise, since it keeps one O_PATH fd per inode the client holds (virtiofsd raises it the same way).
#include "modules.h"
#include "sys_args.h"

#include <sys/resource.h>

namespace vfsd {
namespace {

// getrlimit(resource) -> [soft, hard] (RLIM_INFINITY as -1), or -errno.
Napi::Value GetRlimit(const Napi::CallbackInfo& info) {
  Args a(info, "getrlimit", 1);
  int resource = a.Int(0);
  if (!a.Ok()) return a.Bail();
  struct rlimit rl;
  if (getrlimit(resource, &rl) < 0) return a.Num(-errno);
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, a.Num(rl.rlim_cur == RLIM_INFINITY ? -1 : static_cast<double>(rl.rlim_cur)));
  out.Set(1u, a.Num(rl.rlim_max == RLIM_INFINITY ? -1 : static_cast<double>(rl.rlim_max)));
  return out;
}

// setrlimit(resource, soft, hard); -1 means RLIM_INFINITY.
Napi::Value SetRlimit(const Napi::CallbackInfo& info) {
  Args a(info, "setrlimit", 3);
  int resource = a.Int(0);
  int64_t soft = a.Int64(1), hard = a.Int64(2);
  if (!a.Ok()) return a.Bail();
  struct rlimit rl;
  rl.rlim_cur = soft < 0 ? RLIM_INFINITY : static_cast<rlim_t>(soft);
  rl.rlim_max = hard < 0 ? RLIM_INFINITY : static_cast<rlim_t>(hard);
  return a.Ret(setrlimit(resource, &rl));
}

}  // namespace

void InitSysProcess(Napi::Env env, Napi::Object exports) {
  exports.Set("getrlimit", Napi::Function::New(env, GetRlimit, "getrlimit"));
  exports.Set("setrlimit", Napi::Function::New(env, SetRlimit, "setrlimit"));
}

}  // namespace vfsd
