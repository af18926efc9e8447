// The /dev/fuse-only ABI bits native code uses (the ones vhost-user shares are in
// transport_common.h). Debian 12's <linux/fuse.h> is 7.38 (no passthrough ioctls), so the few we
// use are defined here.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include "transport_common.h"

namespace vfsd {
namespace fusedev {

constexpr size_t kMinReadBuffer = 8192;  // FUSE_MIN_READ_BUFFER

struct BackingMap {  // struct fuse_backing_map (7.40)
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};
constexpr unsigned long kIocBackingOpen = _IOW(229, 1, BackingMap);  // FUSE_DEV_IOC_BACKING_OPEN
constexpr unsigned long kIocBackingClose = _IOW(229, 2, uint32_t);   // FUSE_DEV_IOC_BACKING_CLOSE

}  // namespace fusedev
}  // namespace vfsd
