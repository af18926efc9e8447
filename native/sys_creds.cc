// Per-thread credentials (contract: src/native/sys.ts): the server acts as the client's uid/gid
// for one operation, so the kernel's own permission checks, and the owner of what gets created,
// are the client's. Linux keeps credentials per thread; glibc's setgroups/setresuid/setfsuid
// wrappers broadcast a change to every thread of the process (POSIX semantics). That would hand
// the client's identity to every other thread (libuv pool, workers serving other clients), so
// everything here is a raw syscall(2) that changes the calling thread only.
//
// Caveat for callers: a thread created while its creator is switched (a Worker, or the libuv
// pool started lazily by the first async call) inherits the switched credentials for good.
#include "modules.h"
#include "sys_args.h"
#include "thread_creds.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <vector>

namespace vfsd {
namespace {

// The supplementary groups the process had when the addon was first loaded: what resetCreds
// restores. A function-local static is initialised once, thread-safely, even if several worker
// threads load the addon.
const std::vector<gid_t>& StartGroups() {
  static const std::vector<gid_t> groups = [] {
    std::vector<gid_t> g;
    int n = getgroups(0, nullptr);  // a plain syscall in glibc: this thread's groups
    if (n > 0) {
      g.resize(n);
      n = getgroups(n, g.data());
      g.resize(n > 0 ? n : 0);
    }
    return g;
  }();
  return groups;
}

// setfsuid/setfsgid never report failure: they return the previous id either way. Asking again
// with an invalid id (-1) changes nothing and returns the current one, which tells whether the
// switch took effect.
int SwitchFsuid(uid_t uid) {
  syscall(SYS_setfsuid, uid);
  return static_cast<uid_t>(syscall(SYS_setfsuid, static_cast<uid_t>(-1))) == uid ? 0 : -EPERM;
}

int SwitchFsgid(gid_t gid) {
  syscall(SYS_setfsgid, gid);
  return static_cast<gid_t>(syscall(SYS_setfsgid, static_cast<gid_t>(-1))) == gid ? 0 : -EPERM;
}

int SetGroups(size_t n, const gid_t* groups) {
  return syscall(SYS_setgroups, n, groups) < 0 ? -errno : 0;
}

// Reverse order of SetCreds: fsuid first (back to the real euid, which also restores the
// filesystem capabilities the kernel dropped from the effective set), then fsgid, then groups.
// Every step is tried even if one fails; the first error is returned.
int Reset() {
  int e1 = SwitchFsuid(geteuid());
  int e2 = SwitchFsgid(getegid());
  const std::vector<gid_t>& g = StartGroups();
  int e3 = SetGroups(g.size(), g.data());
  return e1 ? e1 : e2 ? e2 : e3;
}

// Groups, then gid, then uid. On any failure the thread goes back to its real credentials,
// a known state, and the caller must not perform the operation (it gets the -errno).
int Switch(uid_t uid, gid_t gid, bool keepGroups, size_t ngroups, const gid_t* groups) {
  int e = 0;
  if (!keepGroups) e = SetGroups(ngroups, groups);
  if (e == 0) e = SwitchFsgid(gid);
  if (e == 0) e = SwitchFsuid(uid);
  if (e != 0) Reset();
  return e;
}

Napi::Value SetCreds(const Napi::CallbackInfo& info) {
  Args a(info, "setCreds", 3);
  uid_t uid = a.Uint(0);
  gid_t gid = a.Uint(1);
  size_t ngroups = 0;
  const uint32_t* groups = a.U32OrNull(2, &ngroups);
  if (!a.Ok()) return a.Bail();
  static_assert(sizeof(gid_t) == sizeof(uint32_t), "gid_t is 32 bits");
  bool keepGroups = info[2].IsNull() || info[2].IsUndefined();
  return a.Num(Switch(uid, gid, keepGroups, ngroups, reinterpret_cast<const gid_t*>(groups)));
}

Napi::Value ResetCreds(const Napi::CallbackInfo& info) {
  Args a(info, "resetCreds", 0);
  if (!a.Ok()) return a.Bail();
  return a.Num(Reset());
}

// capget/capset with version 3 (64-bit sets as two 32-bit words); pid 0 = the calling thread.
int CapGet(__user_cap_data_struct data[2]) {
  __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  return syscall(SYS_capget, &hdr, data) < 0 ? -errno : 0;
}

// Returns [effLo, effHi, permLo, permHi], or -errno (a number) if capget fails.
Napi::Value GetCaps(const Napi::CallbackInfo& info) {
  Args a(info, "getCaps", 0);
  if (!a.Ok()) return a.Bail();
  __user_cap_data_struct data[2] = {};
  if (int e = CapGet(data)) return a.Num(e);
  Napi::Array out = Napi::Array::New(info.Env(), 4);
  out.Set(0u, a.Num(data[0].effective));
  out.Set(1u, a.Num(data[1].effective));
  out.Set(2u, a.Num(data[0].permitted));
  out.Set(3u, a.Num(data[1].permitted));
  return out;
}

// Sets effective and permitted; inheritable is kept as it is.
Napi::Value SetCaps(const Napi::CallbackInfo& info) {
  Args a(info, "setCaps", 4);
  uint32_t effLo = a.Uint(0), effHi = a.Uint(1), permLo = a.Uint(2), permHi = a.Uint(3);
  if (!a.Ok()) return a.Bail();
  __user_cap_data_struct data[2] = {};
  if (int e = CapGet(data)) return a.Num(e);
  data[0].effective = effLo;
  data[1].effective = effHi;
  data[0].permitted = permLo;
  data[1].permitted = permHi;
  __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  return a.Ret(syscall(SYS_capset, &hdr, data));
}

}  // namespace

int SetThreadCreds(uid_t uid, gid_t gid, bool keepGroups, size_t ngroups, const gid_t* groups) {
  return Switch(uid, gid, keepGroups, ngroups, groups);
}

int ResetThreadCreds() { return Reset(); }

WithoutFsetid::WithoutFsetid() {
  __user_cap_data_struct data[2] = {};
  if ((error_ = CapGet(data)) != 0) return;
  constexpr uint32_t bit = 1u << CAP_FSETID;  // CAP_FSETID is 4: in the low word
  if (!(data[0].effective & bit)) return;  // not there (e.g. an fsuid switch dropped it)
  effective_[0] = data[0].effective;
  effective_[1] = data[1].effective;
  data[0].effective &= ~bit;
  __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  if (syscall(SYS_capset, &hdr, data) < 0) error_ = -errno;
  else lowered_ = true;
}

WithoutFsetid::~WithoutFsetid() {
  if (!lowered_) return;
  __user_cap_data_struct data[2] = {};
  if (CapGet(data) == 0) {
    data[0].effective = effective_[0];
    data[1].effective = effective_[1];
    __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    // Raising an effective bit back within the permitted set cannot be refused; if it ever is,
    // the thread only has less power (writes through the server then clear bits root's keep).
    if (syscall(SYS_capset, &hdr, data) == 0) return;
  }
  fprintf(stderr, "vfsd: could not restore CAP_FSETID on a serving thread: %s\n", strerror(errno));
}

void InitSysCreds(Napi::Env env, Napi::Object exports) {
  StartGroups();  // record the groups now, before any thread switches
  struct Fn { const char* name; Napi::Value (*fn)(const Napi::CallbackInfo&); };
  static const Fn fns[] = {
      {"setCreds", SetCreds}, {"resetCreds", ResetCreds}, {"getCaps", GetCaps}, {"setCaps", SetCaps},
  };
  for (const Fn& f : fns) exports.Set(f.name, Napi::Function::New(env, f.fn, f.name));
}

}  // namespace vfsd
