// Placeholder until this module lands.
#include "modules.h"
namespace vfsd {
void InitSysFiles(Napi::Env env, Napi::Object exports) {}
}  // namespace vfsd
