// The sandbox's syscalls (contract: src/native/sandbox.ts).
//
// Why a launcher at all: node is multithreaded before any JS runs, and namespaces, the root
// directory's fs_struct and capabilities are per THREAD in the kernel. unshare() or capset() from
// the running process would move only the calling thread. So the process that serves is born in
// its namespaces with a reduced capability bounding set: clone() straight into new mount, pid and
// net namespaces (the child is pid 1 there; with --uid-map/--gid-map a new user namespace owns
// them), drop the bounding set, execve node again. Between
// clone and execve the child is a copy of a multithreaded process: only async-signal-safe calls
// (raw syscalls, no allocation, no locks), every result checked, failures reported with write(2)
// and _exit.
#include "modules.h"
#include "sys_args.h"
#include "vhost_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>
#include <linux/capability.h>

#include <memory>
#include <string>
#include <vector>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace vfsd {
namespace {

constexpr int kMaxCap = 63;

// The child's last words before _exit: "vfsd: sandbox: <what>: errno N\n" without printf.
void ChildFail(const char* what, int err) {
  char buf[160];
  size_t n = 0;
  auto put = [&](const char* s) { while (*s && n < sizeof buf - 1) buf[n++] = *s++; };
  put("vfsd: sandbox: ");
  put(what);
  put(": errno ");
  char digits[12];
  int d = 0;
  unsigned v = static_cast<unsigned>(err);
  do { digits[d++] = static_cast<char>('0' + v % 10); v /= 10; } while (v && d < 11);
  while (d > 0 && n < sizeof buf - 1) buf[n++] = digits[--d];
  buf[n++] = '\n';
  ssize_t w = write(2, buf, n);
  (void)w;
  _exit(1);
}

bool Keeps(const uint32_t* keep, size_t count, int cap) {
  for (size_t i = 0; i < count; i++) if (keep[i] == static_cast<uint32_t>(cap)) return true;
  return false;
}

// Drops every capability not in keep from the calling thread's bounding set (what an execve as
// root turns into the permitted set of every thread of the new program). Async-signal-safe.
// Returns 0 or -errno; EINVAL past the kernel's last capability is the end of the list.
int DropBounding(const uint32_t* keep, size_t count) {
  for (int cap = 0; cap <= kMaxCap; cap++) {
    if (Keeps(keep, count, cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      if (errno == EINVAL) break;
      return -errno;
    }
  }
  return 0;
}

// Everything the new program must not inherit: ambient caps, the chance to gain privileges
// through a setuid or file-capability binary, a blocked signal mask.
int HardenForExec(const uint32_t* keep, size_t count) {
  // Node marks stdin/stdout/stderr close-on-exec; the new program must keep them (a closed one
  // would be replaced by /dev/null, and our log would vanish).
  for (int fd = 0; fd <= 2; fd++) {
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0 && (fl & FD_CLOEXEC) && fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0) return -errno;
  }
  int r = DropBounding(keep, count);
  if (r < 0) return r;
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) return -errno;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return -errno;
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, nullptr) < 0) return -errno;
  return 0;
}

// argv/env as a NULL-terminated char* array over strings kept alive by `store`; built before any
// clone, since the child may not allocate.
bool StringArray(const Napi::Value& v, std::vector<std::string>* store, std::vector<char*>* out) {
  if (!v.IsArray()) return false;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value s = a.Get(i);
    if (!s.IsString()) return false;
    store->push_back(s.As<Napi::String>().Utf8Value());
    if (store->back().find('\0') != std::string::npos) return false;
  }
  for (auto& s : *store) out->push_back(const_cast<char*>(s.c_str()));
  out->push_back(nullptr);
  return true;
}

struct ExecArgs {
  std::string file;
  std::vector<std::string> argvStore, envStore;
  std::vector<char*> argv, envp;
  std::vector<uint32_t> keep;
};

