// The pending-request table of a /dev/fuse session (see fuse_pending.h).
#include "fuse_pending.h"

#include <new>

namespace vfsd {
namespace fusedev {

uint32_t PendingTable::Issue(uint64_t unique, uint32_t opcode) {
  if (free_.empty()) {
    size_t old = slots_.size();
    if (old > kIndexMask) return kNoToken;  // a million requests in flight: refuse the next
    size_t grown = old ? old * 2 : 256;
    if (grown > kIndexMask + 1) grown = kIndexMask + 1;
    try {
      slots_.resize(grown);
      free_.reserve(grown);
    } catch (const std::bad_alloc&) {
      return kNoToken;
    }
    for (size_t i = grown; i > old; --i) free_.push_back(static_cast<uint32_t>(i - 1));
  }
  uint32_t index = free_.back();
  free_.pop_back();
  Slot& s = slots_[index];
  s.unique = unique;
  s.opcode = opcode;
  s.busy = true;
  s.data = nullptr;
  s.dataLen = 0;
  return (s.generation << kIndexBits) | index;
}

PendingTable::Slot* PendingTable::Find(uint32_t token) {
  uint32_t index = token & kIndexMask;
  if (index >= slots_.size()) return nullptr;
  Slot& s = slots_[index];
  return s.busy && s.generation == token >> kIndexBits ? &s : nullptr;
}

void PendingTable::Release(uint32_t token) {
  Slot* s = Find(token);
  if (!s) return;
  s->busy = false;
  s->data = nullptr;
  s->dataLen = 0;
  std::vector<uint8_t>().swap(s->saved);
  s->generation = (s->generation + 1) & (0xffffffffu >> kIndexBits);
  if (s->generation == 0) s->generation = 1;
  free_.push_back(token & kIndexMask);
}

void PendingTable::Clear() {
  slots_.clear();
  free_.clear();
}

}  // namespace fusedev
}  // namespace vfsd
