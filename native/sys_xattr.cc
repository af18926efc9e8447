// Extended attributes by path and by fd (contract: src/native/sys.ts). Paths are usually
// "/proc/self/fd/N" for an O_PATH fd; `nofollow` picks the l*xattr call so a symlink planted by
// a client is never followed at the last component. Names and values are bytes end to end; a
// zero-length out buffer asks for the size, as in the kernel API.
#include "modules.h"
#include "sys_args.h"

#include <sys/xattr.h>

namespace vfsd {
namespace {

Napi::Value Getxattr(const Napi::CallbackInfo& info) {
  Args a(info, "getxattr", 4);
  NameBuf path, name;
  a.Name(0, path);
  a.Name(1, name);
  Bytes out = a.U8(2);
  bool nofollow = a.Bool(3);
  if (!a.Ok()) return a.Bail();
  return a.Ret(nofollow ? lgetxattr(path.ptr, name.ptr, out.data, out.len)
                        : getxattr(path.ptr, name.ptr, out.data, out.len));
}

Napi::Value Setxattr(const Napi::CallbackInfo& info) {
  Args a(info, "setxattr", 5);
  NameBuf path, name;
  a.Name(0, path);
  a.Name(1, name);
  Bytes value = a.U8(2);
  int flags = a.Int(3);
  bool nofollow = a.Bool(4);
  if (!a.Ok()) return a.Bail();
  return a.Ret(nofollow ? lsetxattr(path.ptr, name.ptr, value.data, value.len, flags)
                        : setxattr(path.ptr, name.ptr, value.data, value.len, flags));
}

Napi::Value Listxattr(const Napi::CallbackInfo& info) {
  Args a(info, "listxattr", 3);
  NameBuf path;
  a.Name(0, path);
  Bytes out = a.U8(1);
  bool nofollow = a.Bool(2);
  if (!a.Ok()) return a.Bail();
  char* list = reinterpret_cast<char*>(out.data);
  return a.Ret(nofollow ? llistxattr(path.ptr, list, out.len) : listxattr(path.ptr, list, out.len));
}

Napi::Value Removexattr(const Napi::CallbackInfo& info) {
  Args a(info, "removexattr", 3);
  NameBuf path, name;
  a.Name(0, path);
  a.Name(1, name);
  bool nofollow = a.Bool(2);
  if (!a.Ok()) return a.Bail();
  return a.Ret(nofollow ? lremovexattr(path.ptr, name.ptr) : removexattr(path.ptr, name.ptr));
}

Napi::Value Fgetxattr(const Napi::CallbackInfo& info) {
  Args a(info, "fgetxattr", 3);
  int fd = a.Int(0);
  NameBuf name;
  a.Name(1, name);
  Bytes out = a.U8(2);
  if (!a.Ok()) return a.Bail();
  return a.Ret(fgetxattr(fd, name.ptr, out.data, out.len));
}

Napi::Value Fsetxattr(const Napi::CallbackInfo& info) {
  Args a(info, "fsetxattr", 4);
  int fd = a.Int(0);
  NameBuf name;
  a.Name(1, name);
  Bytes value = a.U8(2);
  int flags = a.Int(3);
  if (!a.Ok()) return a.Bail();
  return a.Ret(fsetxattr(fd, name.ptr, value.data, value.len, flags));
}

Napi::Value Flistxattr(const Napi::CallbackInfo& info) {
  Args a(info, "flistxattr", 2);
  int fd = a.Int(0);
  Bytes out = a.U8(1);
  if (!a.Ok()) return a.Bail();
  return a.Ret(flistxattr(fd, reinterpret_cast<char*>(out.data), out.len));
}

Napi::Value Fremovexattr(const Napi::CallbackInfo& info) {
  Args a(info, "fremovexattr", 2);
  int fd = a.Int(0);
  NameBuf name;
  a.Name(1, name);
  if (!a.Ok()) return a.Bail();
  return a.Ret(fremovexattr(fd, name.ptr));
}

}  // namespace

void InitSysXattr(Napi::Env env, Napi::Object exports) {
  struct Fn { const char* name; Napi::Value (*fn)(const Napi::CallbackInfo&); };
  static const Fn fns[] = {
      {"getxattr", Getxattr},   {"setxattr", Setxattr},   {"listxattr", Listxattr},
      {"removexattr", Removexattr}, {"fgetxattr", Fgetxattr}, {"fsetxattr", Fsetxattr},
      {"flistxattr", Flistxattr}, {"fremovexattr", Fremovexattr},
  };
  for (const Fn& f : fns) exports.Set(f.name, Napi::Function::New(env, f.fn, f.name));
}

}  // namespace vfsd
