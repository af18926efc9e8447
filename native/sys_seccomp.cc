// The seccomp filter (contract: src/native/seccomp.ts). TypeScript decides which syscalls are
// allowed and what happens to the others (src/cli/seccomp.ts); this file only turns that list
// into a classic-BPF program and installs it on every thread of the process at once (TSYNC), so
// the libuv pool, V8's workers and any native worker threads are all covered, and threads made
// later inherit it.
//
// Why a hostile guest matters here: the filter is what still stands if a bug in request handling
// lets a guest run code in vfsd. Anything not listed is refused before the kernel does any work.
#include "modules.h"
#include "sys_args.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <vector>

namespace vfsd {
namespace {

#if defined(__x86_64__)
constexpr uint32_t kArch = AUDIT_ARCH_X86_64;
// x32 syscalls share the x86_64 arch token but carry this bit: they would bypass every
// number compared below, so they are killed outright.
constexpr uint32_t kX32Bit = 0x40000000;
#endif

// What TS passes as `action` (src/native/seccomp.ts SeccompAction).
enum Action { kKill = 0, kLog = 1, kTrap = 2 };

// SIGSYS from SECCOMP_RET_TRAP: say which call was refused (write(2) is async-signal-safe and
// allowed) and make it fail with ENOSYS instead of taking the process down.
void OnSigsys(int, siginfo_t* si, void* uctx) {
  char msg[80];
  int nr = si->si_syscall;
  int n = snprintf(msg, sizeof(msg), "vfsd: seccomp: trapped forbidden syscall %d (answered ENOSYS)\n", nr);
  if (n > 0) {
    ssize_t w = write(2, msg, static_cast<size_t>(n));
    (void)w;
  }
#if defined(__x86_64__)
  static_cast<ucontext_t*>(uctx)->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
#endif
}

// seccompInstall(numbers: Uint32Array, action) -> 0 or -errno.
Napi::Value Install(const Napi::CallbackInfo& info) {
  Args a(info, "seccompInstall", 2);
  size_t count = 0;
  uint32_t* nrs = a.U32OrNull(0, &count);
  int action = a.Int(1);
  if (!a.Ok()) return a.Bail();
#if !defined(__x86_64__)
  (void)nrs;
  (void)count;
  (void)action;
  return a.Num(-ENOSYS);
#else
  uint32_t deflt;
  switch (action) {
    case kKill: deflt = SECCOMP_RET_KILL_PROCESS; break;
    case kLog: deflt = SECCOMP_RET_LOG; break;
    case kTrap: deflt = SECCOMP_RET_TRAP; break;
    default: return a.Num(-EINVAL);
  }
  // A BPF program is at most BPF_MAXINSNS (4096) instructions: 2 per syscall plus 6.
  if (count > 2000) return a.Num(-E2BIG);
  std::vector<sock_filter> prog;
  prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0));
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
  prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
  prog.push_back(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, kX32Bit, 0, 1));
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
  // One compare and one return per syscall: no jump ever needs more than the 8-bit offset.
  for (size_t i = 0; i < count; i++) {
    prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nrs[i], 0, 1));
    prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  }
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, deflt));
  sock_fprog fprog;
  fprog.len = static_cast<unsigned short>(prog.size());
  fprog.filter = prog.data();

  if (action == kTrap) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = OnSigsys;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, nullptr) < 0) return a.Num(-errno);
  }
  // no_new_privs: required to install a filter without CAP_SYS_ADMIN, and it also means no
  // exec'd program could ever gain privileges from a setuid bit.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return a.Num(-errno);
  long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fprog);
  // With TSYNC a positive result is the id of a thread that could not be synchronized.
  if (r > 0) return a.Num(-EAGAIN);
  return a.Ret(r);
#endif
}

// seccompProbe() -> the result of a syscall vfsd never makes (personality(0xffffffff), which
// only queries the persona), or -errno. Tests use it to check what the filter does to an
// unlisted call.
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Args a(info, "seccompProbe", 0);
  if (!a.Ok()) return a.Bail();
  return a.Ret(syscall(SYS_personality, 0xffffffffUL));
}

// seccompProbeNumber() -> the syscall number seccompProbe makes (for log checks).
Napi::Value ProbeNumber(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), SYS_personality);
}

}  // namespace

void InitSysSeccomp(Napi::Env env, Napi::Object exports) {
  exports.Set("seccompInstall", Napi::Function::New(env, Install, "seccompInstall"));
  exports.Set("seccompProbe", Napi::Function::New(env, Probe, "seccompProbe"));
  exports.Set("seccompProbeNumber", Napi::Function::New(env, ProbeNumber, "seccompProbeNumber"));
}

}  // namespace vfsd
