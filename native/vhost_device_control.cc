// vhost-user control plane: the listening socket, the front end's messages, memory and ring
// configuration, connection teardown.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "vhost_device.h"
#include "vhost_protocol.h"

namespace vfsd {

// A libuv poll on one fd. Freed by its own close callback, so the device can forget it at once.
struct VhostDevice::Poll {
  uv_poll_t handle;
  VhostDevice* owner;
  int queue;  // kick polls: the queue; -1 listener; -2 connection
};

static std::string Errno(int err) { return std::string(strerror(err)); }

VhostDevice::VhostDevice(uv_loop_t* loop, VhostHost* host, const VhostDeviceConfig& cfg,
                         uint8_t* inbox, size_t inboxSize, uint32_t* table)
    : loop_(loop), host_(host), cfg_(cfg), inbox_(inbox), inboxSize_(inboxSize), table_(table),
      msg_(new VuMessage()) {
  uint32_t n = 1 + cfg.requestQueues;
  for (uint32_t i = 0; i < n; i++) queues_.emplace_back(new Virtqueue());
  kickPolls_.assign(n, nullptr);
  needSignal_.assign(n, false);
  batchOpen_.assign(n, 0);
  drainLater_ = new uv_idle_t;
  if (uv_idle_init(loop_, drainLater_) != 0) {
    delete drainLater_;  // cannot happen in libuv; without it a backlog waits for the next kick
    drainLater_ = nullptr;
  } else {
    drainLater_->data = this;
  }
}

VhostDevice::~VhostDevice() { close(); }

static void PollCallback(uv_poll_t* h, int status, int events);

int VhostDevice::listen() {
  if (closed_) return -EBADF;
  if (listenFd_ >= 0) return -EALREADY;
  int fd;
  if (!cfg_.socketPath.empty()) {
    fd = CreateListener(cfg_.socketPath, cfg_.socketGroup);
    if (fd < 0) return fd;
    ownsSocketPath_ = true;
  } else if (cfg_.listenFd >= 0) {
    int acc = 0;
    socklen_t len = sizeof acc;
    if (getsockopt(cfg_.listenFd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) < 0) return -errno;
    if (!acc) return -EINVAL;  // not a listening socket
    int fl = fcntl(cfg_.listenFd, F_GETFL);
    if (fl < 0 || fcntl(cfg_.listenFd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
    fd = cfg_.listenFd;  // from now on ours to close
  } else {
    return -EINVAL;
  }
  listenFd_ = fd;
  listenPoll_ = new Poll{{}, this, -1};
  int rc = uv_poll_init(loop_, &listenPoll_->handle, fd);
  if (rc == 0) {
    listenPoll_->handle.data = listenPoll_;
    rc = uv_poll_start(&listenPoll_->handle, UV_READABLE, PollCallback);
  } else {
    delete listenPoll_;
    listenPoll_ = nullptr;
  }
  if (rc < 0) {
    close();
    return rc;  // libuv errors are -errno on Unix
  }
  return 0;
}

void VhostDevice::start() {
  started_ = true;
  drain();
}

void VhostDevice::close() {
  if (closed_) return;
  closed_ = true;
  detachJobs();  // jobs in guest memory end first; the rest complete into nothing
  if (conn_ >= 0) {
    stopPoll(connPoll_);
    ::close(conn_);
    conn_ = -1;
    resetDevice();
  }
  stopPoll(listenPoll_);
  if (drainLater_) {
    uv_close(reinterpret_cast<uv_handle_t*>(drainLater_), [](uv_handle_t* h) { delete reinterpret_cast<uv_idle_t*>(h); });
    drainLater_ = nullptr;
  }
  if (listenFd_ >= 0) ::close(listenFd_);
  listenFd_ = -1;
  if (ownsSocketPath_) unlink(cfg_.socketPath.c_str());
  ownsSocketPath_ = false;
}

static void PollCallback(uv_poll_t* h, int status, int events) {
  auto* p = static_cast<VhostDevice::Poll*>(h->data);
  p->owner->onPoll(p->queue, status, events);
}

void VhostDevice::onPoll(int which, int status, int events) {
  if (closed_) return;
  if (which == -1) onListenReadable();
  else if (which == -2) onConnReadable(status, events);
  else onKick(static_cast<uint32_t>(which));
}

void VhostDevice::stopPoll(Poll*& p) {
  if (!p) return;
  // uv_close stops polling now (so the fd may be closed right after) and frees later.
  uv_close(reinterpret_cast<uv_handle_t*>(&p->handle),
           [](uv_handle_t* h) { delete static_cast<Poll*>(h->data); });
  p = nullptr;
}

void VhostDevice::onListenReadable() {
  int fd = accept4(listenFd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return;  // EAGAIN or a connection that went away before we took it
  if (conn_ >= 0) {
    // One front end at a time, as virtiofsd: a second one is turned away at once.
    ::close(fd);
    emit("error", "a second front end tried to connect while one is connected; refused");
    return;
  }
  Poll* p = new Poll{{}, this, -2};
  if (uv_poll_init(loop_, &p->handle, fd) != 0) {
    delete p;
    ::close(fd);
    emit("error", "cannot poll the new connection");
    return;
  }
  p->handle.data = p;
  uv_poll_start(&p->handle, UV_READABLE | UV_DISCONNECT, PollCallback);
  conn_ = fd;
  connPoll_ = p;
  reader_.reset();
  emit("connected");
}

void VhostDevice::onConnReadable(int status, int events) {
  if (status < 0) {
    dropConnection("connection poll failed: " + std::string(uv_strerror(status)));
    return;
  }
  int conn = conn_;
  while (!closed_ && conn_ == conn && conn_ >= 0) {
    int rc = reader_.read(conn_, *msg_);
    if (rc == 0) return;
    if (rc < 0) {
      if (rc == -ECONNRESET) dropConnection("");
      else if (rc == -EPROTO) dropConnection("malformed vhost-user message (bad version, size or fds)");
      else dropConnection("vhost-user socket: " + Errno(-rc));
      return;
    }
    VuMessage& m = *msg_;
    std::string why;
    Outcome o = dispatch(m, why);
    m.closeFds();  // whatever the handler did not take
    if (closed_ || conn_ != conn) return;
    if (o == Outcome::Malformed) {
      dropConnection("malformed vhost-user message " + std::to_string(m.request) + ": " + why);
      return;
    }
    if (o != Outcome::Replied && (m.flags & vu::kNeedReplyFlag)) {
      // REPLY_ACK: 0 is success, anything else failure.
      if (sendU64(m.request, o == Outcome::Ok ? 0 : 1) < 0) {
        dropConnection("cannot send a reply to the front end");
        return;
      }
    }
    if (o == Outcome::Failed) emit("error", "vhost-user request " + std::to_string(m.request) + " failed: " + why);
    for (const std::string& e : deferredErrors_) emit("error", e);
    deferredErrors_.clear();
  }
}

int VhostDevice::sendU64(uint32_t request, uint64_t v) { return SendReply(conn_, request, &v, sizeof v); }

// Payload readers: the caller has checked the size.
template <typename T>
static T Payload(const VuMessage& m) {
  T v;
  memcpy(&v, m.payload, sizeof v);
  return v;
}

VhostDevice::Outcome VhostDevice::dispatch(VuMessage& m, std::string& why) {
  using namespace vu;
  const uint32_t nq = static_cast<uint32_t>(queues_.size());
  // Messages without fds must not carry any: fds we do not expect are a broken front end.
  auto noFds = [&]() { return m.fds.empty(); };
  auto sized = [&](uint32_t size) { return m.size == size && noFds(); };
  auto bad = [&](const char* w) { why = w; return Outcome::Malformed; };
  auto fail = [&](const std::string& w) { why = w; return Outcome::Failed; };
  auto replied = [&](int rc) { return rc < 0 ? bad("cannot send the reply") : Outcome::Replied; };
  // The GET_* that carry nothing and are answered with one u64.
  auto answerU64 = [&](uint64_t v) {
    return noFds() ? replied(sendU64(m.request, v)) : bad("unexpected fds");
  };

  switch (m.request) {
    case GET_FEATURES:
      return answerU64(kOfferedFeatures);
    case SET_FEATURES: {
      if (!sized(8)) return bad("expected a u64");
      uint64_t f = Payload<uint64_t>(m);
      if (f & ~kOfferedFeatures) return fail("features we did not offer");
      features_ = f;
      // Without PROTOCOL_FEATURES rings are enabled as soon as they start.
      if (!(f & F_PROTOCOL_FEATURES))
        for (auto& q : queues_) q->enabled = true;
      checkReady();
      drain();
      return Outcome::Ok;
    }
    case GET_PROTOCOL_FEATURES:
      return answerU64(kOfferedProtocolFeatures);
    case SET_PROTOCOL_FEATURES: {
      if (!sized(8)) return bad("expected a u64");
      uint64_t f = Payload<uint64_t>(m);
      if (f & ~kOfferedProtocolFeatures) return fail("protocol features we did not offer");
      protocolFeatures_ = f;
      return Outcome::Ok;
    }
    case GET_QUEUE_NUM:
      return answerU64(nq);
    case GET_MAX_MEM_SLOTS:
      return answerU64(kMaxMemSlots);
    case SET_OWNER:
      if (!noFds()) return bad("unexpected fds");
      return Outcome::Ok;
    case RESET_OWNER:
      if (!noFds()) return bad("unexpected fds");
      resetDevice();
      return Outcome::Ok;
    case SET_MEM_TABLE:
      return setMemTable(m, why);
    case ADD_MEM_REG: {
      if (m.size != 40 || m.fds.size() != 1) return bad("expected one region and one fd");
      MemRegionWire r;
      memcpy(&r, m.payload + 8, sizeof r);
      if (mem_.count() >= kMaxMemSlots) return fail("no free memory slot");
      auto quiet = memoryChange();  // workers out of guest memory while the table changes
      std::string w;
      bool ok = mem_.add(MemRegionDesc{r.guestAddr, r.size, r.userAddr, r.mmapOffset}, m.fds[0], w);
      remapRings();
      if (!ok) return fail("memory region refused: " + w);
      return Outcome::Ok;
    }
    case REM_MEM_REG: {
      // The spec allows one (ignored) fd for compatibility with older front ends.
      if (m.size != 40 || m.fds.size() > 1) return bad("expected one region");
      MemRegionWire r;
      memcpy(&r, m.payload + 8, sizeof r);
      auto quiet = memoryChange();
      int rc = mem_.remove(MemRegionDesc{r.guestAddr, r.size, r.userAddr, r.mmapOffset});
      remapRings();
      if (rc < 0) return fail("no such region");
      return Outcome::Ok;
    }
    case SET_VRING_NUM: {
      if (!sized(8)) return bad("expected a vring state");
      VringState s = Payload<VringState>(m);
      if (s.index >= nq) return fail("no such vring");
      Virtqueue& q = *queues_[s.index];
      if (q.started) return fail("vring is running");
      // Virtio ring sizes are powers of two up to 32768: the free-running 16-bit indices are
      // taken modulo the size, which only stays consistent across the wrap at 65536 for a power
      // of two. Anything else is a broken front end.
      if (s.num == 0 || s.num > vring::kMaxQueueSize || (s.num & (s.num - 1)) != 0)
        return fail("bad vring size " + std::to_string(s.num) + " (a power of two up to 32768)");
      q.setNum(s.num);
      return Outcome::Ok;
    }
    case SET_VRING_ADDR: {
      if (!sized(40)) return bad("expected a vring address");
      VringAddr a = Payload<VringAddr>(m);
      if (a.index >= nq) return fail("no such vring");
      Virtqueue& q = *queues_[a.index];
      q.descVa = a.desc;
      q.availVa = a.avail;
      q.usedVa = a.used;
      q.addrSet = true;
      if (!q.map(mem_)) return fail("vring addresses outside guest memory or misaligned");
      if (!q.started) q.syncUsedIdx();
      checkReady();
      drain();
      return Outcome::Ok;
    }
    case SET_VRING_BASE: {
      if (!sized(8)) return bad("expected a vring state");
      VringState s = Payload<VringState>(m);
      if (s.index >= nq) return fail("no such vring");
      Virtqueue& q = *queues_[s.index];
      if (q.started) return fail("vring is running");
      if (s.num > 0xffff) return fail("bad vring base");
      q.lastAvail = static_cast<uint16_t>(s.num);
      q.resetSignalState();
      return Outcome::Ok;
    }
    case GET_VRING_BASE: {
      if (!sized(8)) return bad("expected a vring state");
      VringState s = Payload<VringState>(m);
      VringState r{s.index, 0};
      if (s.index < nq) {
        stopRing(s.index);
        r.num = queues_[s.index]->lastAvail;
      }
      return replied(SendReply(conn_, m.request, &r, sizeof r));
    }
    case SET_VRING_KICK:
    case SET_VRING_CALL:
    case SET_VRING_ERR:
      return setVringFd(m, why);
    case SET_VRING_ENABLE: {
      if (!sized(8)) return bad("expected a vring state");
      VringState s = Payload<VringState>(m);
      if (s.index >= nq) return fail("no such vring");
      queues_[s.index]->enabled = s.num != 0;
      checkReady();
      drain();
      return Outcome::Ok;
    }
    default:
      // Not offered, so a well-behaved front end does not send it: say no and go on.
      return fail("unsupported request");
  }
}

VhostDevice::Outcome VhostDevice::setMemTable(VuMessage& m, std::string& why) {
  if (m.size < 8) {
    why = "too short";
    return Outcome::Malformed;
  }
  uint32_t n;
  memcpy(&n, m.payload, 4);
  if (n == 0 || n > vu::kMaxMemTableRegions || m.size < 8 + 32 * n || m.fds.size() != n) {
    why = "region count, size and fds disagree";
    return Outcome::Malformed;
  }
  // The old table goes entirely: rings are remapped from the new one below. Workers reading or
  // writing guest buffers finish first (vhost_jobs.h).
  auto quiet = memoryChange();
  mem_.clear();
  for (uint32_t i = 0; i < n; i++) {
    vu::MemRegionWire r;
    memcpy(&r, m.payload + 8 + 32 * i, sizeof r);
    std::string w;
    if (!mem_.add(MemRegionDesc{r.guestAddr, r.size, r.userAddr, r.mmapOffset}, m.fds[i], w)) {
      mem_.clear();
      remapRings();
      why = "memory region " + std::to_string(i) + " refused: " + w;
      return Outcome::Failed;
    }
  }
  remapRings();
  return Outcome::Ok;
}

// O_NONBLOCK on an fd the front end gave us (eventfds are polled or written on the JS thread).
static bool SetNonBlocking(int fd, std::string& why) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    why = "cannot make the eventfd non-blocking: " + Errno(errno);
    return false;
  }
  return true;
}

VhostDevice::Outcome VhostDevice::setVringFd(VuMessage& m, std::string& why) {
  if (m.size != 8) {
    why = "expected a u64";
    return Outcome::Malformed;
  }
  uint64_t v = Payload<uint64_t>(m);
  bool noFd = (v & vu::kVringNoFdMask) != 0;
  if (m.fds.size() != (noFd ? 0u : 1u)) {
    why = "fd count does not match the no-fd flag";
    return Outcome::Malformed;
  }
  uint32_t idx = static_cast<uint32_t>(v & vu::kVringIndexMask);
  if (idx >= queues_.size()) {
    why = "no such vring";
    return Outcome::Failed;
  }
  Virtqueue& q = *queues_[idx];
  int fd = noFd ? -1 : m.fds[0];
  if (!noFd) m.fds[0] = -1;  // taken: the queue owns it now
  if (m.request == vu::SET_VRING_KICK) {
    if (fd < 0) {
      why = "polling mode (no kick fd) is not supported";
      return Outcome::Failed;
    }
    if (!SetNonBlocking(fd, why)) {
      ::close(fd);
      return Outcome::Failed;
    }
    stopPoll(kickPolls_[idx]);
    if (q.kickFd >= 0) ::close(q.kickFd);
    q.kickFd = fd;
    q.started = true;
    if (!q.map(mem_)) {
      // Started without usable rings: nothing is processed until a later message fixes them.
    }
    startKickPoll(idx);
    checkReady();
    drain();
  } else if (m.request == vu::SET_VRING_CALL) {
    // We write the call eventfd on the serving thread after every batch: a front end that never
    // reads it lets the counter fill up, and a blocking write would then stop the whole share.
    // Non-blocking, a full counter is EAGAIN (the front end has a wake-up pending anyway).
    if (fd >= 0 && !SetNonBlocking(fd, why)) {
      ::close(fd);
      return Outcome::Failed;
    }
    if (q.callFd >= 0) ::close(q.callFd);
    q.callFd = fd;
  } else {
    if (q.errFd >= 0) ::close(q.errFd);
    q.errFd = fd;
  }
  return Outcome::Ok;
}

void VhostDevice::startKickPoll(uint32_t q) {
  Poll* p = new Poll{{}, this, static_cast<int>(q)};
  if (uv_poll_init(loop_, &p->handle, queues_[q]->kickFd) != 0) {
    delete p;
    deferredErrors_.push_back("cannot poll the kick fd of queue " + std::to_string(q));
    return;
  }
  p->handle.data = p;
  uv_poll_start(&p->handle, UV_READABLE, PollCallback);
  kickPolls_[q] = p;
}

void VhostDevice::onKick(uint32_t q) {
  Virtqueue& vq = *queues_[q];
  uint64_t v;
  // Consume the counter; EAGAIN only means a spurious wakeup.
  while (vq.kickFd >= 0 && read(vq.kickFd, &v, sizeof v) < 0 && errno == EINTR) {
  }
  drain();
}

void VhostDevice::stopRing(uint32_t q) {
  // Its jobs still running end first; those not started are dropped without touching the
  // buffers the guest may now reuse.
  auto quiet = memoryChange(static_cast<int>(q));
  Virtqueue& vq = *queues_[q];
  stopPoll(kickPolls_[q]);
  vq.closeFds();
  vq.started = false;
  vq.restart();  // answers to what it delivered before are dropped: the ring may be reused
  vq.resetSignalState();
  needSignal_[q] = false;
}

void VhostDevice::remapRings() {
  for (auto& q : queues_)
    if (q->addrSet) q->map(mem_);
}

void VhostDevice::resetDevice() {
  for (uint32_t i = 0; i < queues_.size(); i++) {
    stopRing(i);
    Virtqueue& q = *queues_[i];
    q.setNum(0);
    q.addrSet = false;
    q.enabled = false;
    q.broken = false;
    q.lastAvail = q.usedIdx = 0;
    q.unmap();
  }
  dropAllPending();
  auto quiet = memoryChange();
  mem_.clear();
  features_ = protocolFeatures_ = 0;
  readyEmitted_ = false;
}

void VhostDevice::dropConnection(const std::string& why) {
  if (conn_ < 0) return;
  stopPoll(connPoll_);
  ::close(conn_);
  conn_ = -1;
  reader_.reset();
  msg_->closeFds();
  resetDevice();
  deferredErrors_.clear();
  if (!why.empty()) emit("error", why);
  emit("disconnected");
}

void VhostDevice::checkReady() {
  if (readyEmitted_) return;
  for (auto& q : queues_) {
    if (q->ready()) {
      readyEmitted_ = true;
      emit("ready");
      return;
    }
  }
}

void VhostDevice::emit(const char* type, const std::string& message) {
  if (!closed_) host_->onEvent(type, message);
}

}  // namespace vfsd
