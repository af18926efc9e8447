// The session that serves a /dev/fuse mount: the FuseDevSession class of src/native/fuse-dev.ts.
#pragma once
#include <napi.h>

namespace vfsd {
namespace fusedev {

Napi::Function DefineFuseDevSession(Napi::Env env);

}  // namespace fusedev
}  // namespace vfsd
