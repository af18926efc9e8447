// Answers to /dev/fuse and the bulk-data jobs (READ and WRITE bytes move here, never through JS).
// Each takes only plain values (device fd, unique, file fd, sizes, its own buffer) and touches no
// session or JS state, so it can run on a worker thread without changing the JS API.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <vector>

namespace vfsd {
namespace fusedev {

// Writes the whole iovec to the device: 0, or -errno (-EIO for a short write).
int WriteAnswer(int devFd, const struct iovec* iov, int iovcnt, size_t total);
// Answers request `unique` with error and payload; 0 also when the kernel already dropped it.
int Answer(int devFd, uint64_t unique, int32_t error, const uint8_t* payload, size_t len);
// READ: pread size bytes at offset (into *scratch) and answer them.
int ReadJob(int devFd, uint64_t unique, int fd, size_t size, off_t offset,
            std::vector<uint8_t>* scratch);
// WRITE: pwrite the request's data and answer the count; killPriv drops CAP_FSETID meanwhile.
int WriteJob(int devFd, uint64_t unique, int fd, const uint8_t* data, size_t size, off_t offset,
             bool killPriv);

}  // namespace fusedev
}  // namespace vfsd
