// The worker pool (see worker_pool.h for the contract).
#include "worker_pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>

namespace vfsd {
namespace {

// A job runs one syscall (and its own buffer copy): a small stack suffices, and a pool of
// hundreds of threads then costs little address space.
constexpr size_t kWorkerStack = 256 * 1024;

WorkerPool* g_pool = nullptr;  // set once by Start, on the JS thread; never freed

}  // namespace

std::atomic<bool> WorkerPool::g_waiting{false};

WorkerPool* WorkerPool::Get() { return g_pool && g_pool->threads_ ? g_pool : nullptr; }

int WorkerPool::Start(napi_env env, unsigned threads) {
  if (threads > kMaxThreads) return -EINVAL;
  if (g_pool) return g_pool->threads_ == threads ? 0 : -EBUSY;
  if (threads == 0) {
    g_pool = new WorkerPool();  // serve inline; remembered so a later other size is refused
    return 0;
  }
  // Threads inherit this thread's credentials for good: never make them as a caller.
  uid_t fsuid = static_cast<uid_t>(syscall(SYS_setfsuid, static_cast<uid_t>(-1)));
  if (fsuid != geteuid()) return -EPERM;
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) return -EINVAL;

  std::unique_ptr<WorkerPool> pool(new WorkerPool());
  pool->eventFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (pool->eventFd_ < 0) return -errno;
  pool->poll_ = new uv_poll_t;
  int r = uv_poll_init(loop, pool->poll_, pool->eventFd_);
  if (r == 0) {
    pool->poll_->data = pool.get();
    r = uv_poll_start(pool->poll_, UV_READABLE, &WorkerPool::OnDone);
  }
  if (r < 0) {
    close(pool->eventFd_);
    delete pool->poll_;  // uv_poll_init failed or never started: not yet known to the loop
    pool->poll_ = nullptr;
    return r;
  }
  // An idle pool must not keep node alive: only sessions do.
  uv_unref(reinterpret_cast<uv_handle_t*>(pool->poll_));

  // Workers take no signals: node's handlers run on the JS thread, and a syscall a worker is in
  // is never interrupted by a signal meant for the process.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kWorkerStack);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  unsigned made = 0;
  int err = 0;
  for (; made < threads; made++) {
    pthread_t t;
    err = pthread_create(&t, &attr, &WorkerPool::WorkerMain, pool.get());
    if (err) break;
  }
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (made == 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(pool->poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    close(pool->eventFd_);
    return -err;
  }
  if (made < threads) fprintf(stderr, "vfsd: worker pool: %u of %u threads (%s)\n", made, threads, strerror(err));
  {
    std::unique_lock<std::mutex> lock(pool->startMu_);
    pool->startCv_.wait(lock, [&] { return pool->started_ == made; });
    pool->ownUmask_ = pool->unshared_ == made;
  }
  pool->threads_ = made;
  g_pool = pool.release();
  napi_add_env_cleanup_hook(env, &WorkerPool::EnvCleanup, g_pool);
  return 0;
}

// The environment is going away (process exit): stop delivering completions into it. Workers
// finish what they run; their jobs are never completed (the sessions are gone with the env).
void WorkerPool::EnvCleanup(void* self) {
  WorkerPool* p = static_cast<WorkerPool*>(self);
  if (!p->poll_) return;
  uv_close(reinterpret_cast<uv_handle_t*>(p->poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  p->poll_ = nullptr;
  p->threads_ = 0;  // Get() now says "no pool": nothing new is posted
}

void WorkerPool::Post(Job* job) {
  inFlight_++;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(job);
  }
  cv_.notify_one();
}

void* WorkerPool::WorkerMain(void* self) {
  static_cast<WorkerPool*>(self)->RunWorker();
  return nullptr;
}

void WorkerPool::RunWorker() {
  {
    // Its own fs_struct: a umask set by a job (a pooled create) is this thread's alone.
    bool own = unshare(CLONE_FS) == 0;
    std::lock_guard<std::mutex> lock(startMu_);
    started_++;
    if (own) unshared_++;
  }
  startCv_.notify_all();
  for (;;) {
    Job* job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return !queue_.empty(); });
      job = queue_.front();
      queue_.pop_front();
    }
    job->Run();
    bool wake;
    {
      std::lock_guard<std::mutex> lock(doneMu_);
      wake = done_.empty();  // the loop thread has not been told about a pending batch yet
      done_.push_back(job);
      g_waiting.store(true, std::memory_order_relaxed);
    }
    if (wake) {
      uint64_t one = 1;
      while (write(eventFd_, &one, sizeof one) < 0 && errno == EINTR) {
      }
    }
  }
}

void WorkerPool::OnDone(uv_poll_t* handle, int status, int events) {
  WorkerPool* p = static_cast<WorkerPool*>(handle->data);
  uint64_t v;
  while (read(p->eventFd_, &v, sizeof v) < 0 && errno == EINTR) {
  }
  p->CompleteAll();
}

void WorkerPool::CompleteAll() {
  {
    std::lock_guard<std::mutex> lock(doneMu_);
    completing_.swap(done_);
    g_waiting.store(false, std::memory_order_relaxed);
  }
  if (completing_.empty()) return;
  // Each job holds its owner alive until it is deleted, after AfterCompletions.
  std::vector<JobOwner*> owners;
  for (Job* job : completing_) {
    JobOwner* o = job->owner();
    bool seen = false;
    for (JobOwner* x : owners) seen = seen || x == o;
    if (!seen && o) owners.push_back(o);
    job->Complete();
  }
  for (JobOwner* o : owners) o->AfterCompletions();
  for (Job* job : completing_) delete job;
  inFlight_ -= completing_.size();
  completing_.clear();
}

namespace {

Napi::Value StartWorkerPool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double n = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(n >= 0 && n <= WorkerPool::kMaxThreads && n == static_cast<unsigned>(n))) {
    return Napi::Number::New(env, -EINVAL);
  }
  return Napi::Number::New(env, WorkerPool::Start(env, static_cast<unsigned>(n)));
}

// [threads, jobs in flight]
Napi::Value WorkerPoolStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  WorkerPool* p = WorkerPool::Get();
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::Number::New(env, p ? p->size() : 0));
  a.Set(1u, Napi::Number::New(env, p ? static_cast<double>(p->inFlight()) : 0));
  return a;
}

// Whether the pool runs makes: every worker has its own umask (unshare(CLONE_FS) worked in each),
// so a make under the request's umask touches no other thread's. false without a pool.
Napi::Value WorkerPoolRunsMakes(const Napi::CallbackInfo& info) {
  WorkerPool* p = WorkerPool::Get();
  return Napi::Boolean::New(info.Env(), p != nullptr && p->ownUmask());
}

}  // namespace

void InitWorkerPool(Napi::Env env, Napi::Object exports) {
  exports.Set("startWorkerPool", Napi::Function::New(env, StartWorkerPool, "startWorkerPool"));
  exports.Set("workerPoolStats", Napi::Function::New(env, WorkerPoolStats, "workerPoolStats"));
  exports.Set("workerPoolRunsMakes", Napi::Function::New(env, WorkerPoolRunsMakes, "workerPoolRunsMakes"));
}

}  // namespace vfsd
