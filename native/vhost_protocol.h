// Constants and wire layouts of the vhost-user protocol (QEMU docs/interop/vhost-user.rst) and
// of the split virtqueue (virtio 1.x, "Split Virtqueues"). Numbers only, no behaviour.
#pragma once
#include <cstdint>

namespace vfsd {
namespace vu {

// Message types (front end -> back end).
enum Request : uint32_t {
  GET_FEATURES = 1,
  SET_FEATURES = 2,
  SET_OWNER = 3,
  RESET_OWNER = 4,
  SET_MEM_TABLE = 5,
  SET_LOG_BASE = 6,
  SET_LOG_FD = 7,
  SET_VRING_NUM = 8,
  SET_VRING_ADDR = 9,
  SET_VRING_BASE = 10,
  GET_VRING_BASE = 11,
  SET_VRING_KICK = 12,
  SET_VRING_CALL = 13,
  SET_VRING_ERR = 14,
  GET_PROTOCOL_FEATURES = 15,
  SET_PROTOCOL_FEATURES = 16,
  GET_QUEUE_NUM = 17,
  SET_VRING_ENABLE = 18,
  GET_MAX_MEM_SLOTS = 36,
  ADD_MEM_REG = 37,
  REM_MEM_REG = 38,
};

// Header flags.
constexpr uint32_t kVersion = 0x1;
constexpr uint32_t kVersionMask = 0x3;
constexpr uint32_t kReplyFlag = 1u << 2;
constexpr uint32_t kNeedReplyFlag = 1u << 3;

constexpr uint32_t kHeaderSize = 12;
// Our largest accepted payload; the largest real one (SET_MEM_TABLE with 8 regions) is 264 bytes.
constexpr uint32_t kMaxPayload = 4096;
// SET_MEM_TABLE carries at most this many regions (and fds).
constexpr unsigned kMaxMemTableRegions = 8;
constexpr unsigned kMaxFdsPerMessage = 8;
// ADD_MEM_REG lets the front end use more slots than SET_MEM_TABLE could.
constexpr unsigned kMaxMemSlots = 32;

// SET_VRING_KICK/CALL/ERR u64 payload: vring index in the low byte, bit 8 = no fd.
constexpr uint64_t kVringIndexMask = 0xff;
constexpr uint64_t kVringNoFdMask = 1u << 8;

// Virtio feature bits.
constexpr uint64_t F_INDIRECT_DESC = 1ull << 28;
constexpr uint64_t F_EVENT_IDX = 1ull << 29;
constexpr uint64_t F_PROTOCOL_FEATURES = 1ull << 30;  // vhost-user's use of the reserved bit
constexpr uint64_t F_VERSION_1 = 1ull << 32;
constexpr uint64_t kOfferedFeatures = F_INDIRECT_DESC | F_EVENT_IDX | F_PROTOCOL_FEATURES | F_VERSION_1;

// Protocol feature bits (only the ones we implement are offered).
constexpr uint64_t PF_MQ = 1ull << 0;
constexpr uint64_t PF_REPLY_ACK = 1ull << 3;
constexpr uint64_t PF_CONFIGURE_MEM_SLOTS = 1ull << 15;
constexpr uint64_t kOfferedProtocolFeatures = PF_MQ | PF_REPLY_ACK | PF_CONFIGURE_MEM_SLOTS;

// Payload layouts (native byte order, packed as on the wire).
struct VringState {
  uint32_t index;
  uint32_t num;
};
struct VringAddr {
  uint32_t index;
  uint32_t flags;
  uint64_t desc;
  uint64_t used;
  uint64_t avail;
  uint64_t log;
};
struct MemRegionWire {
  uint64_t guestAddr;
  uint64_t size;
  uint64_t userAddr;
  uint64_t mmapOffset;
};
static_assert(sizeof(VringState) == 8, "wire layout");
static_assert(sizeof(VringAddr) == 40, "wire layout");
static_assert(sizeof(MemRegionWire) == 32, "wire layout");

}  // namespace vu

namespace vring {
// Split virtqueue layout.
constexpr uint16_t DESC_F_NEXT = 1;
constexpr uint16_t DESC_F_WRITE = 2;
constexpr uint16_t DESC_F_INDIRECT = 4;
constexpr uint16_t AVAIL_F_NO_INTERRUPT = 1;
constexpr uint16_t USED_F_NO_NOTIFY = 1;
constexpr uint32_t kMaxQueueSize = 32768;

struct Desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(Desc) == 16, "wire layout");
}  // namespace vring

}  // namespace vfsd
