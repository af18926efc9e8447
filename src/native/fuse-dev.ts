// Typed face of native/fuse_dev.cc: mounting over /dev/fuse and the session that serves it.
import { addon } from './addon';
import type { RequestChannel } from './channel';

export interface FuseMountOptions {
  /** shows in /proc/mounts as the source */
  fsname: string;
  /** type becomes fuse.<subtype> */
  subtype: string;
  allowOther: boolean;
  defaultPermissions: boolean;
  readOnly: boolean;
  /** max_read mount option, 0 = kernel default */
  maxRead: number;
}

export interface FuseDevSessionOptions {
  /** bytes one read may need: max(8192, 80 + max_write) rounded up; the inbox holds several */
  bufferSize: number;
  /** longest busy-poll for the next request after answering, in ns (0: none); see
   *  native/adaptive_poll.h */
  pollMaxNs?: number;
}

export interface FuseDevNative {
  /** Mount: as root open("/dev/fuse") + mount(2); otherwise fusermount3 with fd passing.
   *  Returns the /dev/fuse fd (non-blocking, close-on-exec) or -errno. */
  fuseMount(mountpoint: string, opts: FuseMountOptions): number;
  /** Lazy unmount (umount2 MNT_DETACH as root, `fusermount3 -u -z` otherwise). */
  fuseUnmount(mountpoint: string): number;
  FuseDevSession: new (fd: number, opts: FuseDevSessionOptions) => FuseDevSession;
}

/** Where FUSE over io_uring stands on a session (native/fuse_session.cc). */
export interface FuseUringStatus {
  /** off: never prepared (or preparing failed); prepared: waiting for INIT; not-negotiated:
   *  the INIT answer did not take FUSE_OVER_IO_URING (the kernel did not offer it); active:
   *  every queue has its entries, requests come over the ring; refused: registration failed
   *  (errno), the kernel serves through /dev/fuse reads */
  state: 'off' | 'prepared' | 'not-negotiated' | 'active' | 'refused';
  /** why preparing or registering failed (positive), else 0 */
  errno: number;
  /** the kernel's queues (one per possible CPU) and entries registered over all of them */
  queues: number;
  entries: number;
  payloadSize: number;
  /** entries whose command failed (they serve no more requests) */
  lost: number;
}

export interface FuseDevSession extends RequestChannel {
  /** Called once when the kernel ends the session (read gives ENODEV: unmounted). */
  onClose(cb: () => void): void;
  /** FUSE_DEV_IOC_BACKING_OPEN: register fd for FUSE passthrough; returns backing id or -errno. */
  backingOpen(fd: number, withoutFsetid?: boolean): number;
  /** onPool: the ioctl runs on a worker (0 then; its own result unseen) */
  backingClose(backingId: number, onPool?: boolean): number;
  /** Unsolicited notification (unique 0): buf[0..len) is the whole message. */
  notify(buf: Uint8Array, len: number): number;
  /** Before INIT: create the io_uring for FUSE over io_uring with perQueue entries on each CPU
   *  queue (1..64). 0 or -errno. Once prepared, an INIT answer that takes FUSE_OVER_IO_URING
   *  registers the entries (the session reads the flag in the answer itself). */
  uringPrepare(perQueue: number): number;
  uringStatus(): FuseUringStatus;
}

export const fuseDev: FuseDevNative = addon as FuseDevNative;
