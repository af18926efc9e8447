// N-API face of the vhost-user-fs back end (src/native/vhost-user.ts): the VhostUserBackend
// class and capabilitiesJson(). The protocol lives in vhost_device*.cc; this file only converts
// arguments and calls back into JS.
#include <napi.h>
#include <uv.h>

#include <cerrno>
#include <memory>

#include "modules.h"
#include "vhost_device.h"

namespace vfsd {

namespace {

class Backend : public Napi::ObjectWrap<Backend>, public VhostHost {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "VhostUserBackend",
                       {InstanceMethod("listen", &Backend::Listen), InstanceMethod("start", &Backend::Start),
                        InstanceMethod("onEvent", &Backend::OnEvent), InstanceMethod("reply", &Backend::Reply),
                        InstanceMethod("replyError", &Backend::ReplyError),
                        InstanceMethod("readInto", &Backend::ReadInto),
                        InstanceMethod("writeFrom", &Backend::WriteFrom), InstanceMethod("done", &Backend::Done),
                        InstanceMethod("fileJob", &Backend::FileJob),
                        InstanceMethod("close", &Backend::Close)});
  }

  explicit Backend(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Backend>(info), env_(info.Env()) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) {
      Napi::TypeError::New(env, "VhostUserBackend(options): options object expected").ThrowAsJavaScriptException();
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    VhostDeviceConfig cfg;
    Napi::Value v = o.Get("socketPath");
    if (v.IsString()) cfg.socketPath = v.As<Napi::String>().Utf8Value();
    v = o.Get("listenFd");
    if (v.IsNumber()) cfg.listenFd = v.As<Napi::Number>().Int32Value();
    v = o.Get("socketGroup");
    if (v.IsString()) cfg.socketGroup = v.As<Napi::String>().Utf8Value();
    v = o.Get("requestQueues");
    int64_t rq = v.IsNumber() ? v.As<Napi::Number>().Int64Value() : 0;
    v = o.Get("maxRequestSize");
    int64_t mrs = v.IsNumber() ? v.As<Napi::Number>().Int64Value() : 0;
    // Queue indices travel in one byte of SET_VRING_KICK/CALL/ERR: hiprio + at most 255.
    if (rq < 1 || rq > 255) {
      Napi::RangeError::New(env, "requestQueues must be 1..255").ThrowAsJavaScriptException();
      return;
    }
    if (mrs < 4096 || mrs > (64 << 20)) {
      Napi::RangeError::New(env, "maxRequestSize must be 4 KiB..64 MiB").ThrowAsJavaScriptException();
      return;
    }
    if (cfg.socketPath.empty() && cfg.listenFd < 0) {
      Napi::TypeError::New(env, "socketPath or listenFd is required").ThrowAsJavaScriptException();
      return;
    }
    cfg.requestQueues = static_cast<uint32_t>(rq);
    cfg.maxRequestSize = static_cast<uint32_t>(mrs);
    // Room for several of the largest requests, so one batch can carry many.
    size_t inboxSize = static_cast<size_t>(mrs) * 2;
    if (inboxSize < (256u << 10)) inboxSize = 256u << 10;
    Napi::Buffer<uint8_t> inbox = Napi::Buffer<uint8_t>::New(env, inboxSize);
    Napi::Uint32Array table = Napi::Uint32Array::New(env, VhostDevice::kTableEntries * 4);
    Napi::Object self = info.This().As<Napi::Object>();
    self.Set("inbox", inbox);
    self.Set("table", table);
    inboxRef_ = Napi::Persistent(inbox.As<Napi::Object>());
    tableRef_ = Napi::Persistent(table.As<Napi::Object>());
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    dev_.reset(new VhostDevice(loop, this, cfg, inbox.Data(), inboxSize, table.Data()));
  }

  ~Backend() override {
    // No JS from here on: the device closes fds, unmaps memory and lets libuv free the polls.
    dev_.reset();
  }

  void onBatch(uint32_t count) override {
    if (onBatch_.IsEmpty()) return;
    Napi::HandleScope scope(env_);
    Call(onBatch_, {Napi::Number::New(env_, count)});
  }

  void onEvent(const char* type, const std::string& message) override {
    if (onEvent_.IsEmpty()) return;
    Napi::HandleScope scope(env_);
    Napi::Object ev = Napi::Object::New(env_);
    ev.Set("type", type);
    if (!message.empty()) ev.Set("message", message);
    Call(onEvent_, {ev});
  }

 private:
  // Calls into JS from a libuv callback (or nested in a JS call). An exception the callback
  // throws goes to process 'uncaughtException', as it would from any event handler.
  void Call(Napi::FunctionReference& fn, std::initializer_list<napi_value> args) {
    fn.MakeCallback(env_.Global(), args);
    if (env_.IsExceptionPending()) {
      Napi::Error e = env_.GetAndClearPendingException();
      napi_fatal_exception(env_, e.Value());
    }
  }

  bool Alive(const Napi::CallbackInfo& info) {
    if (dev_) return true;
    Napi::Error::New(info.Env(), "VhostUserBackend: not constructed").ThrowAsJavaScriptException();
    return false;
  }

