// Mounting: direct mount(2), or fusermount3 with fd passing (see fuse_mount.h).
#include "fuse_mount.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sys_args.h"

extern char** environ;

namespace vfsd {
namespace fusedev {

int SetNonBlocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
  return 0;
}

namespace {

bool GetOptBool(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() && v.As<Napi::Boolean>().Value();
}

std::string GetOptString(const Napi::Object& o, const char* key, const char* dflt) {
  std::string s;
  return ArgString(o.Get(key), &s) ? s : std::string(dflt);
}

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

}  // namespace

Napi::Value FuseMount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MountArgs a;
  if (!ArgString(info[0], &a.mountpoint) || !info[1].IsObject()) {
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
  if (!ArgString(info[0], &mnt)) {
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

}  // namespace fusedev
}  // namespace vfsd
