// Argument helpers shared by native/'s N-API faces (the sys_*.cc wrappers and the transports).
//
// Convention (src/native/sys.ts): a wrong argument TYPE is a programming error and throws a
// TypeError; anything the kernel or a hostile name could cause is returned as -errno. So the
// accessors below throw at most once, record errno-class problems (NUL in a name, a name past
// PATH_MAX, a buffer too small) in `err_`, and every wrapper ends its argument parsing with
//   if (!a.Ok()) return a.Bail();
#pragma once
#include <napi.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <string>

namespace vfsd {

// Value checks that never throw, for faces that answer a wrong argument with -EINVAL instead of
// a TypeError (the transports' answer paths: a bad token is the engine's bug, refused as a value
// in the middle of a batch, not thrown).

// A string without NUL (a NUL would silently cut a path short).
inline bool ArgString(const Napi::Value& v, std::string* out) {
  if (!v.IsString()) return false;
  *out = v.As<Napi::String>().Utf8Value();
  return out->find('\0') == std::string::npos;
}

// The bytes of a Uint8Array (or Buffer).
inline bool ArgBytes(const Napi::Value& v, uint8_t** data, size_t* size) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    return false;
  }
  Napi::Uint8Array u8 = v.As<Napi::Uint8Array>();
  *data = u8.Data();
  *size = u8.ByteLength();
  return true;
}

// A non-negative integer JS number (exact up to 2^53).
inline bool ArgUint(const Napi::Value& v, uint64_t* out) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 9007199254740992.0 && d == static_cast<double>(static_cast<uint64_t>(d)))) {
    return false;
  }
  *out = static_cast<uint64_t>(d);
  return true;
}

// A name as the kernel wants it: NUL-terminated in a stack buffer. Byte names (Uint8Array) are
// copied as they are, never through a JS string, so non-UTF-8 names from a client survive.
// `ptr` stays null only for an optional argument given as null/undefined.
struct NameBuf {
  char buf[PATH_MAX];
  const char* ptr = nullptr;
};

