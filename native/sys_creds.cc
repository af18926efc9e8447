// Placeholder until this module lands.
#include "modules.h"
namespace vfsd {
void InitSysCreds(Napi::Env env, Napi::Object exports) {}
}  // namespace vfsd
