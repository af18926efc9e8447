// Test-only native primitives: just enough of what QEMU does to be a vhost-user front end from
// TypeScript (shared memory, eventfds, fd passing, poll), for test/helpers/vhost-frontend.ts.
// Its own addon (build/Release/vfsd_test_support.node, target vfsd_test_support in binding.gyp),
// loaded only by tests: nothing of it ships in vfsd_native.
// Every function returns -errno instead of throwing for system errors.
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <napi.h>

namespace vfsd {

namespace {

Napi::Value Num(Napi::Env env, double v) { return Napi::Number::New(env, v); }
Napi::Value Err(Napi::Env env) { return Napi::Number::New(env, -errno); }

// memfdCreate(name, size) -> fd
Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  int64_t size = info[1].As<Napi::Number>().Int64Value();
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd < 0) return Err(env);
  if (ftruncate(fd, size) < 0) {
    int e = errno;
    close(fd);
    return Num(env, -e);
  }
  return Num(env, fd);
}

// mmapShared(fd, size) -> ArrayBuffer over a MAP_SHARED mapping (unmapped when collected), or -errno
Napi::Value MmapShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  size_t size = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return Err(env);
  return Napi::ArrayBuffer::New(
      env, p, size, [](Napi::Env, void* data, size_t* len) { munmap(data, *len); delete len; },
      new size_t(size));
}

// eventfdCreate(blocking = false) -> eventfd, non-blocking unless asked (a front end may hand
// us a blocking one)
Napi::Value EventfdCreate(const Napi::CallbackInfo& info) {
  bool blocking = info.Length() > 0 && info[0].ToBoolean().Value();
  int fd = eventfd(0, (blocking ? 0 : EFD_NONBLOCK) | EFD_CLOEXEC);
  return fd < 0 ? Err(info.Env()) : Num(info.Env(), fd);
}

// eventfdRead(fd) -> counter value, or -EAGAIN if zero
Napi::Value EventfdRead(const Napi::CallbackInfo& info) {
  uint64_t v;
  if (read(info[0].As<Napi::Number>().Int32Value(), &v, sizeof v) != sizeof v) return Err(info.Env());
  return Num(info.Env(), static_cast<double>(v));
}

// eventfdWrite(fd, n)
Napi::Value EventfdWrite(const Napi::CallbackInfo& info) {
  uint64_t v = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
  if (write(info[0].As<Napi::Number>().Int32Value(), &v, sizeof v) != sizeof v) return Err(info.Env());
  return Num(info.Env(), 0);
}

int FillAddr(const std::string& path, sockaddr_un& a) {
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) return -ENAMETOOLONG;
  memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return 0;
}

// unixConnect(path) -> connected stream socket fd
Napi::Value UnixConnect(const Napi::CallbackInfo& info) {
  sockaddr_un a;
  int rc = FillAddr(info[0].As<Napi::String>().Utf8Value(), a);
  if (rc < 0) return Num(info.Env(), rc);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Err(info.Env());
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
    int e = errno;
    close(fd);
    return Num(info.Env(), -e);
  }
  return Num(info.Env(), fd);
}

// unixListen(path) -> listening socket fd (as a VM manager would pass with --fd)
Napi::Value UnixListen(const Napi::CallbackInfo& info) {
  sockaddr_un a;
  int rc = FillAddr(info[0].As<Napi::String>().Utf8Value(), a);
  if (rc < 0) return Num(info.Env(), rc);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Err(info.Env());
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || listen(fd, 4) < 0) {
    int e = errno;
    close(fd);
    return Num(info.Env(), -e);
  }
  return Num(info.Env(), fd);
}

// sendMsg(fd, Uint8Array, fds[]) -> bytes sent
Napi::Value SendMsg(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
  Napi::Array fdsArr = info[2].As<Napi::Array>();
  std::vector<int> fds;
  for (uint32_t i = 0; i < fdsArr.Length(); i++) fds.push_back(fdsArr.Get(i).As<Napi::Number>().Int32Value());
  iovec iov{static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), ta.ByteLength()};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  std::vector<char> ctl(CMSG_SPACE(sizeof(int) * (fds.empty() ? 1 : fds.size())));
  if (!fds.empty()) {
    mh.msg_control = ctl.data();
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
  return n < 0 ? Err(info.Env()) : Num(info.Env(), static_cast<double>(n));
}

// recvMsg(fd, Uint8Array) -> { n, fds } without blocking (n = -EAGAIN if nothing is there)
Napi::Value RecvMsg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
  iovec iov{static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), ta.ByteLength()};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * 16)];
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl;
  mh.msg_controllen = sizeof ctl;
  ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  Napi::Object r = Napi::Object::New(env);
  Napi::Array fds = Napi::Array::New(env);
  r.Set("n", Num(env, n < 0 ? -errno : static_cast<double>(n)));
  if (n >= 0) {
    uint32_t k = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < cnt; i++) {
        int f;
        memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
        fds.Set(k++, Num(env, f));
      }
    }
  }
  r.Set("fds", fds);
  return r;
}

// poll(fd, events, timeoutMs) -> revents (0 on timeout)
Napi::Value Poll(const Napi::CallbackInfo& info) {
  pollfd p{info[0].As<Napi::Number>().Int32Value(), static_cast<short>(info[1].As<Napi::Number>().Int32Value()), 0};
  int rc;
  do rc = poll(&p, 1, info[2].As<Napi::Number>().Int32Value());
  while (rc < 0 && errno == EINTR);
  if (rc < 0) return Err(info.Env());
  return Num(info.Env(), rc == 0 ? 0 : p.revents);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  return close(info[0].As<Napi::Number>().Int32Value()) < 0 ? Err(info.Env()) : Num(info.Env(), 0);
}

Napi::Object Init(Napi::Env env, Napi::Object o) {
  o.Set("memfdCreate", Napi::Function::New(env, MemfdCreate));
  o.Set("mmapShared", Napi::Function::New(env, MmapShared));
  o.Set("eventfdCreate", Napi::Function::New(env, EventfdCreate));
  o.Set("eventfdRead", Napi::Function::New(env, EventfdRead));
  o.Set("eventfdWrite", Napi::Function::New(env, EventfdWrite));
  o.Set("unixConnect", Napi::Function::New(env, UnixConnect));
  o.Set("unixListen", Napi::Function::New(env, UnixListen));
  o.Set("sendMsg", Napi::Function::New(env, SendMsg));
  o.Set("recvMsg", Napi::Function::New(env, RecvMsg));
  o.Set("poll", Napi::Function::New(env, Poll));
  o.Set("close", Napi::Function::New(env, Close));
  return o;
}

}  // namespace
}  // namespace vfsd

using vfsd::Init;
NODE_API_MODULE(vfsd_test_support, Init)
