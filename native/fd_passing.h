// Receiving bytes together with file descriptors (SCM_RIGHTS) on a unix socket: the /dev/fuse fd
// fusermount3 passes back (fuse_mount.cc), the vhost-user front end's messages (vhost_socket.cc,
// which adds its own limit and framing) and the tests' front end (vhost_test_support.cc).
#pragma once
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <vector>

namespace vfsd {

// The most fds one message may carry here; more are dropped by the kernel (MSG_CTRUNC).
constexpr size_t kMaxPassedFds = 16;

// One recvmsg of up to len bytes (flags: e.g. MSG_DONTWAIT; close-on-exec is always added).
// Every fd received is appended to *fds, so that none leaks whatever the caller decides next;
// *truncated (if given) says whether the kernel had to drop some. Returns the byte count (0 at
// EOF) or -errno.
inline ssize_t RecvWithFds(int sock, void* buf, size_t len, int flags, std::vector<int>* fds,
                           bool* truncated = nullptr) {
  iovec iov{buf, len};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * kMaxPassedFds)];
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl;
  mh.msg_controllen = sizeof ctl;
  ssize_t n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
  if (n < 0) return -errno;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds->push_back(fd);
    }
  }
  if (truncated) *truncated = (mh.msg_flags & MSG_CTRUNC) != 0;
  return n;
}

}  // namespace vfsd
