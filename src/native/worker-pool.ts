// Typed face of native/worker_pool.cc: the threads that run what may block (fsync, fallocate, a
// read that misses the page cache, a large write) off the JS thread. See src/native/channel.ts
// for how requests reach it.
import { addon } from './addon';

export interface WorkerPoolNative {
  /** Starts n workers, once per process (0: none, everything is served inline). They inherit
   *  this thread's credentials and capabilities for good: call it as the daemon itself, after
   *  the sandbox dropped its setup capabilities and before any request switches credentials.
   *  0, or -EPERM (switched to a caller's fsuid), -EBUSY (already started with another size),
   *  -EINVAL (n out of 0..1024). */
  startWorkerPool(n: number): number;
  /** [threads, jobs in flight] */
  workerPoolStats(): [number, number];
  /** Whether a pool runs and each of its workers has its own umask, so metaMakeJob queues
   *  (false: it would decline, and the make runs inline). Fixed once the pool started. */
  workerPoolRunsMakes(): boolean;
}

export const workerPool: WorkerPoolNative = addon as WorkerPoolNative;
