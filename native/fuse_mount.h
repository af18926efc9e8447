// Mounting a FUSE file system without libfuse: mount(2) directly as root, or the setuid
// fusermount3 passing the /dev/fuse fd back over a socket (_FUSE_COMMFD) when unprivileged.
// Contract: fuseMount/fuseUnmount in src/native/fuse-dev.ts.
#pragma once
#include <napi.h>

namespace vfsd {
namespace fusedev {

// fuseMount(mountpoint, opts) -> the /dev/fuse fd (non-blocking, close-on-exec), or -errno.
Napi::Value FuseMount(const Napi::CallbackInfo& info);
// fuseUnmount(mountpoint) -> 0 or -errno (a lazy unmount).
Napi::Value FuseUnmount(const Napi::CallbackInfo& info);
// Sets O_NONBLOCK on fd; 0 or -errno.
int SetNonBlocking(int fd);

}  // namespace fusedev
}  // namespace vfsd
