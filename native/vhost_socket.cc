// Unix socket plumbing for vhost-user.
#include "vhost_socket.h"
#include "fd_passing.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>

namespace vfsd {

void VuMessage::closeFds() {
  for (int fd : fds)
    if (fd >= 0) close(fd);
  fds.clear();
}

static int FillAddr(const std::string& path, sockaddr_un& a) {
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a.sun_path) return -ENAMETOOLONG;
  memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return 0;
}

// Whether someone accepts connections on the socket file at path.
static bool SocketIsLive(const sockaddr_un& a) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool live = connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return live;
}

static int LookupGroup(const std::string& name, gid_t* gid) {
  std::vector<char> buf(16384);
  group g;
  group* res = nullptr;
  int rc = getgrnam_r(name.c_str(), &g, buf.data(), buf.size(), &res);
  if (rc != 0) return -rc;
  if (!res) return -ENOENT;
  *gid = g.gr_gid;
  return 0;
}

int CreateListener(const std::string& path, const std::string& group) {
  sockaddr_un a;
  int rc = FillAddr(path, a);
  if (rc < 0) return rc;
  gid_t gid = 0;
  if (!group.empty() && (rc = LookupGroup(group, &gid)) < 0) return rc;
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return -EEXIST;  // never delete someone's regular file
    if (SocketIsLive(a)) return -EADDRINUSE;
    if (unlink(path.c_str()) < 0 && errno != ENOENT) return -errno;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -errno;
  if (bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) < 0 || listen(fd, 1) < 0) {
    rc = -errno;
    close(fd);
    return rc;
  }
  if (!group.empty() && chown(path.c_str(), static_cast<uid_t>(-1), gid) < 0) {
    rc = -errno;
    close(fd);
    unlink(path.c_str());
    return rc;
  }
  return fd;
}

int MessageReader::read(int sock, VuMessage& msg) {
  for (;;) {
    uint8_t* dst;
    uint32_t want;
    if (got_ < vu::kHeaderSize) {
      if (got_ == 0) {
        msg.closeFds();  // a new message starts with no fds
        msg.size = 0;
      }
      dst = header_ + got_;
      want = vu::kHeaderSize - got_;
    } else {
      dst = msg.payload + (got_ - vu::kHeaderSize);
      want = msg.size - (got_ - vu::kHeaderSize);
    }
    if (want == 0) {
      got_ = 0;
      return 1;
    }
    // Every fd we were given is taken first, so none leaks whatever we decide next.
    bool badFds = false;
    ssize_t n = RecvWithFds(sock, dst, want, MSG_DONTWAIT, &msg.fds, &badFds);
    if (n < 0) {
      if (n == -EINTR) continue;
      if (n == -EAGAIN || n == -EWOULDBLOCK) return 0;
      return static_cast<int>(n);
    }
    if (msg.fds.size() > vu::kMaxFdsPerMessage) badFds = true;
    if (badFds) {
      msg.closeFds();
      got_ = 0;
      return -EPROTO;
    }
    if (n == 0) {
      msg.closeFds();
      got_ = 0;
      return -ECONNRESET;
    }
    got_ += static_cast<uint32_t>(n);
    if (got_ == vu::kHeaderSize) {
      memcpy(&msg.request, header_, 4);
      memcpy(&msg.flags, header_ + 4, 4);
      memcpy(&msg.size, header_ + 8, 4);
      if ((msg.flags & vu::kVersionMask) != vu::kVersion || msg.size > vu::kMaxPayload) {
        msg.closeFds();
        got_ = 0;
        return -EPROTO;
      }
    }
  }
}

int SendReply(int sock, uint32_t request, const void* payload, uint32_t size) {
  uint32_t hdr[3] = {request, vu::kVersion | vu::kReplyFlag, size};
  iovec iov[2] = {{hdr, sizeof hdr}, {const_cast<void*>(payload), size}};
  msghdr mh{};
  mh.msg_iov = iov;
  mh.msg_iovlen = size ? 2 : 1;
  size_t total = sizeof hdr + size;
  for (;;) {
    ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    // Replies are tiny; a full socket buffer means the front end stopped reading.
    return static_cast<size_t>(n) == total ? 0 : -EAGAIN;
  }
}

}  // namespace vfsd
