// /dev/fuse: mounting a FUSE file system without libfuse, and the session that serves the mount.
//
// Contract: src/native/fuse-dev.ts (FuseDevNative, FuseDevSession) and src/native/channel.ts
// (RequestChannel). READ and WRITE bytes move in native code (pread/pwrite), never through JS.
// One file per job:
//   fuse_abi.h          the /dev/fuse-only ABI bits (what vhost-user shares: transport_common.h)
//   fuse_mount.*        mounting: direct mount(2), or fusermount3 with fd passing
//   fuse_pending.*      the table of requests waiting for their answer (tokens)
//   fuse_data_jobs.*    answers and the bulk-data jobs (no session or JS state: worker-ready)
//   fuse_session*       the session (the class: fuse_dev_session.h): polling and delivery to JS,
//                       _ending, _answers, _uring (its io_uring side), _notify (passthrough, notify)
//   fuse_uring*         FUSE over io_uring: the ring, its entries, requests and answers in them
//   fuse_dev.cc         registration on the addon's exports (this file)
#include "fuse_mount.h"
#include "fuse_session.h"
#include "modules.h"

namespace vfsd {

void InitFuseDev(Napi::Env env, Napi::Object exports) {
  exports.Set("fuseMount", Napi::Function::New(env, fusedev::FuseMount, "fuseMount"));
  exports.Set("fuseUnmount", Napi::Function::New(env, fusedev::FuseUnmount, "fuseUnmount"));
  exports.Set("FuseDevSession", fusedev::DefineFuseDevSession(env));
}

}  // namespace vfsd