// (file, argv[], env[], keepCaps: Uint32Array) -> false with a TypeError pending on bad types.
bool ReadExecArgs(const Napi::CallbackInfo& info, ExecArgs* e) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[3].IsTypedArray() ||
      info[3].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
      !StringArray(info[1], &e->argvStore, &e->argv) || !StringArray(info[2], &e->envStore, &e->envp)) {
    Napi::TypeError::New(env, "(file: string, argv: string[], env: string[], keepCaps: Uint32Array, ...)")
        .ThrowAsJavaScriptException();
    return false;
  }
  e->file = info[0].As<Napi::String>().Utf8Value();
  Napi::Uint32Array k = info[3].As<Napi::Uint32Array>();
  e->keep.assign(k.Data(), k.Data() + k.ElementLength());
  return true;
}

// In a new user namespace the child's ids are unmapped (seen as the overflow id) until the parent
// writes its uid_map/gid_map: it waits for one byte on `go` (EOF: the parent gave up, exit), then
// becomes uid/gid 0 of the namespace before the execve, or the kernel would take every capability
// away at the exec of a non-root program. Raw syscalls: glibc's setresuid wrapper would signal the
// parent's threads, which this copy of the process does not have. Supplementary groups are
// dropped where the map's writer allowed setgroups (root, newgidmap with a subgid range); where
// it denied it (EPERM) the groups cannot be changed by anyone inside, and they stay. A gid map
// without inside gid 0 (EINVAL) leaves the gid as it is, as virtiofsd does.
void BecomeNamespaceRoot(int go) {
  char b = 0;
  ssize_t n;
  do n = read(go, &b, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) _exit(1);
  close(go);
  if (syscall(SYS_setgroups, 0, nullptr) < 0 && errno != EPERM) ChildFail("setgroups", errno);
  if (syscall(SYS_setresgid, 0, 0, 0) < 0 && errno != EINVAL) ChildFail("setresgid 0", errno);
  if (syscall(SYS_setresuid, 0, 0, 0) < 0) ChildFail("setresuid 0 (is uid 0 mapped?)", errno);
}

