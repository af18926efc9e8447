// Guest memory regions: mmap on add, munmap on remove/clear, bounds-checked translation.
#include "vhost_memory.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace vfsd {

bool GuestMemory::add(const MemRegionDesc& d, int fd, std::string& why) {
  if (regions_.size() >= kMaxRegions) {
    why = "no free memory slot";
    return false;
  }
  // Sizes that overflow any of the address spaces would make later bounds checks wrap.
  if (d.size == 0 || d.guestAddr + d.size < d.guestAddr || d.userAddr + d.size < d.userAddr ||
      d.mmapOffset + d.size < d.mmapOffset || d.mmapOffset + d.size > SIZE_MAX) {
    why = "empty region, or its range overflows";
    return false;
  }
  for (const MemRegion& r : regions_) {
    // Overlapping guest ranges would make translation ambiguous.
    if (d.guestAddr < r.d.guestAddr + r.d.size && r.d.guestAddr < d.guestAddr + d.size) {
      why = "overlaps another region";
      return false;
    }
  }
  // mmap succeeds past the end of a file, and the first access there is SIGBUS: the whole
  // server would die on the first reply written into a region whose file is shorter than the
  // front end says (QEMU's files always cover their regions; a broken front end's may not).
  // Guest RAM is a regular file (memfd, hugetlbfs, /dev/shm); anything else has no size to check.
  struct stat st;
  if (fstat(fd, &st) < 0) {
    why = "fstat: " + std::string(strerror(errno));
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    why = "its fd is not a regular file";
    return false;
  }
  if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) < d.mmapOffset + d.size) {
    why = "its file holds " + std::to_string(st.st_size) + " bytes, less than mmap offset + size (" +
          std::to_string(d.mmapOffset + d.size) + ")";
    return false;
  }
  // Map from file offset 0 so mmap_offset need not be page aligned; the region starts
  // mmapOffset bytes into the mapping.
  size_t len = static_cast<size_t>(d.mmapOffset + d.size);
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
  if (p == MAP_FAILED) {
    why = "mmap: " + std::string(strerror(errno));
    return false;
  }
  MemRegion r;
  r.d = d;
  r.base = static_cast<uint8_t*>(p);
  r.mapLen = len;
  regions_.push_back(r);
  return true;
}

int GuestMemory::remove(const MemRegionDesc& d) {
  for (size_t i = 0; i < regions_.size(); i++) {
    const MemRegion& r = regions_[i];
    if (r.d.guestAddr == d.guestAddr && r.d.size == d.size && r.d.userAddr == d.userAddr) {
      munmap(r.base, r.mapLen);
      regions_.erase(regions_.begin() + static_cast<long>(i));
      return 0;
    }
  }
  return -ENOENT;
}

void GuestMemory::clear() {
  for (const MemRegion& r : regions_) munmap(r.base, r.mapLen);
  regions_.clear();
}

uint8_t* GuestMemory::fromUser(uint64_t va, uint64_t len) const {
  if (va + len < va) return nullptr;
  for (const MemRegion& r : regions_) {
    if (va >= r.d.userAddr && va - r.d.userAddr <= r.d.size && len <= r.d.size - (va - r.d.userAddr))
      return r.host() + (va - r.d.userAddr);
  }
  return nullptr;
}

bool GuestMemory::fromGuest(uint64_t gpa, uint64_t len, std::vector<HostSeg>& out) const {
  if (gpa + len < gpa) return false;
  while (len > 0) {
    const MemRegion* hit = nullptr;
    for (const MemRegion& r : regions_) {
      if (gpa >= r.d.guestAddr && gpa - r.d.guestAddr < r.d.size) { hit = &r; break; }
    }
    if (!hit) return false;
    uint64_t off = gpa - hit->d.guestAddr;
    uint64_t n = hit->d.size - off;
    if (n > len) n = len;
    out.push_back(HostSeg{hit->host() + off, static_cast<size_t>(n)});
    gpa += n;
    len -= n;
  }
  return true;
}

}  // namespace vfsd
