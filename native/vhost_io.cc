// Scatter/gather helpers for guest buffers.
#include "vhost_io.h"
#include "transport_common.h"

#include <sys/uio.h>
#include <unistd.h>
#include <cerrno>
#include <climits>
#include <cstring>

namespace vfsd {

size_t SegsLength(const std::vector<HostSeg>& segs) {
  size_t n = 0;
  for (const HostSeg& s : segs) n += s.len;
  return n;
}

size_t CopyToSegs(const std::vector<HostSeg>& segs, size_t skip, const uint8_t* src, size_t len) {
  size_t done = 0;
  for (const HostSeg& s : segs) {
    if (done == len) break;
    if (skip >= s.len) {
      skip -= s.len;
      continue;
    }
    size_t n = s.len - skip;
    if (n > len - done) n = len - done;
    memcpy(s.p + skip, src + done, n);
    done += n;
    skip = 0;
  }
  return done;
}

size_t CopyFromSegs(const std::vector<HostSeg>& segs, uint8_t* dst, size_t len) {
  size_t done = 0;
  for (const HostSeg& s : segs) {
    if (done == len) break;
    size_t n = s.len < len - done ? s.len : len - done;
    memcpy(dst + done, s.p, n);
    done += n;
  }
  return done;
}

std::vector<HostSeg> SliceSegs(const std::vector<HostSeg>& segs, size_t skip, size_t len) {
  std::vector<HostSeg> out;
  for (const HostSeg& s : segs) {
    if (len == 0) break;
    if (skip >= s.len) {
      skip -= s.len;
      continue;
    }
    size_t n = s.len - skip;
    if (n > len) n = len;
    out.push_back(HostSeg{s.p + skip, n});
    len -= n;
    skip = 0;
  }
  return out;
}

namespace {

template <typename Op>
ssize_t Transfer(const std::vector<HostSeg>& segs, off_t offset, bool* wouldBlock, Op op) {
  std::vector<iovec> iov;
  iov.reserve(segs.size());
  for (const HostSeg& s : segs)
    if (s.len) iov.push_back(iovec{s.p, s.len});
  size_t first = 0;
  ssize_t total = 0;
  while (first < iov.size()) {
    int cnt = static_cast<int>(iov.size() - first < IOV_MAX ? iov.size() - first : IOV_MAX);
    ssize_t n = op(iov.data() + first, cnt, offset + total);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN && total > 0 && wouldBlock) *wouldBlock = true;
      return total > 0 ? total : -errno;
    }
    if (n == 0) break;  // EOF (read) or nothing written
    total += n;
    // Skip the pieces that are complete; shorten the one we stopped in.
    size_t left = static_cast<size_t>(n);
    while (first < iov.size() && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (left > 0) {
      iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return total;
}

}  // namespace

ssize_t ReadFileToSegs(int fd, const std::vector<HostSeg>& segs, off_t offset, int flags,
                       bool* wouldBlock) {
  return Transfer(segs, offset, wouldBlock,
                  [fd, flags](const iovec* v, int c, off_t o) { return preadv2(fd, v, c, o, flags); });
}

ssize_t WriteFileFromSegs(int fd, const std::vector<HostSeg>& segs, off_t offset, bool killPriv,
                          int flags, bool* wouldBlock) {
  ScopedDropFsetid guard(killPriv);
  // As on /dev/fuse (WriteFull): writing with the privilege still in place would keep the
  // suid/sgid bits the caller asked to kill, so a failed drop fails the write instead.
  if (guard.error()) return -guard.error();
  return Transfer(segs, offset, wouldBlock,
                  [fd, flags](const iovec* v, int c, off_t o) { return pwritev2(fd, v, c, o, flags); });
}

}  // namespace vfsd
