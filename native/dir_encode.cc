// READDIR's hot loop: host directory records (getdents64's linux_dirent64) become the client's
// fuse_dirent records straight in the reply buffer, without a JS step per entry.
//
// TypeScript decides, this moves bytes: the caller (src/passthrough/dir-stream.ts) owns the
// getdents buffer and the stream's position, and says per directory how host inode numbers become
// client ones (multidevs): `ino | prefixHi << 32` for every host ino below 2^inoBits. An entry
// outside that rule stops the run (reason NEEDS_POLICY) so TypeScript encodes it itself; nothing
// is decided here.
//
// Wire format written per entry (struct fuse_dirent, linux/fuse.h): u64 ino, u64 off (the
// stream's ordinal after this entry: the cookie the next READDIR sends back), u32 namelen,
// u32 type, the name, zero padding to a multiple of 8.
//
// What could be hostile or odd: the state array comes from our TypeScript, but is checked anyway
// (a wrong value answers -EINVAL, never an overrun); records come from the host kernel and are
// checked against the bytes getdents returned (a bad one answers -EIO); a reply too small for the
// next entry just ends the run (reason FULL), and the entry stays for the next call.
#include <napi.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "modules.h"
#include "sys_args.h"
#include "syscall_clock.h"

namespace vfsd {
namespace {

// Indexes of the state Float64Array shared with dir-stream.ts.
// FILL_MAX (read only): at most this many bytes per getdents64 (0: the whole buffer). A getdents64
// is CPU work proportional to what it returns (~0.3 us per entry on tmpfs here: 650 us for 64 KiB),
// and this one runs on the JS thread, where every other request waits for it.
enum State { POS = 0, FILLED = 1, EOF_SEEN = 2, ORDINAL = 3, OUT_POS = 4, REASON = 5, FILL_MAX = 6, STATE_LEN = 7 };
// Why a run stopped (state[REASON]).
enum Reason { END = 0, FULL = 1, NEEDS_POLICY = 2, FAILED = 3, BATCH = 4, EMPTY = 5 };

constexpr size_t kDirentHeader = 24;    // fuse_dirent without the name
constexpr size_t kEntryOut = 128;       // fuse_entry_out, in front of each fuse_direntplus
constexpr size_t kRecordName = 19;      // offsetof(linux_dirent64, d_name)

// Per READDIRPLUS entry, what TypeScript needs to finish it (the `info` Float64Array).
enum Info {
  I_REC = 0,      // offset of the fuse_direntplus in `out`
  I_STATUS = 1,   // 0: statx succeeded (TypeScript completes the lookup); 1: no lookup ("." and
                  // ".."); -errno: statx failed (listed without attributes)
  I_MASK = 2, I_MNT_ID = 3, I_DEV_MAJOR = 4, I_DEV_MINOR = 5, I_INO_HI = 6, I_INO_LO = 7,
  I_MODE = 8, I_UID = 9, I_GID = 10,
  INFO_STRIDE = 11
};

inline void PutU64(uint8_t* p, uint64_t v) { memcpy(p, &v, 8); }
inline void PutU32(uint8_t* p, uint32_t v) { memcpy(p, &v, 4); }

// The host's st_rdev as fuse_attr.rdev wants it (the kernel's new_encode_dev, 32 bits).
inline uint32_t EncodeRdev(uint32_t major, uint32_t minor) {
  return (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & 0xfff00) << 12);
}

// fuse_entry_out from a statx: nodeid, ino and attr.flags are left 0 for TypeScript to fill in
// (it owns the inode table and the multidevs numbering); a zero nodeid tells the kernel to take
// no reference, so an entry TypeScript does not complete is harmless.
void WriteEntryOut(uint8_t* e, const struct statx& sx, uint64_t validSec, uint32_t validNsec) {
  memset(e, 0, kEntryOut);
  PutU64(e + 16, validSec);   // entry_valid
  PutU64(e + 24, validSec);   // attr_valid
  PutU32(e + 32, validNsec);
  PutU32(e + 36, validNsec);
  uint8_t* a = e + 40;        // struct fuse_attr
  PutU64(a + 8, sx.stx_size);
  PutU64(a + 16, sx.stx_blocks);
  PutU64(a + 24, static_cast<uint64_t>(sx.stx_atime.tv_sec));
  PutU64(a + 32, static_cast<uint64_t>(sx.stx_mtime.tv_sec));
  PutU64(a + 40, static_cast<uint64_t>(sx.stx_ctime.tv_sec));
  PutU32(a + 48, sx.stx_atime.tv_nsec);
  PutU32(a + 52, sx.stx_mtime.tv_nsec);
  PutU32(a + 56, sx.stx_ctime.tv_nsec);
  PutU32(a + 60, sx.stx_mode);
  PutU32(a + 64, sx.stx_nlink);
  PutU32(a + 68, sx.stx_uid);
  PutU32(a + 72, sx.stx_gid);
  PutU32(a + 76, EncodeRdev(sx.stx_rdev_major, sx.stx_rdev_minor));
  PutU32(a + 80, sx.stx_blksize);
}

struct Run {
  int fd;
  Bytes buf;
  Bytes out;
  int64_t outLimit;
  uint64_t prefix;
  int32_t inoBits;
  // READDIRPLUS only (plus): the directory to statx names in, the timeout, the info array.
  bool plus = false;
  int dirfd = -1;
  uint64_t validSec = 0;
  uint32_t validNsec = 0;
  double* info = nullptr;
  size_t infoCap = 0;
  // The d_ino ".." gets instead of the host's (the export root's own number: its host parent is
  // outside the export and its number is nobody's business), or -1.
  int64_t dotdotIno = -1;
};

// An optional trailing argument: the override for "..", -1 when absent or not a safe integer.
int64_t DotdotArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber()) return -1;
  double d = info[i].As<Napi::Number>().DoubleValue();
  int64_t v = -1;
  if (!Args::ToInt64(d, &v) || v < 0) return -1;
  return v;
}

