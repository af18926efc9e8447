// Guest memory as the front end shares it: a table of regions, each an fd we mmap once.
// Two address spaces index it: guest-physical addresses (descriptors) and the front end's own
// virtual addresses (ring addresses from SET_VRING_ADDR). Every lookup is bounds-checked against
// the region, so a hostile guest naming an address outside its memory gets "no mapping", never a
// pointer outside what we mapped.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vfsd {

struct MemRegionDesc {
  uint64_t guestAddr;
  uint64_t size;
  uint64_t userAddr;
  uint64_t mmapOffset;
};

struct MemRegion {
  MemRegionDesc d;
  uint8_t* base = nullptr;   // what mmap returned (covers mmapOffset + size)
  size_t mapLen = 0;
  uint8_t* host() const { return base + d.mmapOffset; }
};

// A piece of host memory that backs a guest buffer.
struct HostSeg {
  uint8_t* p;
  size_t len;
};

class GuestMemory {
 public:
  static constexpr unsigned kMaxRegions = 32;  // = vu::kMaxMemSlots
  GuestMemory() = default;
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;
  ~GuestMemory() { clear(); }

  // Maps fd (which stays owned by the caller) and adds the region. False, with why saying what
  // is wrong, if the region is refused.
  bool add(const MemRegionDesc& d, int fd, std::string& why);
  // Removes the region with the same guest address, size and user address. 0 or -errno.
  int remove(const MemRegionDesc& d);
  // Unmaps everything.
  void clear();
  size_t count() const { return regions_.size(); }

  // Host pointer for len bytes at front-end virtual address va, all inside one region, or null.
  uint8_t* fromUser(uint64_t va, uint64_t len) const;
  // Appends the host pieces backing [gpa, gpa+len) (may span adjacent regions). False if any
  // byte is outside guest memory or the range overflows.
  bool fromGuest(uint64_t gpa, uint64_t len, std::vector<HostSeg>& out) const;

 private:
  std::vector<MemRegion> regions_;
};

}  // namespace vfsd