// sandboxSpawn(file, argv, env, keepCaps, newNamespaces: boolean, inheritFds: Uint32Array,
//              userNamespace: boolean) -> [pid, pidfd, goFd (-1 without a user namespace)] or -errno.
// The child: dies with its parent (PR_SET_PDEATHSIG, and a pipe that tells if the parent was
// already gone before that took effect), is pid 1 of a new pid namespace in new mount and net
// namespaces when asked (owned by a new user namespace too when userNamespace: see above; the
// caller writes the maps, then one byte to goFd, and closes it), keeps inheritFds open across the
// execve, and runs file with a reduced bounding set and no_new_privs.
Napi::Value SandboxSpawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ExecArgs e;
  if (!ReadExecArgs(info, &e)) return env.Undefined();
  if (info.Length() < 7 || !info[4].IsBoolean() || !info[5].IsTypedArray() ||
      info[5].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array || !info[6].IsBoolean()) {
    Napi::TypeError::New(env, "sandboxSpawn(..., newNamespaces: boolean, inheritFds: Uint32Array, userNamespace: boolean)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  bool ns = info[4].As<Napi::Boolean>().Value();
  bool userNs = info[6].As<Napi::Boolean>().Value();
  Napi::Uint32Array fa = info[5].As<Napi::Uint32Array>();
  std::vector<int> inherit(fa.Data(), fa.Data() + fa.ElementLength());

  // The parent holds the write end for its whole life; a child that finds it closed (POLLHUP)
  // knows its parent died before PR_SET_PDEATHSIG could catch it.
  int alive[2];
  if (pipe2(alive, O_CLOEXEC) < 0) return Napi::Number::New(env, -errno);
  int go[2] = {-1, -1};
  if (userNs && pipe2(go, O_CLOEXEC) < 0) {
    int err = errno;
    close(alive[0]);
    close(alive[1]);
    return Napi::Number::New(env, -err);
  }
  auto closeGo = [&] {
    if (go[0] >= 0) close(go[0]);
    if (go[1] >= 0) close(go[1]);
  };
  unsigned long flags = SIGCHLD | CLONE_PIDFD;
  if (ns) flags |= CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET;
  if (userNs) flags |= CLONE_NEWUSER;
  int pidfd = -1;
  // Raw clone with no new stack behaves like fork (copy-on-write) but takes namespace flags and
  // hands back a pidfd. x86_64/arm64 argument order: flags, stack, parent_tid, child_tid, tls.
  long pid = syscall(SYS_clone, flags, nullptr, &pidfd, nullptr, nullptr);
  if (pid < 0) {
    int err = errno;
    close(alive[0]);
    close(alive[1]);
    closeGo();
    return Napi::Number::New(env, -err);
  }
  if (pid == 0) {
    close(alive[1]);
    if (userNs) {
      close(go[1]);
      BecomeNamespaceRoot(go[0]);
    }
    // After the id change: changing credentials clears the parent-death signal.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) ChildFail("PR_SET_PDEATHSIG", errno);
    pollfd p{alive[0], POLLIN, 0};
    if (poll(&p, 1, 0) < 0) ChildFail("poll", errno);
    if (p.revents & (POLLHUP | POLLERR)) _exit(1);
    int r = HardenForExec(e.keep.data(), e.keep.size());
    if (r < 0) ChildFail("capability bounding set", -r);
    for (int fd : inherit) {
      if (fcntl(fd, F_SETFD, 0) < 0) ChildFail("inherited fd", errno);
    }
    execve(e.file.c_str(), e.argv.data(), e.envp.data());
    ChildFail("execve", errno);
  }
  close(alive[0]);
  if (userNs) close(go[0]);
  // alive[1] stays open (close-on-exec) as long as this process lives: that is its job.
  Napi::Array out = Napi::Array::New(env, 3);
  out.Set(0u, Napi::Number::New(env, static_cast<double>(pid)));
  out.Set(1u, Napi::Number::New(env, pidfd));
  // Owned by the caller from here: it writes the go byte (or not) and closes it.
  out.Set(2u, Napi::Number::New(env, go[1]));
  return out;
}

// sandboxExec(file, argv, env, keepCaps, inheritFds: Uint32Array): replaces this process (same pid) after dropping the
// bounding set and setting no_new_privs; returns only on failure, with -errno. execve from a
// multithreaded process is fine: the kernel ends every other thread first.
Napi::Value SandboxExec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ExecArgs e;
  if (!ReadExecArgs(info, &e)) return env.Undefined();
  if (info.Length() < 5 || !info[4].IsTypedArray() || info[4].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    Napi::TypeError::New(env, "sandboxExec(..., inheritFds: Uint32Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint32Array fa = info[4].As<Napi::Uint32Array>();
  for (size_t i = 0; i < fa.ElementLength(); i++) {
    if (fcntl(static_cast<int>(fa[i]), F_SETFD, 0) < 0) return Napi::Number::New(env, -errno);
  }
  int r = HardenForExec(e.keep.data(), e.keep.size());
  if (r < 0) return Napi::Number::New(env, r);
  execve(e.file.c_str(), e.argv.data(), e.envp.data());
  return Napi::Number::New(env, -errno);
}

// The calling thread's capabilities become exactly `keep` (permitted and effective; inheritable
// and the rest of the bounding set emptied). Threads created afterwards inherit this; threads
// that already exist keep what they had (capabilities are per thread).
Napi::Value CapSetThread(const Napi::CallbackInfo& info) {
  Args a(info, "capSetThread", 1);
  size_t count = 0;
  uint32_t* keep = a.U32OrNull(0, &count);
  if (!a.Ok()) return a.Bail();
  int r = DropBounding(keep, count);
  if (r < 0) return a.Num(r);
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  for (size_t i = 0; i < count; i++) {
    uint32_t cap = keep[i];
    if (cap > kMaxCap) continue;
    data[cap / 32].permitted |= 1u << (cap % 32);
    data[cap / 32].effective |= 1u << (cap % 32);
  }
  return a.Ret(syscall(SYS_capset, &hdr, data));
}

Napi::Value PivotRoot(const Napi::CallbackInfo& info) {
  Args a(info, "pivotRoot", 2);
  NameBuf n, o;
  a.Name(0, n);
  a.Name(1, o);
  if (!a.Ok()) return a.Bail();
  return a.Ret(syscall(SYS_pivot_root, n.ptr, o.ptr));
}

Napi::Value Chroot(const Napi::CallbackInfo& info) {
  Args a(info, "chroot", 1);
  NameBuf n;
  a.Name(0, n);
  if (!a.Ok()) return a.Bail();
  return a.Ret(chroot(n.ptr));
}

// listenUnix(path, group) -> listening fd (close-on-exec) or -errno: the vhost-user socket made
// by the process outside the sandbox, whose path the sandbox cannot reach.
Napi::Value ListenUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    Napi::TypeError::New(env, "listenUnix(path: string, group: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, CreateListener(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value()));
}

// watchChild(pidfd, cb(code, signal)): polls the pidfd on the event loop (keeping it alive) and
// reaps the child when it ends: no zombie, no thread.
struct ChildWatch {
  uv_poll_t poll;
  int pidfd;
  napi_env env;
  Napi::FunctionReference cb;
  std::unique_ptr<Napi::AsyncContext> ctx;
};

void FreeWatch(uv_handle_t* h) { delete static_cast<ChildWatch*>(h->data); }

void OnChildPoll(uv_poll_t* h, int status, int events) {
  ChildWatch* w = static_cast<ChildWatch*>(h->data);
  siginfo_t si{};
  int r;
  do r = waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(w->pidfd), &si, WEXITED | WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == 0 && si.si_pid == 0) return;  // readable but not yet reapable: wait for the next one
  int code = -1, sig = 0;
  if (r == 0) {
    if (si.si_code == CLD_EXITED) code = si.si_status;
    else sig = si.si_status;
  }
  uv_poll_stop(h);
  close(w->pidfd);
  w->pidfd = -1;
  {
    Napi::Env env(w->env);
    Napi::HandleScope scope(env);
    w->cb.MakeCallback(env.Global(), {Napi::Number::New(env, code), Napi::Number::New(env, sig)}, *w->ctx);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(h), FreeWatch);
}

Napi::Value WatchChild(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) {
    Napi::TypeError::New(env, "watchChild(pidfd: number, cb: function)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) return Napi::Number::New(env, -EINVAL);
  auto* w = new ChildWatch;
  w->pidfd = info[0].As<Napi::Number>().Int32Value();
  w->env = env;
  int r = uv_poll_init(loop, &w->poll, w->pidfd);
  if (r < 0) {
    delete w;
    return Napi::Number::New(env, r);
  }
  w->poll.data = w;
  r = uv_poll_start(&w->poll, UV_READABLE, OnChildPoll);
  if (r < 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), FreeWatch);
    return Napi::Number::New(env, r);
  }
  w->cb = Napi::Persistent(info[1].As<Napi::Function>());
  w->ctx.reset(new Napi::AsyncContext(env, "vfsd:sandbox-child"));
  return Napi::Number::New(env, 0);
}

}  // namespace

void InitSysSandbox(Napi::Env env, Napi::Object exports) {
  Napi::Object s = Napi::Object::New(env);
  s.Set("sandboxSpawn", Napi::Function::New(env, SandboxSpawn, "sandboxSpawn"));
  s.Set("sandboxExec", Napi::Function::New(env, SandboxExec, "sandboxExec"));
  s.Set("capSetThread", Napi::Function::New(env, CapSetThread, "capSetThread"));
  s.Set("pivotRoot", Napi::Function::New(env, PivotRoot, "pivotRoot"));
  s.Set("chroot", Napi::Function::New(env, Chroot, "chroot"));
  s.Set("listenUnix", Napi::Function::New(env, ListenUnix, "listenUnix"));
  s.Set("watchChild", Napi::Function::New(env, WatchChild, "watchChild"));
  exports.Set("sandbox", s);
}

}  // namespace vfsd
