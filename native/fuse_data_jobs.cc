// Answers and the bulk-data jobs of /dev/fuse (see fuse_data_jobs.h).
#include "fuse_data_jobs.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <new>

#include "transport_common.h"

namespace vfsd {
namespace fusedev {

// Writes the whole iovec to the device. The kernel takes a FUSE answer in one write or rejects it,
// so a short write is an error, never something to continue.
int WriteAnswer(int devFd, const struct iovec* iov, int iovcnt, size_t total) {
  for (;;) {
    ssize_t n = writev(devFd, iov, iovcnt);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    return static_cast<size_t>(n) == total ? 0 : -EIO;
  }
}

// An answer to a request. ENOENT means the request was interrupted and the kernel already dropped
// it: the answer simply has no one left to go to, which is not an error for the engine.
int Answer(int devFd, uint64_t unique, int32_t error, const uint8_t* payload, size_t len) {
  OutHeader h{static_cast<uint32_t>(sizeof(OutHeader) + len), error, unique};
  struct iovec iov[2] = {{&h, sizeof h}, {const_cast<uint8_t*>(payload), len}};
  int r = WriteAnswer(devFd, iov, len ? 2 : 1, h.len);
  return r == -ENOENT ? 0 : r;
}

// READ: pread into `scratch` after room for the out header, answer header + data in one write.
// Short reads are answered short (FUSE's EOF); an error before any byte is answered as the error.
int ReadJob(int devFd, uint64_t unique, int fd, size_t size, off_t offset,
            std::vector<uint8_t>* scratch) {
  if (scratch->size() < sizeof(OutHeader) + size) {
    try {
      scratch->resize(sizeof(OutHeader) + size);
    } catch (const std::bad_alloc&) {
      return Answer(devFd, unique, -ENOMEM, nullptr, 0);
    }
  }
  uint8_t* data = scratch->data() + sizeof(OutHeader);
  size_t got = 0;
  int error = 0;
  while (got < size) {
    ssize_t n = pread(fd, data + got, size - got, offset + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = errno;
      break;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (error && got == 0) return Answer(devFd, unique, -error, nullptr, 0);
  OutHeader h{static_cast<uint32_t>(sizeof(OutHeader) + got), 0, unique};
  memcpy(scratch->data(), &h, sizeof h);
  struct iovec iov = {scratch->data(), h.len};
  int r = WriteAnswer(devFd, &iov, 1, h.len);
  return r == -ENOENT ? 0 : r;
}

// WRITE: pwrite the request's data, answer fuse_write_out with the count written.
int WriteJob(int devFd, uint64_t unique, int fd, const uint8_t* data, size_t size, off_t offset,
             bool killPriv) {
  ssize_t n;
  {
    ScopedDropFsetid drop(killPriv);
    // Writing with the privilege still in place would keep suid/sgid the caller asked to kill.
    if (drop.error()) return Answer(devFd, unique, -drop.error(), nullptr, 0);
    do {
      n = pwrite(fd, data, size, offset);
    } while (n < 0 && errno == EINTR);
    if (n < 0) n = -errno;
  }
  if (n < 0) return Answer(devFd, unique, static_cast<int32_t>(n), nullptr, 0);
  WriteOut out{static_cast<uint32_t>(n), 0};
  return Answer(devFd, unique, 0, reinterpret_cast<const uint8_t*>(&out), sizeof out);
}

}  // namespace fusedev
}  // namespace vfsd
