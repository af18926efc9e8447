// The FuseDevSession class (its JS face is DefineFuseDevSession, fuse_session.h): what it holds
// and its methods, which are defined by job in
//   fuse_session.cc          construction, polling /dev/fuse, draining it, delivery to onBatch
//   fuse_session_ending.cc   close(), the kernel ending the session, releasing what it holds
//   fuse_session_answers.cc  reply, replyError, done, readInto/writeFrom/fileJob
//   fuse_session_uring.cc    FUSE over io_uring: preparing, starting, polling and draining the ring
//   fuse_session_notify.cc   passthrough backing files and notifications
// How the session works as a whole: the comment at the top of fuse_session.cc.
#pragma once
#include <napi.h>
#include <sys/types.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "adaptive_poll.h"
#include "fuse_data_jobs.h"
#include "fuse_pending.h"
#include "fuse_uring.h"

namespace vfsd {
namespace fusedev {

// Limits on what JS may ask for. They guard against programming errors, not the kernel.
constexpr size_t kMaxBufferSize = 64u << 20;   // one request buffer (max_write is at most 16 MiB)
constexpr size_t kMaxReadSize = 64u << 20;     // one readInto
constexpr uint32_t kInboxSlots = 4;            // inbox = kInboxSlots * bufferSize
constexpr double kMaxPollNs = 1e6;              // the largest busy-poll window accepted
constexpr uint32_t kMaxBatch = 1024;           // requests per onBatch (table entries)
constexpr uint32_t kMaxUringPerQueue = 64;     // ring entries per CPU queue

// Where FUSE over io_uring stands (uringStatus()).
enum class UringState { kOff, kPrepared, kNotNegotiated, kActive, kRefused };

class FuseDevSession : public Napi::ObjectWrap<FuseDevSession> {
 public:
  static Napi::Function Define(Napi::Env env);

  // new FuseDevSession(fd, { bufferSize }). From here on the session owns fd.
  explicit FuseDevSession(const Napi::CallbackInfo& info);
  ~FuseDevSession() override;

 private:
  // ---- polling and delivery (fuse_session.cc) ----

  Napi::Value Start(const Napi::CallbackInfo& info);
  static void OnPoll(uv_poll_t* handle, int status, int events);

  // With FUSE over io_uring the requests come from two sources (the ring; FORGETs and
  // INTERRUPTs on /dev/fuse): each bit says one has something.
  static constexpr int kFromDevice = 1;
  static constexpr int kFromRing = 2;

  // Serves what woke us (`from`), then, without sleeping, the client's next request if it comes
  // soon (adaptive_poll.h), from either source: spinning on one while the other has a request
  // would make that one wait for the whole window.
  void Serve(int from, bool devicePollable);

  // Busy-checks both sources for up to windowNs: which has something (or an error to learn
  // about by reading), 0 if none. The poll() is also the syscall on whose return the kernel
  // posts a ring completion it owes this thread (fuse_uring.h).
  int ReadyWithin(uint64_t windowNs);
  void AfterPooledAnswers();

  // Request `count` of the batch: n bytes at inbox offset *used, answered by token.
  void List(uint32_t token, size_t n, uint32_t* count, size_t* used);

  // One request read into bufferSize free bytes of inbox at `used`: its size, or -errno
  // (-EAGAIN: none waiting).
  ssize_t ReadOne(size_t used);

  // Reads every request that is ready, back to back, each into bufferSize free bytes of inbox.
  void Drain();

  void Deliver(uint32_t count);

  // A request may be answered after onBatch returns, but the next drain reuses the inbox; a
  // WRITE still pending keeps its data in its own copy. (Rare: most writes answer in onBatch.)
  void SaveUnansweredWrites();

  // The JS callback threw: say so and keep serving. One bad request must not stop the mount.
  void ReportException(const char* what);

  // ---- ending (fuse_session_ending.cc) ----

  // The kernel ended the session (unmounted) or the device failed: release, then onClose once.
  void EndSession();

  // Everything that is not JS: the poll handle, the fd, the pending table, the scratch buffer.
  // Safe from a destructor and from the env cleanup hook.
  void ReleaseNative();

  // The JS side: buffers, callbacks, the self reference. Deferred while onBatch is running
  // (close() called from inside it) until the callback has returned.
  void ReleaseJs();

  static void FreePoll(uv_handle_t* h);

  // The environment is going away (process exit) with the session still open: release what the
  // kernel holds; JS objects are being torn down by Node itself.
  static void EnvCleanup(void* arg);

  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value OnClose(const Napi::CallbackInfo& info);

  // ---- answers (fuse_session_answers.cc) ----

  static bool GetToken(const Napi::CallbackInfo& info, uint32_t* token);

