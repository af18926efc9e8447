// Moving bytes between host buffers, files and guest buffers given as host pieces (HostSeg).
// Every function stays inside the pieces it is given; callers size them from the descriptors.
#pragma once
#include <sys/types.h>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "vhost_memory.h"

namespace vfsd {

// Total bytes of the pieces.
size_t SegsLength(const std::vector<HostSeg>& segs);
// Copies len bytes of src into the pieces starting skip bytes in; returns bytes copied (less
// than len only if the pieces end first).
size_t CopyToSegs(const std::vector<HostSeg>& segs, size_t skip, const uint8_t* src, size_t len);
// Copies up to len bytes out of the pieces; returns bytes copied.
size_t CopyFromSegs(const std::vector<HostSeg>& segs, uint8_t* dst, size_t len);
// The sub-list of pieces covering [skip, skip+len) of segs (clamped to what exists).
std::vector<HostSeg> SliceSegs(const std::vector<HostSeg>& segs, size_t skip, size_t len);
// preadv2/pwritev2 over any number of pieces (chunks of IOV_MAX), retrying EINTR and continuing
// after partial transfers until len is done, EOF, or an error. Returns bytes or -errno (only
// when nothing was transferred). With RWF_NOWAIT in flags, an EAGAIN after some bytes ends the
// transfer short and sets *wouldBlock (so a short count is EOF only when it stays false); before
// any byte it is -EAGAIN (or -EOPNOTSUPP: the file has no non-blocking I/O).
ssize_t ReadFileToSegs(int fd, const std::vector<HostSeg>& segs, off_t offset, int flags = 0,
                       bool* wouldBlock = nullptr);
ssize_t WriteFileFromSegs(int fd, const std::vector<HostSeg>& segs, off_t offset, bool killPriv,
                          int flags = 0, bool* wouldBlock = nullptr);

}  // namespace vfsd