// The bytes of a Uint8Array (or Buffer) argument; data may be null when len is 0.
struct Bytes {
  uint8_t* data = nullptr;
  size_t len = 0;
};

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* fn, size_t count) : info_(info), fn_(fn) {
    if (info.Length() < count) {
      thrown_ = true;
      char msg[120];
      snprintf(msg, sizeof(msg), "%s: expected %zu arguments, got %zu", fn, count, info.Length());
      Napi::TypeError::New(Env(), msg).ThrowAsJavaScriptException();
    }
  }

  Napi::Env Env() const { return info_.Env(); }
  bool Ok() const { return !thrown_ && err_ == 0; }
  // What a wrapper returns when !Ok(): undefined with the TypeError pending, or -errno.
  Napi::Value Bail() const { return thrown_ ? Env().Undefined() : Num(-err_); }
  // Records an errno-class argument problem (the first one wins).
  void Fail(int err) { if (err_ == 0) err_ = err; }

  // A libc-style result: r < 0 means "-1 and errno", reported as -errno. Call it directly on
  // the syscall's result so nothing can clobber errno in between.
  Napi::Value Ret(long r) const { return r < 0 ? Num(-errno) : Num(static_cast<double>(r)); }
  Napi::Value Num(double v) const { return Napi::Number::New(Env(), v); }

  int32_t Int(size_t i) { return IsNum(i) ? info_[i].As<Napi::Number>().Int32Value() : 0; }
  // ToUint32 semantics: -1 becomes 0xffffffff (the "leave unchanged" uid/gid).
  uint32_t Uint(size_t i) { return IsNum(i) ? info_[i].As<Napi::Number>().Uint32Value() : 0; }
  // 64-bit sizes and offsets; a non-finite or non-integral value is the caller's bug.
  int64_t Int64(size_t i) {
    if (!IsNum(i)) return 0;
    double d = info_[i].As<Napi::Number>().DoubleValue();
    int64_t v = 0;
    if (!ToInt64(d, &v)) Throw(i, "an integer");
    return v;
  }
  bool Bool(size_t i) {
    if (thrown_) return false;
    if (!info_[i].IsBoolean()) { Throw(i, "a boolean"); return false; }
    return info_[i].As<Napi::Boolean>().Value();
  }

  // A Name (string or Uint8Array) into `out`; optional: null/undefined gives out.ptr == nullptr.
  void Name(size_t i, NameBuf& out, bool optional = false) {
    if (thrown_) return;
    Napi::Value v = info_[i];
    if (optional && (v.IsNull() || v.IsUndefined())) return;
    size_t len = 0;
    if (v.IsString()) {
      napi_env env = Env();
      if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok) { Throw(i, "a string"); return; }
      if (len >= sizeof(out.buf)) { Fail(ENAMETOOLONG); return; }
      napi_get_value_string_utf8(env, v, out.buf, sizeof(out.buf), &len);
    } else if (IsTyped(v, napi_uint8_array)) {
      Napi::Uint8Array a = v.As<Napi::Uint8Array>();
      len = a.ElementLength();
      if (len >= sizeof(out.buf)) { Fail(ENAMETOOLONG); return; }
      if (len) memcpy(out.buf, a.Data(), len);
    } else {
      Throw(i, "a string or Uint8Array");
      return;
    }
    out.buf[len] = '\0';
    if (memchr(out.buf, '\0', len) != nullptr) { Fail(EINVAL); return; }
    out.ptr = out.buf;
  }

  // A Uint8Array of at least minLen bytes (shorter: -EINVAL, never an overrun).
  Bytes U8(size_t i, size_t minLen = 0) {
    Bytes b;
    if (thrown_) return b;
    if (!IsTyped(info_[i], napi_uint8_array)) { Throw(i, "a Uint8Array"); return b; }
    Napi::Uint8Array a = info_[i].As<Napi::Uint8Array>();
    b.data = a.Data();
    b.len = a.ElementLength();
    if (b.len < minLen) Fail(EINVAL);
    return b;
  }

  // A Float64Array of at least minLen elements (shorter: -EINVAL).
  double* F64(size_t i, size_t minLen) {
    if (thrown_) return nullptr;
    if (!IsTyped(info_[i], napi_float64_array)) { Throw(i, "a Float64Array"); return nullptr; }
    Napi::Float64Array a = info_[i].As<Napi::Float64Array>();
    if (a.ElementLength() < minLen) Fail(EINVAL);
    return a.Data();
  }

  // A Uint32Array, or null/undefined (returns nullptr, *len 0).
  uint32_t* U32OrNull(size_t i, size_t* len) {
    *len = 0;
    if (thrown_ || info_[i].IsNull() || info_[i].IsUndefined()) return nullptr;
    if (!IsTyped(info_[i], napi_uint32_array)) { Throw(i, "a Uint32Array or null"); return nullptr; }
    Napi::Uint32Array a = info_[i].As<Napi::Uint32Array>();
    *len = a.ElementLength();
    return a.Data();
  }

  // A JS double as int64; false for NaN, infinities, fractions and values beyond int64.
  static bool ToInt64(double d, int64_t* out) {
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != floor(d)) return false;
    *out = static_cast<int64_t>(d);
    return true;
  }

 private:
  bool IsNum(size_t i) {
    if (thrown_) return false;
    if (!info_[i].IsNumber()) { Throw(i, "a number"); return false; }
    return true;
  }
  static bool IsTyped(const Napi::Value& v, napi_typedarray_type type) {
    return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type;
  }
  void Throw(size_t i, const char* what) {
    if (thrown_) return;
    thrown_ = true;
    char msg[160];
    snprintf(msg, sizeof(msg), "%s: argument %zu must be %s", fn_, i, what);
    Napi::TypeError::New(Env(), msg).ThrowAsJavaScriptException();
  }

  const Napi::CallbackInfo& info_;
  const char* fn_;
  bool thrown_ = false;
  int err_ = 0;
};

}  // namespace vfsd
