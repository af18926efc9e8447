// FuseDevSession (fuse_dev_session.h), ending: close() and onClose(), the kernel ending the
// session, releasing what it holds (native, then JS), the env cleanup hook.
#include <unistd.h>
#include <uv.h>

#include <memory>
#include <utility>
#include <vector>

#include "fuse_data_jobs.h"
#include "fuse_dev_session.h"

namespace vfsd {
namespace fusedev {

// ---- ending ----

void FuseDevSession::EndSession() {
  ReleaseNative();
  if (onClose_.IsEmpty()) {
    ReleaseJs();
    return;
  }
  Napi::FunctionReference cb = std::move(onClose_);
  std::unique_ptr<Napi::AsyncContext> context = std::move(asyncContext_);
  Napi::Object self = Value();  // the receiver (MakeCallback needs an object); pinned by OnPoll
  ReleaseJs();
  if (context) {
    cb.MakeCallback(self, {}, *context);
  } else {
    cb.Call(self, {});
  }
  ReportException("onClose");
}

void FuseDevSession::ReleaseNative() {
  if (poll_) {
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), &FuseDevSession::FreePoll);
    poll_ = nullptr;
  }
  if (jobs_) {
    // Jobs in flight complete into nothing from now on (fuse_data_jobs.h); the kernel fails
    // their requests itself when the fd closes.
    jobs_->devFd = -1;
    jobs_->pending = nullptr;
    jobs_->afterAnswers = nullptr;
    jobs_.reset();
  }
  if (ringPoll_) {
    ringPoll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(ringPoll_), &FuseDevSession::FreePoll);
    ringPoll_ = nullptr;
  }
  ring_.Close();  // before /dev/fuse: the ring's commands hold the device and our buffers
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  pending_.Clear();
  batchTokens_.clear();
  std::vector<uint8_t>().swap(readScratch_);
  if (hookAdded_) {
    hookAdded_ = false;
    napi_remove_env_cleanup_hook(env_, &FuseDevSession::EnvCleanup, this);
  }
}

void FuseDevSession::ReleaseJs() {
  if (inBatch_) {
    releaseJsAfterBatch_ = true;
    return;
  }
  releaseJsAfterBatch_ = false;
  inbox_ = nullptr;
  table_ = nullptr;
  inboxRef_.Reset();
  tableRef_.Reset();
  onBatch_.Reset();
  asyncContext_.reset();
  if (selfRef_) {
    selfRef_ = false;
    Unref();
  }
}

void FuseDevSession::FreePoll(uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); }

void FuseDevSession::EnvCleanup(void* arg) {
  FuseDevSession* self = static_cast<FuseDevSession*>(arg);
  self->hookAdded_ = false;  // it is being run: nothing to remove any more
  self->ReleaseNative();
}

Napi::Value FuseDevSession::Close(const Napi::CallbackInfo& info) {
  ReleaseNative();
  onClose_.Reset();  // close() is the owner's choice: onClose is only for the kernel ending it
  ReleaseJs();
  return info.Env().Undefined();
}

Napi::Value FuseDevSession::OnClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction()) {
    Napi::TypeError::New(env, "onClose(cb: function)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (fd_ >= 0) onClose_ = Napi::Persistent(info[0].As<Napi::Function>());
  return env.Undefined();
}

}  // namespace fusedev
}  // namespace vfsd
