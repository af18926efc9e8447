// Guest memory regions: mmap on add, munmap on remove/clear, bounds-checked translation.
#include "vhost_memory.h"

#include <sys/mman.h>
#include <cerrno>

namespace vfsd {

int GuestMemory::add(const MemRegionDesc& d, int fd) {
  if (regions_.size() >= kMaxRegions) return -ENOSPC;
  // Sizes that overflow any of the address spaces would make later bounds checks wrap.
  if (d.size == 0 || d.guestAddr + d.size < d.guestAddr || d.userAddr + d.size < d.userAddr ||
      d.mmapOffset + d.size < d.mmapOffset || d.mmapOffset + d.size > SIZE_MAX)
    return -EINVAL;
  for (const MemRegion& r : regions_) {
    // Overlapping guest ranges would make translation ambiguous.
    if (d.guestAddr < r.d.guestAddr + r.d.size && r.d.guestAddr < d.guestAddr + d.size) return -EEXIST;
  }
  // Map from file offset 0 so mmap_offset need not be page aligned; the region starts
  // mmapOffset bytes into the mapping.
  size_t len = static_cast<size_t>(d.mmapOffset + d.size);
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
  if (p == MAP_FAILED) return -errno;
  MemRegion r;
  r.d = d;
  r.base = static_cast<uint8_t*>(p);
  r.mapLen = len;
  regions_.push_back(r);
  return 0;
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
