// The requests of a /dev/fuse session that wait for their answer. A token names one request
// until it is answered: low 20 bits index a slot, high 12 bits are the slot's generation, bumped
// on release, so a token answered twice (or made up) is refused instead of answering whichever
// request reuses the slot.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <vector>

namespace vfsd {
namespace fusedev {

class PendingTable {
 public:
  struct Slot {
    uint64_t unique = 0;
    uint32_t generation = 1;
    uint32_t opcode = 0;
    bool busy = false;
    // WRITE only: the data after fuse_write_in. Points into the inbox during onBatch, into
    // `saved` afterwards (see SaveUnansweredWrites).
    const uint8_t* data = nullptr;
    size_t dataLen = 0;
    std::vector<uint8_t> saved;
  };

  static constexpr uint32_t kIndexBits = 20;
  static constexpr uint32_t kIndexMask = (1u << kIndexBits) - 1;
  static constexpr uint32_t kNoToken = 0xffffffffu;

  // A token for a new request, or kNoToken when the table cannot grow.
  uint32_t Issue(uint64_t unique, uint32_t opcode);
  // The pending request a token names, or nullptr (answered, or never issued).
  Slot* Find(uint32_t token);
  // Forgets the request; its token is refused from now on.
  void Release(uint32_t token);
  void Clear();

 private:
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
};

}  // namespace fusedev
}  // namespace vfsd