  Napi::Value Listen(const Napi::CallbackInfo& info) {
    if (!Alive(info)) return info.Env().Undefined();
    int rc = dev_->listen();
    // Listening keeps the backend alive (its polls point at it) until close().
    if (rc == 0 && !reffed_) {
      Ref();
      reffed_ = true;
    }
    return Napi::Number::New(info.Env(), rc);
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    if (!Alive(info)) return info.Env().Undefined();
    if (!info[0].IsFunction()) {
      Napi::TypeError::New(info.Env(), "start(onBatch): function expected").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    onBatch_ = Napi::Persistent(info[0].As<Napi::Function>());
    dev_->start();
    return info.Env().Undefined();
  }

  Napi::Value OnEvent(const Napi::CallbackInfo& info) {
    if (!info[0].IsFunction()) {
      Napi::TypeError::New(info.Env(), "onEvent(cb): function expected").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    onEvent_ = Napi::Persistent(info[0].As<Napi::Function>());
    return info.Env().Undefined();
  }

  static size_t ElementSize(napi_typedarray_type t) {
    switch (t) {
      case napi_int16_array: case napi_uint16_array: return 2;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: return 4;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: return 8;
      default: return 1;
    }
  }

  static bool Numbers(const Napi::CallbackInfo& info, size_t n) {
    for (size_t i = 0; i < n; i++)
      if (!info[i].IsNumber()) {
        Napi::TypeError::New(info.Env(), "number arguments expected").ThrowAsJavaScriptException();
        return false;
      }
    return true;
  }

  Napi::Value Reply(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Alive(info) || !info[0].IsNumber() || !info[1].IsTypedArray() || !info[2].IsNumber()) {
      if (!env.IsExceptionPending())
        Napi::TypeError::New(env, "reply(token, Uint8Array, len)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    // One query for the bytes (every request's answer passes here; the TypedArray wrapper
    // would ask the engine four times).
    napi_typedarray_type type;
    size_t count = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(env, info[1], &type, &count, &data, nullptr, nullptr) != napi_ok)
      return Napi::Number::New(env, -EINVAL);
    size_t bytes = count * ElementSize(type);
    int64_t len = info[2].As<Napi::Number>().Int64Value();
    if (len < 0 || static_cast<uint64_t>(len) > bytes || (len > 0 && !data)) return Napi::Number::New(env, -EINVAL);
    return Napi::Number::New(env, dev_->reply(info[0].As<Napi::Number>().Uint32Value(),
                                              static_cast<const uint8_t*>(data), static_cast<size_t>(len)));
  }

  Napi::Value ReplyError(const Napi::CallbackInfo& info) {
    if (!Alive(info) || !Numbers(info, 2)) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), dev_->replyError(info[0].As<Napi::Number>().Uint32Value(),
                                                          info[1].As<Napi::Number>().Int32Value()));
  }

  // A size the device cannot take (negative, absurd) still reaches it, so the request is
  // answered EINVAL instead of being left held forever.
  static uint64_t SizeArg(const Napi::Value& v) {
    int64_t n = v.As<Napi::Number>().Int64Value();
    return n < 0 ? UINT64_MAX : static_cast<uint64_t>(n);
  }

  Napi::Value ReadInto(const Napi::CallbackInfo& info) {
    if (!Alive(info) || !Numbers(info, 4)) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), dev_->readInto(info[0].As<Napi::Number>().Uint32Value(),
                                                        info[1].As<Napi::Number>().Int32Value(),
                                                        SizeArg(info[2]),
                                                        info[3].As<Napi::Number>().Int64Value(),
                                                        PathArg(info, 4)));
  }

  // fileJob(token, op, fd, fd2, a, b, c, path)
  Napi::Value FileJob(const Napi::CallbackInfo& info) {
    if (!Alive(info) || !Numbers(info, 3)) return info.Env().Undefined();
    FileJobArgs args;
    if (!ParseFileJob(info, &args)) return Napi::Number::New(info.Env(), -EINVAL);
    return Napi::Number::New(info.Env(), dev_->fileJob(info[0].As<Napi::Number>().Uint32Value(), args,
                                                       PathArg(info, 7)));
  }

  Napi::Value WriteFrom(const Napi::CallbackInfo& info) {
    if (!Alive(info) || !Numbers(info, 4)) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), dev_->writeFrom(info[0].As<Napi::Number>().Uint32Value(),
                                                         info[1].As<Napi::Number>().Int32Value(),
                                                         SizeArg(info[2]),
                                                         info[3].As<Napi::Number>().Int64Value(),
                                                         info[4].ToBoolean().Value(), PathArg(info, 5)));
  }

  Napi::Value Done(const Napi::CallbackInfo& info) {
    if (!Alive(info) || !Numbers(info, 1)) return info.Env().Undefined();
    dev_->done(info[0].As<Napi::Number>().Uint32Value());
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (dev_) dev_->close();
    if (reffed_) {
      reffed_ = false;
      Unref();
    }
    return info.Env().Undefined();
  }

  Napi::Env env_;
  std::unique_ptr<VhostDevice> dev_;
  Napi::ObjectReference inboxRef_, tableRef_;
  Napi::FunctionReference onBatch_, onEvent_;
  bool reffed_ = false;
};

// What `--print-capabilities` prints: the same as the C virtiofsd, which advertises no optional
// vhost-user features (we support no migration either).
Napi::Value CapabilitiesJson(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), "{\n  \"type\": \"fs\"\n}");
}

}  // namespace

void InitVhostUser(Napi::Env env, Napi::Object exports) {
  exports.Set("VhostUserBackend", Backend::Define(env));
  exports.Set("capabilitiesJson", Napi::Function::New(env, CapabilitiesJson, "capabilitiesJson"));
}

}  // namespace vfsd
