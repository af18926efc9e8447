// Test-only primitives for playing QEMU's part in tests (test/helpers/vhost-frontend.ts).
#pragma once
#include <napi.h>

namespace vfsd {
Napi::Object CreateVhostTestSupport(Napi::Env env);
}