  // The pending request a token names, in a session still open. Null otherwise, *err being
  // what JS gets: -EBADF once closed, -EINVAL for a token never issued or already answered
  // (nothing is written then, and a pending token stays pending).
  PendingTable::Slot* PendingFor(uint32_t token, int* err);

  // The answer to s, with error and payload: through its ring entry if it came over io_uring,
  // else one write to /dev/fuse.
  int AnswerSlot(const PendingTable::Slot* s, int32_t error, const uint8_t* payload, size_t len);

  // The token has its answer (r: 0 or -errno, returned to JS): its slot is free again.
  Napi::Value Released(Napi::Env env, uint32_t token, int r);

  // reply(token, buf, len): buf[0..len) = fuse_out_header (error filled by the caller) + payload.
  Napi::Value Reply(const Napi::CallbackInfo& info);
  Napi::Value ReplyError(const Napi::CallbackInfo& info);

  // The link pooled jobs answer through (made on first use).
  const std::shared_ptr<FuseJobLink>& JobLink();

  // readInto(token, fd, size, offset, path)
  Napi::Value ReadInto(const Napi::CallbackInfo& info);
  // writeFrom(token, fd, size, offset, killPriv, path)
  Napi::Value WriteFrom(const Napi::CallbackInfo& info);
  // fileJob(token, op, fd, fd2, a, b, c, path, killPriv): see data_jobs.h.
  Napi::Value FileJob(const Napi::CallbackInfo& info);
  Napi::Value Done(const Napi::CallbackInfo& info);

  // ---- FUSE over io_uring (fuse_session_uring.cc) ----

  // uringPrepare(perQueue): before INIT, create the io_uring the ring entries will use. 0, or
  // -errno (the kernel or its io_uring_disabled sysctl refused); then INIT may offer
  // FUSE_OVER_IO_URING and the entries are registered right after the INIT answer.
  Napi::Value UringPrepare(const Napi::CallbackInfo& info);
  Napi::Value UringStatus(const Napi::CallbackInfo& info);

  // The INIT answer just went out. If it took FUSE_OVER_IO_URING, the kernel now waits for an
  // entry on every queue before it sends anything else: register them (payload buffers sized
  // as the kernel will check: max(8192, max_write, max_pages pages)) and poll the ring.
  void StartRingAfterInit(const uint8_t* init, size_t len);
  void StartRingPoll();
  static void OnRingPoll(uv_poll_t* handle, int status, int events);

  // Every request waiting in the ring, each copied into the inbox as /dev/fuse would deliver
  // it, then one onBatch; the batch's answers are submitted together when it returns.
  void DrainRing();

  // A command of an entry failed: the entry is gone. ENOTCONN/ECONNABORTED: the connection is
  // ending (unmount), and /dev/fuse says so too. Anything else is worth a line.
  void EntryLost(int res);

  // An answer to a ring request was queued: submit it now, or with the batch it is part of.
  int RingAnswered(int r);
  int SubmitRing();

  // ---- passthrough and notifications (fuse_session_notify.cc) ----

  Napi::Value BackingOpen(const Napi::CallbackInfo& info);
  Napi::Value BackingClose(const Napi::CallbackInfo& info);
  // notify(buf, len): unique 0; the caller put the notify code in the header's error field.
  // Unlike an answer, ENOENT is meaningful here (e.g. nothing cached to invalidate): passed on.
  Napi::Value Notify(const Napi::CallbackInfo& info);

  napi_env env_ = nullptr;
  int fd_ = -1;
  size_t bufferSize_ = 0;
  size_t inboxSize_ = 0;
  uint8_t* inbox_ = nullptr;
  uint32_t* table_ = nullptr;
  Napi::Reference<Napi::Buffer<uint8_t>> inboxRef_;
  Napi::Reference<Napi::Uint32Array> tableRef_;
  Napi::FunctionReference onBatch_;
  Napi::FunctionReference onClose_;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
  uv_poll_t* poll_ = nullptr;
  uv_poll_t* ringPoll_ = nullptr;
  uv_loop_t* loop_ = nullptr;
  FuseRing ring_;
  UringState uringState_ = UringState::kOff;
  int uringErrno_ = 0;
  uint32_t lostEntries_ = 0;
  bool lostLogged_ = false;
  AdaptivePoll poller_;
  // A request ReadyWithin read (its size, or -errno), for the next Drain to take first.
  static constexpr ssize_t kNothingPrefetched = -1000000;
  ssize_t prefetched_ = kNothingPrefetched;
  bool selfRef_ = false;
  bool hookAdded_ = false;
  bool inBatch_ = false;
  bool releaseJsAfterBatch_ = false;
  PendingTable pending_;
  std::shared_ptr<FuseJobLink> jobs_;  // pooled jobs answer through it; detached at the end
  std::vector<uint32_t> batchTokens_;
  std::vector<uint8_t> readScratch_;
};

}  // namespace fusedev
}  // namespace vfsd
