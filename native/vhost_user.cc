// Placeholder until this module lands.
#include "modules.h"
namespace vfsd {
void InitVhostUser(Napi::Env env, Napi::Object exports) {}
}  // namespace vfsd
