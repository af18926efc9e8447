// /dev/fuse: mounting a FUSE file system without libfuse, and the session that serves the mount.
//
// Contract: src/native/fuse-dev.ts (FuseDevNative, FuseDevSession) and src/native/channel.ts
// (RequestChannel). The shape, in one breath: libuv polls the non-blocking /dev/fuse fd on the JS
// thread; when it is readable we read every request that is ready into the inbox back to back and
// call onBatch(count) once; each answer is one write()/writev() to the fd. READ and WRITE bytes
// move here (pread/pwrite), never through JS. There is no reader thread: the metadata path costs
// one kernel round trip and no thread hand-off.
//
// Sections: FUSE ABI bits; mounting (direct mount(2), or fusermount3 with fd passing);
// the pending-request table; the bulk-data jobs (self-contained so they can later run on a worker
// pool without changing the JS API); the session (polling, delivery, answers); registration.
#include "modules.h"
#include "adaptive_poll.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <linux/capability.h>
#include <spawn.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <new>
#include <string>
#include <vector>

extern char** environ;

namespace vfsd {
namespace {

// ---------------------------------------------------------------------------------------------
// FUSE ABI bits this file needs. Debian 12's <linux/fuse.h> is 7.38 (no passthrough ioctls), so
// the few we use are defined here.

constexpr size_t kInHeaderSize = 40;   // struct fuse_in_header
constexpr size_t kWriteInSize = 40;    // struct fuse_write_in
constexpr uint32_t kOpcodeWrite = 16;  // FUSE_WRITE
constexpr size_t kMinReadBuffer = 8192;  // FUSE_MIN_READ_BUFFER

struct OutHeader {  // struct fuse_out_header
  uint32_t len;
  int32_t error;
  uint64_t unique;
};
static_assert(sizeof(OutHeader) == 16, "fuse_out_header is 16 bytes");

struct WriteOut {  // struct fuse_write_out
  uint32_t size;
  uint32_t padding;
};

struct BackingMap {  // struct fuse_backing_map (7.40)
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};
constexpr unsigned long kIocBackingOpen = _IOW(229, 1, BackingMap);  // FUSE_DEV_IOC_BACKING_OPEN
constexpr unsigned long kIocBackingClose = _IOW(229, 2, uint32_t);   // FUSE_DEV_IOC_BACKING_CLOSE

// Limits on what JS may ask for. They guard against programming errors, not the kernel.
constexpr size_t kMaxBufferSize = 64u << 20;   // one request buffer (max_write is at most 16 MiB)
constexpr size_t kMaxReadSize = 64u << 20;     // one readInto
constexpr uint32_t kInboxSlots = 4;            // inbox = kInboxSlots * bufferSize
constexpr double kMaxPollNs = 1e6;              // the largest busy-poll window accepted
constexpr uint32_t kMaxBatch = 1024;           // requests per onBatch (table entries)

// ---------------------------------------------------------------------------------------------
// Small helpers.

bool GetString(const Napi::Value& v, std::string* out) {
  if (!v.IsString()) return false;
  *out = v.As<Napi::String>().Utf8Value();
  return out->find('\0') == std::string::npos;  // a NUL would silently cut the path short
}

bool GetBytes(const Napi::Value& v, uint8_t** data, size_t* size) {
  if (!v.IsTypedArray()) return false;
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_uint8_array) return false;
  Napi::Uint8Array u8 = v.As<Napi::Uint8Array>();
  *data = u8.Data();
  *size = u8.ByteLength();
  return true;
}

bool GetOptBool(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() && v.As<Napi::Boolean>().Value();
}

std::string GetOptString(const Napi::Object& o, const char* key, const char* dflt) {
  std::string s;
  return GetString(o.Get(key), &s) ? s : std::string(dflt);
}

// Writes the whole iovec to the device. The kernel takes a FUSE answer in one write or rejects it,
// so a short write is an error, never something to continue.
int WriteAnswer(int devFd, const struct iovec* iov, int iovcnt, size_t total) {
  for (;;) {
    ssize_t n = writev(devFd, iov, iovcnt);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    return static_cast<size_t>(n) == total ? 0 : -EIO;
  }
}

// An answer to a request. ENOENT means the request was interrupted and the kernel already dropped
// it: the answer simply has no one left to go to, which is not an error for the engine.
int Answer(int devFd, uint64_t unique, int32_t error, const uint8_t* payload, size_t len) {
  OutHeader h{static_cast<uint32_t>(sizeof(OutHeader) + len), error, unique};
  struct iovec iov[2] = {{&h, sizeof h}, {const_cast<uint8_t*>(payload), len}};
  int r = WriteAnswer(devFd, iov, len ? 2 : 1, h.len);
  return r == -ENOENT ? 0 : r;
}

// ---------------------------------------------------------------------------------------------
// Mounting.

struct MountArgs {
  std::string mountpoint, fsname, subtype;
  bool allowOther, defaultPermissions, readOnly;
  uint64_t maxRead;
};

// The fusermount3 -o list escapes ',' and '\' with a backslash (it unescapes fsname and subtype).
std::string EscapeOpt(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == ',' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// Runs fusermount3 with args; commFd (or -1) is handed down as _FUSE_COMMFD. Returns the pid or
// -errno. The child end of the socketpair is close-on-exec in every other child Node may spawn;
// a dup2 onto itself is POSIX's (and glibc's) way to clear FD_CLOEXEC in just this one.
pid_t SpawnFusermount(const std::vector<std::string>& args, int commFd) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>("fusermount3"));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  std::string commEnv = "_FUSE_COMMFD=" + std::to_string(commFd);
  std::vector<char*> envp;
  for (char** e = environ; e && *e; ++e) {
    if (strncmp(*e, "_FUSE_COMMFD=", 13) != 0) envp.push_back(*e);
  }
  if (commFd >= 0) envp.push_back(const_cast<char*>(commEnv.c_str()));
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  int r = posix_spawn_file_actions_init(&fa);
  if (r != 0) return -r;
  if (commFd >= 0) r = posix_spawn_file_actions_adddup2(&fa, commFd, commFd);
  // Node may hold its stdio fds close-on-exec (it does for socket stdio in a child process):
  // hand them down explicitly, or fusermount3's reason for refusing is lost with its stderr.
  for (int fd = 0; fd <= 2 && r == 0; ++fd) {
    if (fcntl(fd, F_GETFD) >= 0) r = posix_spawn_file_actions_adddup2(&fa, fd, fd);
  }
  pid_t pid = -1;
  if (r == 0) r = posix_spawnp(&pid, "fusermount3", &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  return r == 0 ? pid : -r;
}

// Waits for the child; returns its exit status, or -1 if it died of a signal.
int WaitChild(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Receives the /dev/fuse fd fusermount3 sends (one byte with SCM_RIGHTS). -EPERM if it closed the
// socket without sending one: it refused, and printed why on stderr (inherited from us).
int ReceiveFd(int sock) {
  char byte;
  struct iovec iov = {&byte, 1};
  alignas(struct cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))];
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctrl;
  msg.msg_controllen = sizeof ctrl;
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  int fd = -1;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      memcpy(&fd, CMSG_DATA(c), sizeof fd);
    }
  }
  return fd >= 0 ? fd : -EPERM;
}

int SetNonBlocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
  return 0;
}

// As root (or with CAP_SYS_ADMIN): open /dev/fuse and mount(2) it ourselves.
int MountDirect(const MountArgs& a) {
  int fd = open("/dev/fuse", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -errno;
  std::string data = "fd=" + std::to_string(fd) + ",rootmode=40000,user_id=" +
                     std::to_string(geteuid()) + ",group_id=" + std::to_string(getegid());
  if (a.allowOther) data += ",allow_other";
  if (a.defaultPermissions) data += ",default_permissions";
  if (a.maxRead) data += ",max_read=" + std::to_string(a.maxRead);
  std::string type = a.subtype.empty() ? "fuse" : "fuse." + a.subtype;
  unsigned long flags = MS_NOSUID | MS_NODEV | (a.readOnly ? MS_RDONLY : 0);
  if (mount(a.fsname.c_str(), a.mountpoint.c_str(), type.c_str(), flags, data.c_str()) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

// Unprivileged: the setuid fusermount3 mounts and passes the /dev/fuse fd back over a socket.
int MountWithFusermount(const MountArgs& a) {
  std::string opts = std::string(a.readOnly ? "ro" : "rw") + ",nosuid,nodev,fsname=" +
                     EscapeOpt(a.fsname);
  if (!a.subtype.empty()) opts += ",subtype=" + EscapeOpt(a.subtype);
  if (a.allowOther) opts += ",allow_other";
  if (a.defaultPermissions) opts += ",default_permissions";
  if (a.maxRead) opts += ",max_read=" + std::to_string(a.maxRead);

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return -errno;
  pid_t pid = SpawnFusermount({"-o", opts, "--", a.mountpoint}, sv[1]);
  close(sv[1]);  // so that recvmsg sees EOF when fusermount3 exits without sending an fd
  if (pid < 0) {
    close(sv[0]);
    return pid;
  }
  int fd = ReceiveFd(sv[0]);
  close(sv[0]);
  int status = WaitChild(pid);
  if (fd < 0) return status == 127 ? -ENOENT : fd;
  int r = SetNonBlocking(fd);
  if (r < 0) {
    close(fd);
    return r;
  }
  return fd;
}

Napi::Value FuseMount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MountArgs a;
  if (!GetString(info[0], &a.mountpoint) || !info[1].IsObject()) {
    Napi::TypeError::New(env, "fuseMount(mountpoint: string, opts: object)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = info[1].As<Napi::Object>();
  a.fsname = GetOptString(o, "fsname", "vfsd");
  a.subtype = GetOptString(o, "subtype", "vfsd");
  a.allowOther = GetOptBool(o, "allowOther");
  a.defaultPermissions = GetOptBool(o, "defaultPermissions");
  a.readOnly = GetOptBool(o, "readOnly");
  Napi::Value mr = o.Get("maxRead");
  double maxRead = mr.IsNumber() ? mr.As<Napi::Number>().DoubleValue() : 0;
  a.maxRead = maxRead > 0 && maxRead < 4294967296.0 ? static_cast<uint64_t>(maxRead) : 0;
  if (a.mountpoint.empty()) return Napi::Number::New(env, -EINVAL);
  int r = geteuid() == 0 ? MountDirect(a) : MountWithFusermount(a);
  return Napi::Number::New(env, r);
}

Napi::Value FuseUnmount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string mnt;
  if (!GetString(info[0], &mnt)) {
    Napi::TypeError::New(env, "fuseUnmount(mountpoint: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (geteuid() == 0) {
    return Napi::Number::New(env, umount2(mnt.c_str(), MNT_DETACH) < 0 ? -errno : 0);
  }
  pid_t pid = SpawnFusermount({"-u", "-z", "--", mnt}, -1);
  if (pid < 0) return Napi::Number::New(env, pid);
  int status = WaitChild(pid);
  return Napi::Number::New(env, status == 0 ? 0 : status == 127 ? -ENOENT : -EPERM);
}

// ---------------------------------------------------------------------------------------------
// Pending requests. A token names one request until it is answered: low 20 bits index a slot,
// high 12 bits are the slot's generation, bumped on release, so a token answered twice (or made
// up) is refused instead of answering whichever request reuses the slot.

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

  uint32_t Issue(uint64_t unique, uint32_t opcode) {
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

  Slot* Find(uint32_t token) {
    uint32_t index = token & kIndexMask;
    if (index >= slots_.size()) return nullptr;
    Slot& s = slots_[index];
    return s.busy && s.generation == token >> kIndexBits ? &s : nullptr;
  }

  void Release(uint32_t token) {
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

  void Clear() {
    slots_.clear();
    free_.clear();
  }

 private:
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
};

// ---------------------------------------------------------------------------------------------
// Bulk data jobs. Each takes only plain values (device fd, unique, file fd, sizes, its own
// buffer) and touches no session or JS state, so it can move to a worker thread later.

// Drops CAP_FSETID from this thread's effective set for its lifetime, so that a write clears
// suid/sgid as the kernel would for an unprivileged writer (FUSE_WRITE_KILL_SUIDGID). Raw
// syscalls: glibc has no per-thread capability call, and libcap is not a dependency.
class ScopedDropFsetid {
 public:
  ScopedDropFsetid() {
    if (syscall(SYS_capget, &header_, saved_) < 0) {
      error_ = errno;
      return;
    }
    if (!(saved_[0].effective & (1u << CAP_FSETID))) return;  // nothing to drop
    struct __user_cap_data_struct dropped[2] = {saved_[0], saved_[1]};
    dropped[0].effective &= ~(1u << CAP_FSETID);
    if (syscall(SYS_capset, &header_, dropped) < 0) {
      error_ = errno;
      return;
    }
    dropped_ = true;
  }
  ~ScopedDropFsetid() {
    if (dropped_ && syscall(SYS_capset, &header_, saved_) < 0) {
      fprintf(stderr, "vfsd: fuse-dev: cannot restore CAP_FSETID: %s\n", strerror(errno));
    }
  }
  int error() const { return error_; }

 private:
  struct __user_cap_header_struct header_ = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct saved_[2] = {};
  bool dropped_ = false;
  int error_ = 0;
};

// READ: pread into `scratch` after room for the out header, answer header + data in one write.
// Short reads are answered short (FUSE's EOF); an error before any byte is answered as the error.
int ReadJob(int devFd, uint64_t unique, int fd, size_t size, off_t offset,
            std::vector<uint8_t>* scratch) {
  if (scratch->size() < sizeof(OutHeader) + size) {
    try {
      scratch->resize(sizeof(OutHeader) + size);
    } catch (const std::bad_alloc&) {
      return Answer(devFd, unique, -ENOMEM, nullptr, 0);
    }
  }
  uint8_t* data = scratch->data() + sizeof(OutHeader);
  size_t got = 0;
  int error = 0;
  while (got < size) {
    ssize_t n = pread(fd, data + got, size - got, offset + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = errno;
      break;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (error && got == 0) return Answer(devFd, unique, -error, nullptr, 0);
  OutHeader h{static_cast<uint32_t>(sizeof(OutHeader) + got), 0, unique};
  memcpy(scratch->data(), &h, sizeof h);
  struct iovec iov = {scratch->data(), h.len};
  int r = WriteAnswer(devFd, &iov, 1, h.len);
  return r == -ENOENT ? 0 : r;
}

// WRITE: pwrite the request's data, answer fuse_write_out with the count written.
int WriteJob(int devFd, uint64_t unique, int fd, const uint8_t* data, size_t size, off_t offset,
             bool killPriv) {
  ssize_t n;
  {
    std::unique_ptr<ScopedDropFsetid> drop;
    if (killPriv) {
      drop.reset(new ScopedDropFsetid());
      // Writing with the privilege still in place would keep suid/sgid the caller asked to kill.
      if (drop->error()) return Answer(devFd, unique, -drop->error(), nullptr, 0);
    }
    do {
      n = pwrite(fd, data, size, offset);
    } while (n < 0 && errno == EINTR);
    if (n < 0) n = -errno;
  }
  if (n < 0) return Answer(devFd, unique, static_cast<int32_t>(n), nullptr, 0);
  WriteOut out{static_cast<uint32_t>(n), 0};
  return Answer(devFd, unique, 0, reinterpret_cast<const uint8_t*>(&out), sizeof out);
}

// ---------------------------------------------------------------------------------------------
// The session.

class FuseDevSession : public Napi::ObjectWrap<FuseDevSession> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FuseDevSession",
                       {
                           InstanceMethod("start", &FuseDevSession::Start),
                           InstanceMethod("reply", &FuseDevSession::Reply),
                           InstanceMethod("replyError", &FuseDevSession::ReplyError),
                           InstanceMethod("readInto", &FuseDevSession::ReadInto),
                           InstanceMethod("writeFrom", &FuseDevSession::WriteFrom),
                           InstanceMethod("done", &FuseDevSession::Done),
                           InstanceMethod("close", &FuseDevSession::Close),
                           InstanceMethod("onClose", &FuseDevSession::OnClose),
                           InstanceMethod("backingOpen", &FuseDevSession::BackingOpen),
                           InstanceMethod("backingClose", &FuseDevSession::BackingClose),
                           InstanceMethod("notify", &FuseDevSession::Notify),
                       });
  }

  // new FuseDevSession(fd, { bufferSize }). From here on the session owns fd.
  explicit FuseDevSession(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FuseDevSession>(info) {
    Napi::Env env = info.Env();
    double fd = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
    double bufferSize = -1;
    if (info[1].IsObject()) {
      Napi::Value b = info[1].As<Napi::Object>().Get("bufferSize");
      if (b.IsNumber()) bufferSize = b.As<Napi::Number>().DoubleValue();
      Napi::Value p = info[1].As<Napi::Object>().Get("pollMaxNs");
      if (p.IsNumber()) {
        double ns = p.As<Napi::Number>().DoubleValue();
        if (ns >= 0 && ns <= kMaxPollNs) poller_.setMax(static_cast<uint64_t>(ns));
      }
    }
    if (!(fd >= 0 && fd <= 0x7fffffff && fd == static_cast<int>(fd))) {
      Napi::TypeError::New(env, "FuseDevSession: fd must be a file descriptor")
          .ThrowAsJavaScriptException();
      return;
    }
    if (!(bufferSize >= kMinReadBuffer && bufferSize <= kMaxBufferSize)) {
      Napi::TypeError::New(env, "FuseDevSession: bufferSize must be 8192 .. 64 MiB")
          .ThrowAsJavaScriptException();
      return;
    }
    bufferSize_ = (static_cast<size_t>(bufferSize) + 7) & ~size_t{7};
    inboxSize_ = bufferSize_ * kInboxSlots;

    Napi::Buffer<uint8_t> inbox = Napi::Buffer<uint8_t>::New(env, inboxSize_);
    if (env.IsExceptionPending()) return;
    Napi::Uint32Array table = Napi::Uint32Array::New(env, 4 * kMaxBatch);
    if (env.IsExceptionPending()) return;
    inbox_ = inbox.Data();
    table_ = table.Data();
    inboxRef_ = Napi::Persistent(inbox);
    tableRef_ = Napi::Persistent(table);
    Napi::Object self = info.This().As<Napi::Object>();
    self.DefineProperty(Napi::PropertyDescriptor::Value("inbox", inbox, napi_enumerable));
    self.DefineProperty(Napi::PropertyDescriptor::Value("table", table, napi_enumerable));

    fd_ = static_cast<int>(fd);
    int r = SetNonBlocking(fd_);  // EAGAIN must end a drain, never block the JS thread
    if (r < 0) fprintf(stderr, "vfsd: fuse-dev: O_NONBLOCK: %s\n", strerror(-r));
    env_ = env;
    hookAdded_ = napi_add_env_cleanup_hook(env, &FuseDevSession::EnvCleanup, this) == napi_ok;
  }

  ~FuseDevSession() override {
    // Only reached when JS dropped the object, i.e. never started or already closed (a started
    // session holds a reference to itself until it ends).
    ReleaseNative();
  }

 private:
  // ---- polling and delivery ----

  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsFunction()) {
      Napi::TypeError::New(env, "start(onBatch: function)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (fd_ < 0) return Napi::Number::New(env, -EBADF);
    if (poll_) return Napi::Number::New(env, -EBUSY);
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) {
      return Napi::Number::New(env, -EINVAL);
    }
    uv_poll_t* poll = new uv_poll_t;
    int r = uv_poll_init(loop, poll, fd_);
    if (r < 0) {
      delete poll;
      return Napi::Number::New(env, r);  // libuv errors are -errno on Linux
    }
    poll->data = this;
    r = uv_poll_start(poll, UV_READABLE, &FuseDevSession::OnPoll);
    if (r < 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(poll), &FuseDevSession::FreePoll);
      return Napi::Number::New(env, r);
    }
    poll_ = poll;
    onBatch_ = Napi::Persistent(info[0].As<Napi::Function>());
    asyncContext_.reset(new Napi::AsyncContext(env, "vfsd:fuse-dev"));
    Ref();  // polling: the session must outlive JS's references to it until it ends
    selfRef_ = true;
    return Napi::Number::New(env, 0);
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    FuseDevSession* self = static_cast<FuseDevSession*>(handle->data);
    if (!self) return;
    Napi::HandleScope scope(self->env_);
    // Pins the JS object for this whole callback, even if onBatch closes the session and so
    // drops the self reference: nothing below may touch a collected object.
    Napi::Object keep = self->Value();
    (void)keep;
    // libuv turns EPOLLERR into UV_EBADF and stops the handle. /dev/fuse reports EPOLLERR once
    // the connection is gone, so read to learn why: ENODEV (unmounted) ends the session quietly.
    uint64_t start = MonotonicNs();
    self->poller_.woke(start);
    self->Drain();
    // Serve the client's next request without sleeping if it comes soon (adaptive_poll.h).
    while (status >= 0 && self->fd_ >= 0 && self->poller_.window() &&
           MonotonicNs() - start < AdaptivePoll::kMaxCallbackNs) {
      if (!self->ReadableWithin(self->poller_.window())) break;
      self->Drain();
    }
    if (self->fd_ >= 0) self->poller_.sleeping(MonotonicNs());
    if (status < 0 && self->fd_ >= 0) {
      fprintf(stderr, "vfsd: fuse-dev: poll: %s; ending the session\n", uv_strerror(status));
      self->EndSession();
    }
  }

  // Busy-checks the fd for up to windowNs; true when there is something to read (or an error
  // to learn about by reading).
  bool ReadableWithin(uint64_t windowNs) {
    uint64_t until = MonotonicNs() + windowNs;
    do {
      pollfd p{fd_, POLLIN, 0};
      int r = poll(&p, 1, 0);
      if (r > 0) return true;
      if (r < 0 && errno != EINTR) return false;
      // Polite spinning: if another task waits for this CPU (often the very client whose next
      // request we wait for, on a busy machine), it runs now instead of after our window.
      sched_yield();
    } while (MonotonicNs() < until);
    return false;
  }

  // Reads every request that is ready, back to back, each into bufferSize free bytes of inbox.
  void Drain() {
    uint32_t count = 0;
    size_t used = 0;
    int endError = 0;  // ENODEV: unmounted; anything else unexpected also ends the session
    batchTokens_.clear();
    while (count < kMaxBatch && inboxSize_ - used >= bufferSize_) {
      ssize_t n = read(fd_, inbox_ + used, bufferSize_);
      if (n < 0) {
        int e = errno;
        if (e == EINTR) continue;
        if (e == EAGAIN) break;
        endError = e;
        break;
      }
      if (static_cast<size_t>(n) < kInHeaderSize) {  // the kernel never does this
        endError = EIO;
        break;
      }
      uint32_t opcode;
      uint64_t unique;
      memcpy(&opcode, inbox_ + used + 4, sizeof opcode);
      memcpy(&unique, inbox_ + used + 8, sizeof unique);
      uint32_t token = pending_.Issue(unique, opcode);
      if (token == PendingTable::kNoToken) {
        Answer(fd_, unique, -ENOMEM, nullptr, 0);
        continue;
      }
      if (opcode == kOpcodeWrite && static_cast<size_t>(n) >= kInHeaderSize + kWriteInSize) {
        PendingTable::Slot* slot = pending_.Find(token);
        slot->data = inbox_ + used + kInHeaderSize + kWriteInSize;
        slot->dataLen = static_cast<size_t>(n) - kInHeaderSize - kWriteInSize;
      }
      table_[4 * count + 0] = static_cast<uint32_t>(used);
      table_[4 * count + 1] = static_cast<uint32_t>(n);
      table_[4 * count + 2] = token;
      table_[4 * count + 3] = 0;
      batchTokens_.push_back(token);
      ++count;
      used += (static_cast<size_t>(n) + 7) & ~size_t{7};
    }
    if (count) Deliver(count);
    if (fd_ < 0) return;  // closed during onBatch
    if (endError) {
      if (endError != ENODEV && endError != ECONNABORTED) {
        fprintf(stderr, "vfsd: fuse-dev: read: %s; ending the session\n", strerror(endError));
      }
      EndSession();
    }
  }

  void Deliver(uint32_t count) {
    Napi::Env env = env_;
    inBatch_ = true;
    onBatch_.MakeCallback(Value(), {Napi::Number::New(env, count)}, *asyncContext_);
    inBatch_ = false;
    ReportException("onBatch");
    if (fd_ >= 0) {
      SaveUnansweredWrites();
    } else if (releaseJsAfterBatch_) {
      ReleaseJs();
    }
  }

  // A request may be answered after onBatch returns, but the next drain reuses the inbox; a
  // WRITE still pending keeps its data in its own copy. (Rare: most writes answer in onBatch.)
  void SaveUnansweredWrites() {
    for (uint32_t token : batchTokens_) {
      PendingTable::Slot* s = pending_.Find(token);
      if (!s || !s->data || !s->saved.empty() || s->dataLen == 0) continue;
      try {
        s->saved.assign(s->data, s->data + s->dataLen);
        s->data = s->saved.data();
      } catch (const std::bad_alloc&) {
        // Cannot keep the bytes: fail the WRITE now rather than write garbage later.
        Answer(fd_, s->unique, -ENOMEM, nullptr, 0);
        pending_.Release(token);
      }
    }
    batchTokens_.clear();
  }

  // The JS callback threw: say so and keep serving. One bad request must not stop the mount.
  void ReportException(const char* what) {
    Napi::Env env = env_;
    if (!env.IsExceptionPending()) return;
    Napi::Error e = env.GetAndClearPendingException();
    std::string text = "(unprintable)";
    Napi::Value v = e.Value();
    if (v.IsObject()) {
      Napi::Value stack = v.As<Napi::Object>().Get("stack");
      if (stack.IsString()) text = stack.As<Napi::String>().Utf8Value();
    }
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
    if (text == "(unprintable)") {
      Napi::String s = v.ToString();
      if (!env.IsExceptionPending()) text = s.Utf8Value();
      else env.GetAndClearPendingException();
    }
    fprintf(stderr, "vfsd: fuse-dev: %s threw: %s\n", what, text.c_str());
  }

  // ---- ending ----

  // The kernel ended the session (unmounted) or the device failed: release, then onClose once.
  void EndSession() {
    ReleaseNative();
    if (onClose_.IsEmpty()) {
      ReleaseJs();
      return;
    }
    Napi::FunctionReference cb = std::move(onClose_);
    std::unique_ptr<Napi::AsyncContext> context = std::move(asyncContext_);
    Napi::Object self = Value();  // the receiver (MakeCallback needs an object); pinned by OnPoll
    ReleaseJs();
    if (context) {
      cb.MakeCallback(self, {}, *context);
    } else {
      cb.Call(self, {});
    }
    ReportException("onClose");
  }

  // Everything that is not JS: the poll handle, the fd, the pending table, the scratch buffer.
  // Safe from a destructor and from the env cleanup hook.
  void ReleaseNative() {
    if (poll_) {
      poll_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), &FuseDevSession::FreePoll);
      poll_ = nullptr;
    }
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
    pending_.Clear();
    batchTokens_.clear();
    std::vector<uint8_t>().swap(readScratch_);
    if (hookAdded_) {
      hookAdded_ = false;
      napi_remove_env_cleanup_hook(env_, &FuseDevSession::EnvCleanup, this);
    }
  }

  // The JS side: buffers, callbacks, the self reference. Deferred while onBatch is running
  // (close() called from inside it) until the callback has returned.
  void ReleaseJs() {
    if (inBatch_) {
      releaseJsAfterBatch_ = true;
      return;
    }
    releaseJsAfterBatch_ = false;
    inbox_ = nullptr;
    table_ = nullptr;
    inboxRef_.Reset();
    tableRef_.Reset();
    onBatch_.Reset();
    asyncContext_.reset();
    if (selfRef_) {
      selfRef_ = false;
      Unref();
    }
  }

  static void FreePoll(uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); }

  // The environment is going away (process exit) with the session still open: release what the
  // kernel holds; JS objects are being torn down by Node itself.
  static void EnvCleanup(void* arg) {
    FuseDevSession* self = static_cast<FuseDevSession*>(arg);
    self->hookAdded_ = false;  // it is being run: nothing to remove any more
    self->ReleaseNative();
  }

  // ---- answers ----

  bool GetToken(const Napi::CallbackInfo& info, uint32_t* token) {
    if (!info[0].IsNumber()) return false;
    double t = info[0].As<Napi::Number>().DoubleValue();
    if (!(t >= 0 && t <= 0xffffffffu && t == static_cast<uint32_t>(t))) return false;
    *token = static_cast<uint32_t>(t);
    return true;
  }

  // A non-negative integer JS number (exact up to 2^53).
  static bool GetSize(const Napi::Value& v, uint64_t* out) {
    if (!v.IsNumber()) return false;
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 9007199254740992.0 && d == static_cast<double>(static_cast<uint64_t>(d)))) {
      return false;
    }
    *out = static_cast<uint64_t>(d);
    return true;
  }

  // reply(token, buf, len): buf[0..len) = fuse_out_header (error filled by the caller) + payload.
  Napi::Value Reply(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t token;
    uint8_t* buf;
    size_t size;
    uint64_t len;
    if (!GetToken(info, &token) || !GetBytes(info[1], &buf, &size) || !GetSize(info[2], &len) ||
        len < sizeof(OutHeader) || len > size || len > 0xffffffffu) {
      return Napi::Number::New(env, -EINVAL);
    }
    if (fd_ < 0) return Napi::Number::New(env, -EBADF);
    PendingTable::Slot* s = pending_.Find(token);
    if (!s) return Napi::Number::New(env, -EINVAL);
    int32_t error;
    memcpy(&error, buf + 4, sizeof error);
    int r = Answer(fd_, s->unique, error, buf + sizeof(OutHeader), len - sizeof(OutHeader));
    pending_.Release(token);
    return Napi::Number::New(env, r);
  }

  Napi::Value ReplyError(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t token;
    uint64_t err;
    if (!GetToken(info, &token) || !GetSize(info[1], &err) || err == 0 || err >= 4096) {
      return Napi::Number::New(env, -EINVAL);
    }
    if (fd_ < 0) return Napi::Number::New(env, -EBADF);
    PendingTable::Slot* s = pending_.Find(token);
    if (!s) return Napi::Number::New(env, -EINVAL);
    int r = Answer(fd_, s->unique, -static_cast<int32_t>(err), nullptr, 0);
    pending_.Release(token);
    return Napi::Number::New(env, r);
  }

  // readInto(token, fd, size, offset)
  Napi::Value ReadInto(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t token;
    uint64_t fileFd, size, offset;
    if (!GetToken(info, &token) || !GetSize(info[1], &fileFd) || fileFd > 0x7fffffff ||
        !GetSize(info[2], &size) || size > kMaxReadSize || !GetSize(info[3], &offset) ||
        offset > static_cast<uint64_t>(INT64_MAX)) {
      return Napi::Number::New(env, -EINVAL);
    }
    if (fd_ < 0) return Napi::Number::New(env, -EBADF);
    PendingTable::Slot* s = pending_.Find(token);
    if (!s) return Napi::Number::New(env, -EINVAL);
    int r = ReadJob(fd_, s->unique, static_cast<int>(fileFd), size, static_cast<off_t>(offset),
                    &readScratch_);
    pending_.Release(token);
    // A one-off huge read should not pin its buffer for the life of the session.
    if (readScratch_.size() > 2 * bufferSize_) std::vector<uint8_t>().swap(readScratch_);
    return Napi::Number::New(env, r);
  }

  // writeFrom(token, fd, size, offset, killPriv)
  Napi::Value WriteFrom(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t token;
    uint64_t fileFd, size, offset;
    if (!GetToken(info, &token) || !GetSize(info[1], &fileFd) || fileFd > 0x7fffffff ||
        !GetSize(info[2], &size) || !GetSize(info[3], &offset) ||
        offset > static_cast<uint64_t>(INT64_MAX)) {
      return Napi::Number::New(env, -EINVAL);
    }
    bool killPriv = info[4].IsBoolean() && info[4].As<Napi::Boolean>().Value();
    if (fd_ < 0) return Napi::Number::New(env, -EBADF);
    PendingTable::Slot* s = pending_.Find(token);
    // Not a WRITE, or more bytes than the request carried: a caller bug. Refused, nothing
    // written; the token stays pending so the caller can still answer it (replyError).
    if (!s || s->opcode != kOpcodeWrite || size > s->dataLen) {
      return Napi::Number::New(env, -EINVAL);
    }
    int r = WriteJob(fd_, s->unique, static_cast<int>(fileFd), s->data, size,
                     static_cast<off_t>(offset), killPriv);
    pending_.Release(token);
    return Napi::Number::New(env, r);
  }

  Napi::Value Done(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t token;
    if (!GetToken(info, &token) || !pending_.Find(token)) return Napi::Number::New(env, -EINVAL);
    pending_.Release(token);
    return Napi::Number::New(env, 0);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    ReleaseNative();
    onClose_.Reset();  // close() is the owner's choice: onClose is only for the kernel ending it
    ReleaseJs();
    return info.Env().Undefined();
  }

  Napi::Value OnClose(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsFunction()) {
      Napi::TypeError::New(env, "onClose(cb: function)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (fd_ >= 0) onClose_ = Napi::Persistent(info[0].As<Napi::Function>());
    return env.Undefined();
  }

  // ---- passthrough and notifications ----

  Napi::Value BackingOpen(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t fd;
    if (!GetSize(info[0], &fd) || fd > 0x7fffffff) return Napi::Number::New(env, -EINVAL);
    if (fd_ < 0) return Napi::Number::New(env, -EBADF);
    BackingMap map{static_cast<int32_t>(fd), 0, 0};
    int r = ioctl(fd_, kIocBackingOpen, &map);
    return Napi::Number::New(env, r < 0 ? -errno : r);
  }

  Napi::Value BackingClose(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t id;
    if (!GetSize(info[0], &id) || id > 0xffffffffu) return Napi::Number::New(env, -EINVAL);
    if (fd_ < 0) return Napi::Number::New(env, -EBADF);
    uint32_t backingId = static_cast<uint32_t>(id);
    int r = ioctl(fd_, kIocBackingClose, &backingId);
    return Napi::Number::New(env, r < 0 ? -errno : r);
  }

  // notify(buf, len): unique 0; the caller put the notify code in the header's error field.
  // Unlike an answer, ENOENT is meaningful here (e.g. nothing cached to invalidate): passed on.
  Napi::Value Notify(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint8_t* buf;
    size_t size;
    uint64_t len;
    if (!GetBytes(info[0], &buf, &size) || !GetSize(info[1], &len) || len < sizeof(OutHeader) ||
        len > size || len > 0xffffffffu) {
      return Napi::Number::New(env, -EINVAL);
    }
    if (fd_ < 0) return Napi::Number::New(env, -EBADF);
    OutHeader h;
    memcpy(&h, buf, sizeof h);
    h.len = static_cast<uint32_t>(len);
    h.unique = 0;
    struct iovec iov[2] = {{&h, sizeof h}, {buf + sizeof h, len - sizeof h}};
    return Napi::Number::New(env, WriteAnswer(fd_, iov, 2, len));
  }

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
  AdaptivePoll poller_;
  bool selfRef_ = false;
  bool hookAdded_ = false;
  bool inBatch_ = false;
  bool releaseJsAfterBatch_ = false;
  PendingTable pending_;
  std::vector<uint32_t> batchTokens_;
  std::vector<uint8_t> readScratch_;
};

}  // namespace

void InitFuseDev(Napi::Env env, Napi::Object exports) {
  exports.Set("fuseMount", Napi::Function::New(env, FuseMount, "fuseMount"));
  exports.Set("fuseUnmount", Napi::Function::New(env, FuseUnmount, "fuseUnmount"));
  exports.Set("FuseDevSession", FuseDevSession::Define(env));
}

}  // namespace vfsd
