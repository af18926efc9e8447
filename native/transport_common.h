// What both native transports need alike: /dev/fuse (fuse_*.cc) and vhost-user (vhost_*.cc).
// - The few FUSE wire bits native code reads or writes itself (the engine in TypeScript builds
//   every other answer). Debian 12's <linux/fuse.h> is 7.38, so they are written out here.
// - The CAP_FSETID guard around a WRITE that must kill suid/sgid.
// Their N-API argument checks live in sys_args.h, shared with the sys_*.cc wrappers.
#pragma once
#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace vfsd {

constexpr uint32_t kInHeaderSize = 40;   // struct fuse_in_header
constexpr uint32_t kOutHeaderSize = 16;  // struct fuse_out_header
constexpr uint32_t kWriteInSize = 40;    // struct fuse_write_in
constexpr uint32_t kWriteOutSize = 8;    // struct fuse_write_out
constexpr uint32_t kOpcodeWrite = 16;    // FUSE_WRITE

struct OutHeader {  // struct fuse_out_header
  uint32_t len;
  int32_t error;
  uint64_t unique;
};
static_assert(sizeof(OutHeader) == kOutHeaderSize, "fuse_out_header is 16 bytes");

struct WriteOut {  // struct fuse_write_out
  uint32_t size;
  uint32_t padding;
};
static_assert(sizeof(WriteOut) == kWriteOutSize, "fuse_write_out is 8 bytes");

// Drops CAP_FSETID from this thread's effective set while alive (when `on`), so that a write by a
// privileged server clears suid/sgid as the kernel would for the unprivileged writer the client
// speaks for (FUSE_WRITE_KILL_SUIDGID). Capabilities are per thread, and glibc has no per-thread
// capability call (libcap is not a dependency): raw capget/capset touch only the calling thread.
// error() is the errno of a failed capget/capset (0 if the privilege is gone or was never held).
class ScopedDropFsetid {
 public:
  explicit ScopedDropFsetid(bool on = true) {
    if (!on) return;
    if (syscall(SYS_capget, &header_, saved_) < 0) {
      error_ = errno;
      return;
    }
    if (!(saved_[0].effective & (1u << CAP_FSETID))) return;  // nothing to drop
    struct __user_cap_data_struct dropped[2] = {saved_[0], saved_[1]};
    dropped[0].effective &= ~(1u << CAP_FSETID);
    if (syscall(SYS_capset, &header_, dropped) < 0) {
      error_ = errno;
      return;
    }
    dropped_ = true;
  }
  ~ScopedDropFsetid() {
    if (dropped_ && syscall(SYS_capset, &header_, saved_) < 0) {
      fprintf(stderr, "vfsd: cannot restore CAP_FSETID: %s\n", strerror(errno));
    }
  }
  ScopedDropFsetid(const ScopedDropFsetid&) = delete;
  ScopedDropFsetid& operator=(const ScopedDropFsetid&) = delete;
  int error() const { return error_; }

 private:
  struct __user_cap_header_struct header_ = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct saved_[2] = {};
  bool dropped_ = false;
  int error_ = 0;
};

}  // namespace vfsd
