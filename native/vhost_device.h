// A vhost-user-fs back end: one listening socket, at most one front end at a time, its guest
// memory and virtqueues, and the requests taken from them that the engine has not answered yet.
//
// Everything runs on the JS thread: the listening socket, the connection and every kick eventfd
// are polled by libuv (uv_poll_t, non-blocking fds). A kick drains every ready queue into a
// batch that the Host (the N-API wrapper) hands to the engine in one call, and again after it
// until nothing is left: kicks stay off meanwhile and are asked for only before sleeping
// (fillBatch), and each queue's interrupt goes out once per batch (batchOpen_).
//
// What the guest can make us hold is bounded three ways: each queue holds at most its ring size
// (Virtqueue counts), all queues together at most kMaxPending requests and kMaxHeldSegments
// guest pieces (what a held request costs). At a bound we stop taking chains and leave them in
// the avail rings (back-pressure); the next answer schedules a drain (drainSoon), so nothing
// waits for a kick that already came.
//
// Ownership: the device owns the listener fd, the connection fd, the poll handles and the
// drain-later idle handle (each freed by its uv_close callback), the guest memory mappings (GuestMemory) and, through each
// Virtqueue, the kick/call/err fds. Pending requests hold only guest addresses, translated
// again when answered, so a memory table change can never leave us writing through a stale
// mapping.
#pragma once
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data_jobs.h"
#include "vhost_jobs.h"
#include "vhost_memory.h"
#include "vhost_socket.h"
#include "vhost_virtqueue.h"

namespace vfsd {

// What the device tells its owner (JS). Calls happen on the JS thread, from libuv callbacks.
class VhostHost {
 public:
  virtual ~VhostHost() = default;
  virtual void onBatch(uint32_t count) = 0;
  // type: connected, ready, disconnected, error (message says what went wrong; the session
  // goes on unless a 'disconnected' follows).
  virtual void onEvent(const char* type, const std::string& message) = 0;
};

struct VhostDeviceConfig {
  std::string socketPath;
  int listenFd = -1;
  std::string socketGroup;
  uint32_t requestQueues = 1;
  uint32_t maxRequestSize = 0;
};

class VhostDevice {
 public:
  static constexpr uint32_t kTableEntries = 1024;  // requests per batch at most
  // Requests held over all queues (QEMU's rings are at most 1024 each; a guest kernel has far
  // fewer in flight). Each costs a slot of about 100 bytes plus its pieces.
  static constexpr uint32_t kMaxPending = 1u << 16;
  // Guest pieces (GuestSeg, 16 bytes) held over all requests: 256 chains of the largest size
  // (kMaxChainDescs), 4 MiB, however large the rings.
  static constexpr uint64_t kMaxHeldSegments = 1u << 18;

  VhostDevice(uv_loop_t* loop, VhostHost* host, const VhostDeviceConfig& cfg, uint8_t* inbox,
              size_t inboxSize, uint32_t* table);
  ~VhostDevice();
  VhostDevice(const VhostDevice&) = delete;
  VhostDevice& operator=(const VhostDevice&) = delete;

  int listen();
  void start();  // the engine is ready: deliver requests from now on
  void close();  // idempotent; no events after it

  // Answers (see src/native/channel.ts). Return 0 or -errno; -ENOENT: unknown or stale token
  // (already answered, ring stopped, device reset, or front end gone).
  int reply(uint32_t token, const uint8_t* buf, size_t len);
  int replyError(uint32_t token, int err);
  // size beyond what any request carries (kMaxIoSize) is answered EINVAL.
  // path: DataPath (data_jobs.h); >= 0 is a PathResult.
  int readInto(uint32_t token, int fd, uint64_t size, int64_t offset, uint32_t path = kPathInline);
  int writeFrom(uint32_t token, int fd, uint64_t size, int64_t offset, bool killPriv,
                uint32_t path = kPathInline);
  int fileJob(uint32_t token, FileJobArgs args, uint32_t path);
  int done(uint32_t token);

  // libuv glue (public for the C callback only).
  struct Poll;
  void onPoll(int which, int status, int events);

 private:
  struct Pending {
    bool live = false;
    uint32_t gen = 0;
    uint16_t queue = 0;
    uint16_t head = 0;
    uint32_t epoch = 0;
    uint64_t unique = 0;
    std::vector<GuestSeg> writable;  // reply space
    std::vector<GuestSeg> data;      // WRITE payload left in guest memory
    uint64_t dataLen = 0;
    uint32_t segs = 0;               // pieces counted in heldSegs_
    uint32_t batch = 0;              // the fill that delivered it (batchSerial_)
  };
  enum class Outcome { Ok, Failed, Replied, Malformed };

