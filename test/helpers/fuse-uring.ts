// FUSE over io_uring needs the fuse module's enable_uring parameter, which is global to the
// machine: a test sets it only while its vfsd mounts and registers the ring (the kernel checks
// it at INIT and at registration only), under an exclusive flock so that concurrent test
// processes never see each other's value, and always puts back what it found.
import * as fs from 'node:fs';
import { C, sys } from '../../src/native/sys';
import { ENABLE_URING_PARAM, enableUringParam } from '../../src/transport/fuse-uring';

const LOCK = '/run/lock/vfsd-test-enable-uring.lock';

/** True when this kernel has FUSE over io_uring at all (the parameter exists). */
export const kernelHasFuseUring = (): boolean => enableUringParam() !== null;

/**
 * Runs fn with enable_uring set to `value`, then restores the value found (also when fn
 * throws). Returns fn's result and the value found before.
 */
export async function withEnableUring<T>(value: 'Y' | 'N', fn: () => Promise<T>): Promise<{ result: T; found: 'Y' | 'N' }> {
  const lockFd = fs.openSync(LOCK, 'a');
  try {
    if (sys.flock(lockFd, C.LOCK_EX) < 0) throw new Error(`flock ${LOCK} failed`);
    const found = enableUringParam();
    if (found === null) throw new Error(`${ENABLE_URING_PARAM} missing: no FUSE over io_uring in this kernel`);
    fs.writeFileSync(ENABLE_URING_PARAM, value);
    try {
      return { result: await fn(), found };
    } finally {
      fs.writeFileSync(ENABLE_URING_PARAM, found);
    }
  } finally {
    fs.closeSync(lockFd); // releases the flock
  }
}

/** What vfsd's `fuse transport` log line says serves the mount (null: no such line yet). */
export function servedTransport(log: string): { transport: string; reason?: string } | null {
  for (const line of log.split('\n')) {
    try {
      const o = JSON.parse(line) as { msg?: string; transport?: string; reason?: string };
      if (typeof o.msg === 'string' && o.msg.startsWith('fuse transport') && o.transport) return { transport: o.transport, reason: o.reason };
    } catch { /* not JSON */ }
  }
  return null;
}

/** Asserts that vfsd's log says FUSE over io_uring serves its mount. */
export function assertServedOverUring(t: { same(a: unknown, b: unknown, msg: string): void }, log: string): void {
  t.same(servedTransport(log), { transport: 'io_uring', reason: undefined }, 'vfsd says the ring serves the mount');
}
