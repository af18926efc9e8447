// The datagram sender behind --syslog (contract: src/native/syslog-socket.ts): Node's dgram
// has no AF_UNIX sockets, and libc's syslog(3) may block when the log daemon is slow. The line
// is formatted in TypeScript (src/cli/syslog-sink.ts); this only opens the socket and sends.
#include "modules.h"
#include "sys_args.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace vfsd {
namespace {

// unixDgramConnect(path) -> a connected, non-blocking AF_UNIX SOCK_DGRAM fd, or -errno.
Napi::Value Connect(const Napi::CallbackInfo& info) {
  Args a(info, "unixDgramConnect", 1);
  NameBuf path;
  a.Name(0, path);
  if (!a.Ok()) return a.Bail();
  sockaddr_un sun;
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  size_t len = strlen(path.ptr);
  if (len >= sizeof(sun.sun_path)) return a.Num(-ENAMETOOLONG);
  memcpy(sun.sun_path, path.ptr, len);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return a.Num(-errno);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) < 0) {
    int e = errno;
    close(fd);
    return a.Num(-e);
  }
  return a.Num(fd);
}

// dgramSend(fd, bytes) -> bytes sent, or -errno (-EAGAIN when the receiver is full: never waits).
Napi::Value Send(const Napi::CallbackInfo& info) {
  Args a(info, "dgramSend", 2);
  int fd = a.Int(0);
  Bytes b = a.U8(1);
  if (!a.Ok()) return a.Bail();
  return a.Ret(send(fd, b.data, b.len, MSG_DONTWAIT | MSG_NOSIGNAL));
}

}  // namespace

void InitSysSyslog(Napi::Env env, Napi::Object exports) {
  exports.Set("unixDgramConnect", Napi::Function::New(env, Connect, "unixDgramConnect"));
  exports.Set("dgramSend", Napi::Function::New(env, Send, "dgramSend"));
}

}  // namespace vfsd