  // control plane (vhost_device_control.cc)
  void onListenReadable();
  void onConnReadable(int status, int events);
  Outcome dispatch(VuMessage& m, std::string& why);
  Outcome setMemTable(VuMessage& m, std::string& why);
  Outcome setVringFd(VuMessage& m, std::string& why);
  int sendU64(uint32_t request, uint64_t v);
  void dropConnection(const std::string& why);
  void resetDevice();
  void stopRing(uint32_t q);
  void remapRings();
  void startKickPoll(uint32_t q);
  void stopPoll(Poll*& p);
  void onKick(uint32_t q);
  void checkReady();
  void emit(const char* type, const std::string& message = std::string());

  // data plane (vhost_device_data.cc)
  void drain();
  uint32_t fillBatch();
  int deliver(uint32_t q, uint32_t index, size_t& inboxUsed);
  Pending* lookup(uint32_t token);
  uint32_t allocSlot();
  bool mapSegs(const std::vector<GuestSeg>& segs, std::vector<HostSeg>& out);
  void finish(Pending& p, uint32_t usedLen);
  int answerBytes(Pending& p, const uint8_t* buf, size_t len);
  int answerError(Pending& p, int err);
  void signalQueue(uint32_t q);
  void flushSignal(uint32_t q);
  void flushSignals();
  void dropAllPending();
  void drainSoon();

  // worker-pool jobs (vhost_jobs.cc; see vhost_jobs.h)
  friend class VhostDataJob;
  friend class VhostFileJob;
  friend struct VhostJobLink;
  VhostJobLink* jobLink();
  // Held around every change of mem_ and every ring stop (ring >= 0): running jobs end first.
  VhostJobLink::Change memoryChange(int ring = -1) { return VhostJobLink::Change(jobs_.get(), ring); }
  void detachJobs();
  int postData(Pending& p, uint32_t token, bool write, int fd, uint32_t size, int64_t offset,
               bool killPriv, uint64_t already);
  int postFile(uint32_t token, const FileJobArgs& args);
  void completeData(uint32_t token, bool write, int64_t result);
  void completeFile(uint32_t token, FileOp op, int64_t result);
  int answerRead(Pending& p, const std::vector<HostSeg>& out, ssize_t n);
  int answerWritten(Pending& p, const std::vector<HostSeg>& out, ssize_t n);

  uv_loop_t* loop_;
  VhostHost* host_;
  VhostDeviceConfig cfg_;
  uint8_t* inbox_;
  size_t inboxSize_;
  uint32_t* table_;

  int listenFd_ = -1;
  bool ownsSocketPath_ = false;
  Poll* listenPoll_ = nullptr;
  int conn_ = -1;
  Poll* connPoll_ = nullptr;
  uv_idle_t* drainLater_ = nullptr;  // runs drain() from the loop after answers freed room
  MessageReader reader_;
  std::unique_ptr<VuMessage> msg_;

  GuestMemory mem_;
  std::vector<std::unique_ptr<Virtqueue>> queues_;
  std::vector<Poll*> kickPolls_;
  std::vector<bool> needSignal_;
  // Requests of the batch being served, per queue, not answered yet: when the engine answers
  // the last of them inside the batch, the guest hears it at once instead of after the rest of
  // the engine's batch (a guest sending one request at a time waits for exactly that). Still
  // one interrupt per queue per batch.
  uint32_t batchSerial_ = 0;
  std::vector<uint32_t> batchOpen_;
  uint64_t features_ = 0;
  uint64_t protocolFeatures_ = 0;
  bool readyEmitted_ = false;

  bool started_ = false;
  bool closed_ = false;
  bool draining_ = false;
  bool inBatch_ = false;
  // A fill stopped at a bound (queue full, kMaxPending, kMaxHeldSegments) with chains left in
  // an avail ring: the next answer must drain again.
  bool backlog_ = false;
  uint64_t heldSegs_ = 0;
  std::vector<Pending> slots_;
  std::vector<uint32_t> freeSlots_;
  Chain chain_;
  std::vector<HostSeg> hostSegs_;
  std::vector<std::string> deferredErrors_;
  std::shared_ptr<VhostJobLink> jobs_;  // made by the first job posted
  bool completingJobs_ = false;        // pool completions: queue signals wait for the end
};

}  // namespace vfsd