bool IsDotOrDotDot(const uint8_t* name, size_t len) {
  return (len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.');
}

Napi::Value Encode(Args& a, double* st, Run& r) {
  int64_t pos = 0, filled = 0, outPos = 0;
  if (!Args::ToInt64(st[POS], &pos) || !Args::ToInt64(st[FILLED], &filled) ||
      !Args::ToInt64(st[OUT_POS], &outPos) || filled < 0 || static_cast<uint64_t>(filled) > r.buf.len ||
      pos < 0 || pos > filled || r.outLimit < 0 || static_cast<uint64_t>(r.outLimit) > r.out.len ||
      outPos < 0 || r.inoBits < 0 || r.inoBits > 64 || !(st[ORDINAL] >= 0)) {
    return a.Num(-EINVAL);
  }
  bool eof = st[EOF_SEEN] != 0;
  double ordinal = st[ORDINAL];
  size_t fillLen = r.buf.len;
  int64_t fillMax = 0;
  if (Args::ToInt64(st[FILL_MAX], &fillMax) && fillMax > 0 && static_cast<uint64_t>(fillMax) < fillLen) fillLen = static_cast<size_t>(fillMax);
  long count = 0;
  size_t infoUsed = 0;
  Reason reason = END;
  int err = 0;
  const size_t header = r.plus ? kEntryOut + kDirentHeader : kDirentHeader;

  for (;;) {
    if (pos >= filled) {
      if (eof) { reason = END; break; }
      // fd -1: the records in buf are all this run may use (the caller refills it on the
      // worker pool: a slow mount's getdents never runs on the JS thread).
      if (r.fd < 0) { reason = EMPTY; break; }
      long n;
      {
        SyscallTimer timed;
        n = syscall(SYS_getdents64, r.fd, r.buf.data, fillLen);
      }
      if (n < 0) { err = errno; reason = FAILED; break; }
      pos = filled = 0;
      if (n == 0) { eof = true; reason = END; break; }
      filled = n;
    }
    const uint8_t* rec = r.buf.data + pos;
    if (filled - pos < static_cast<int64_t>(kRecordName + 1)) { err = EIO; reason = FAILED; break; }
    uint16_t reclen;
    memcpy(&reclen, rec + 16, 2);
    if (reclen <= kRecordName || reclen > filled - pos) { err = EIO; reason = FAILED; break; }
    uint64_t ino;
    memcpy(&ino, rec, 8);
    const uint8_t* name = rec + kRecordName;
    size_t maxName = reclen - kRecordName;
    const void* nul = memchr(name, 0, maxName);
    size_t nameLen = nul ? static_cast<const uint8_t*>(nul) - name : maxName;
    bool isDotdot = nameLen == 2 && name[0] == '.' && name[1] == '.';
    if (r.inoBits < 64 && (ino >> r.inoBits) != 0 && !(isDotdot && r.dotdotIno >= 0)) { reason = NEEDS_POLICY; break; }
    size_t size = (header + nameLen + 7) & ~static_cast<size_t>(7);
    if (outPos + static_cast<int64_t>(size) > r.outLimit) { reason = FULL; break; }
    uint8_t* d = r.out.data + outPos;
    if (r.plus) {
      // Room is checked before the statx: an entry that does not fit is never looked up.
      if (infoUsed >= r.infoCap) { reason = BATCH; break; }
      double* inf = r.info + infoUsed * INFO_STRIDE;
      if (IsDotOrDotDot(name, nameLen)) {
        memset(d, 0, kEntryOut);
        inf[I_STATUS] = 1;
      } else {
        // The name is NUL-terminated within the record (getdents64 pads with NULs); a record
        // without a NUL (never seen from a kernel) is not looked up.
        struct statx sx;
        long rc;
        if (nul) {
          SyscallTimer timed;
          rc = syscall(SYS_statx, r.dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME | STATX_MNT_ID, &sx);
        } else {
          errno = EINVAL;
          rc = -1;
        }
        if (rc < 0 && errno == ENOENT) {
          // Gone between getdents and the statx: not listed, as a fresh listing would show.
          pos += reclen;
          ordinal += 1;
          continue;
        }
        if (rc < 0) {
          memset(d, 0, kEntryOut);
          inf[I_STATUS] = -errno;
        } else {
          WriteEntryOut(d, sx, r.validSec, r.validNsec);
          inf[I_STATUS] = 0;
          inf[I_MASK] = sx.stx_mask;
          inf[I_MNT_ID] = static_cast<double>(sx.stx_mnt_id);
          inf[I_DEV_MAJOR] = sx.stx_dev_major;
          inf[I_DEV_MINOR] = sx.stx_dev_minor;
          inf[I_INO_HI] = static_cast<double>(sx.stx_ino >> 32);
          inf[I_INO_LO] = static_cast<double>(sx.stx_ino & 0xffffffffu);
          inf[I_MODE] = sx.stx_mode;
          inf[I_UID] = sx.stx_uid;
          inf[I_GID] = sx.stx_gid;
        }
      }
      inf[I_REC] = static_cast<double>(outPos);
      infoUsed++;
      d += kEntryOut;
    }
    PutU64(d, isDotdot && r.dotdotIno >= 0 ? static_cast<uint64_t>(r.dotdotIno) : ino | r.prefix);
    PutU64(d + 8, static_cast<uint64_t>(ordinal + 1));
    PutU32(d + 16, static_cast<uint32_t>(nameLen));
    PutU32(d + 20, rec[18]);
    memcpy(d + kDirentHeader, name, nameLen);
    size_t used = (r.plus ? kEntryOut : 0) + kDirentHeader + nameLen;
    memset(d + kDirentHeader + nameLen, 0, size - used);
    outPos += size;
    pos += reclen;
    ordinal += 1;
    count++;
  }

  st[POS] = static_cast<double>(pos);
  st[FILLED] = static_cast<double>(filled);
  st[EOF_SEEN] = eof ? 1 : 0;
  st[ORDINAL] = ordinal;
  st[OUT_POS] = static_cast<double>(outPos);
  st[REASON] = reason;
  if (reason == FAILED && count == 0) return a.Num(-err);
  return a.Num(static_cast<double>(count));
}

// The arguments both encoders start with: fd, buf, state, out, outLimit, prefixHi, inoBits.
// Returns the state array (null, with the problem recorded in a, if it is not one).
double* SharedArgs(Args& a, Run& r) {
  r.fd = a.Int(0);
  r.buf = a.U8(1);
  double* st = a.F64(2, STATE_LEN);
  r.out = a.U8(3);
  r.outLimit = a.Int64(4);
  r.prefix = static_cast<uint64_t>(a.Uint(5)) << 32;
  r.inoBits = a.Int(6);
  return st;
}

// direntsEncode(fd, buf, state, out, outLimit, prefixHi, inoBits[, dotdotIno]): plain READDIR. Entries encoded
// (>= 0) or -errno when the very first step failed. A getdents error after some entries returns
// the count with reason FAILED: the error comes again on the next call, as its first step.
Napi::Value DirentsEncode(const Napi::CallbackInfo& info) {
  Args a(info, "direntsEncode", 7);
  Run r;
  double* st = SharedArgs(a, r);
  r.dotdotIno = DotdotArg(info, 7);
  if (!a.Ok()) return a.Bail();
  return Encode(a, st, r);
}

// direntplusEncode(fd, buf, state, out, outLimit, prefixHi, inoBits, dirfd, timeout, info[, dotdotIno]):
// READDIRPLUS. Like direntsEncode, with a statx of each name in dirfd written as the entry's
// attributes, and one INFO_STRIDE row per entry in info (stops with BATCH when info is full).
// Returns the number of entries written (each has an info row).
Napi::Value DirentplusEncode(const Napi::CallbackInfo& info) {
  Args a(info, "direntplusEncode", 10);
  Run r;
  r.plus = true;
  double* st = SharedArgs(a, r);
  r.dirfd = a.Int(7);
  int64_t timeoutNs = 0;
  if (info.Length() > 8 && info[8].IsNumber()) {
    double t = info[8].As<Napi::Number>().DoubleValue();
    if (!(t >= 0 && t < 1e12)) a.Fail(EINVAL);
    else timeoutNs = static_cast<int64_t>(t * 1e9);
  }
  r.validSec = static_cast<uint64_t>(timeoutNs / 1000000000);
  r.validNsec = static_cast<uint32_t>(timeoutNs % 1000000000);
  double* inf = a.F64(9, 0);
  if (!a.Ok()) return a.Bail();
  r.info = inf;
  r.dotdotIno = DotdotArg(info, 10);
  r.infoCap = info[9].As<Napi::Float64Array>().ElementLength() / INFO_STRIDE;
  return Encode(a, st, r);
}

}  // namespace

void InitDirEncode(Napi::Env env, Napi::Object exports) {
  exports.Set("direntsEncode", Napi::Function::New(env, DirentsEncode, "direntsEncode"));
  exports.Set("direntplusEncode", Napi::Function::New(env, DirentplusEncode, "direntplusEncode"));
}

}  // namespace vfsd
