// The /dev/fuse front door as the engine sees it: mount a directory, get a RequestChannel that
// delivers the kernel's FUSE requests, and end it with unmount(). The native session does the
// moving (native/fuse_dev.cc); this class owns the mount's lifetime and turns -errno results of
// mounting and unmounting into Errors a person can act on.
//
// The answers go to the native session unchanged (./forwards-to-native.ts). What they (reply,
// replyError, readInto, writeFrom, done, notify) return here:
//  0        the request is answered: with data, or with the pread/pwrite error as its error, or
//           it had been interrupted and the kernel no longer wanted an answer (write gave ENOENT).
//  -EINVAL  refused, nothing written, the token unchanged: a token never issued or already
//           answered, a reply shorter than 16 bytes or longer than its buffer, writeFrom on a
//           request that is not a WRITE or for more bytes than it carried (answer it another way).
//  -EBADF   the session is closed (unmounted or close()d).
//  other    writing the answer to /dev/fuse failed (e.g. -ENODEV while unmounting); the token is
//           released all the same.
// notify() passes on what the kernel says, ENOENT included (nothing cached to invalidate).
// Bulk data: readInto answers short reads short (EOF); writeFrom answers fuse_write_out with the
// count pwrite wrote; killPriv drops CAP_FSETID for that one pwrite (on this thread only).
// With a `path` and a worker pool they (and fileJob) may answer later: 1 = queued (see channel.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackingFiles, RequestChannel } from '../native/channel';
import { errnoName } from '../log/errno-name';
import { fuseDev, type FuseDevSession, type FuseMountOptions, type FuseUringStatus } from '../native/fuse-dev';
import { URING_ENTRIES_PER_QUEUE, type FuseTransportChoice } from './fuse-uring';
import { forwardsToNative, NoBase } from './forwards-to-native';

export interface FuseDevMountOptions extends Partial<FuseMountOptions> {
  /** The max_write the engine will offer in its INIT reply. It sizes the request buffers: the
   *  kernel refuses reads into less than max(8192, 80 + max_write). Default 128 KiB. */
  maxWrite?: number;
  /** After answering, keep checking for the next request this many microseconds at most before
   *  sleeping (adaptive: see native/adaptive_poll.h). Default 0: no polling. */
  pollUs?: number;
  /** 'uring' or 'auto': prepare FUSE over io_uring, so INIT can offer it (./fuse-uring.ts).
   *  Default 'dev': read/writev only. */
  transport?: FuseTransportChoice;
}

export const DEFAULT_MAX_WRITE = 128 * 1024;

/** Bytes one read of /dev/fuse needs for a given max_write, rounded up to a page. */
export function fuseBufferSize(maxWrite: number): number {
  const need = Math.max(8192, 80 + maxWrite);
  return Math.ceil(need / 4096) * 4096;
}

/** A mount or unmount that failed; errno is positive, code its name (EPERM...). */
export class FuseDevError extends Error {
  constructor(message: string, readonly errno: number, readonly code: string) {
    super(message);
    this.name = 'FuseDevError';
  }
}

const MESSAGES: Record<string, string> = {
  EPERM: 'Operation not permitted',
  EACCES: 'Permission denied',
  ENOENT: 'No such file or directory',
  ENOTDIR: 'Not a directory',
  EBUSY: 'Device or resource busy',
  ENODEV: 'No such device',
  EINVAL: 'Invalid argument',
  EMFILE: 'Too many open files',
  ENOMEM: 'Out of memory',
  EBADF: 'Bad file descriptor',
};

function describe(errno: number): { code: string; text: string } {
  const code = errnoName(errno);
  return { code, text: MESSAGES[code] ?? code };
}

const isRoot = (): boolean => process.geteuid?.() === 0;

/** Why a mount failed, in words that say what to do about it. */
export function mountErrorMessage(mountpoint: string, errno: number): string {
  const { code, text } = describe(errno);
  let hint = '';
  switch (code) {
    case 'EPERM':
    case 'EACCES':
      // Not root, fusermount3 ran and refused: it printed its reason on our stderr.
      return `mount ${mountpoint}: Permission denied (need root or fusermount3` +
        (isRoot() ? ')' : '; fusermount3 refused, its reason is printed above)');
    case 'ENOENT':
      if (!fs.existsSync(mountpoint)) hint = 'the mount point does not exist';
      else if (!isRoot()) hint = 'fusermount3 not found: install the fuse3 package, or run as root';
      else hint = '/dev/fuse is missing: load the fuse module (modprobe fuse)';
      break;
    case 'ENODEV':
      hint = 'the kernel has no FUSE: load the fuse module (modprobe fuse)';
      break;
    case 'ENOTDIR':
      hint = 'the mount point must be a directory';
      break;
    case 'EINVAL':
      hint = 'a mount option was refused';
      break;
  }
  return `mount ${mountpoint}: ${text}${hint ? ` (${hint})` : ''}`;
}

export class FuseDevTransport extends forwardsToNative(NoBase) implements RequestChannel {
  /** Mounts a FUSE file system on mountpoint (root: mount(2); otherwise fusermount3) and
   *  returns its transport. Requests start flowing (INIT first) once start() is called.
   *  Throws FuseDevError when the mount fails. */
  static mount(mountpoint: string, opts: FuseDevMountOptions = {}): FuseDevTransport {
    const mnt = path.resolve(mountpoint);
    const maxWrite = opts.maxWrite ?? DEFAULT_MAX_WRITE;
    if (!Number.isInteger(maxWrite) || maxWrite < 4096 || maxWrite > 16 * 1024 * 1024) {
      throw new RangeError(`maxWrite must be an integer in 4 KiB .. 16 MiB, got ${maxWrite}`);
    }
    const mountOpts: FuseMountOptions = {
      fsname: opts.fsname ?? 'vfsd',
      subtype: opts.subtype ?? 'vfsd',
      allowOther: opts.allowOther ?? false,
      defaultPermissions: opts.defaultPermissions ?? false,
      readOnly: opts.readOnly ?? false,
      maxRead: opts.maxRead ?? 0,
    };
    const fd = fuseDev.fuseMount(mnt, mountOpts);
    if (fd < 0) {
      const { code } = describe(-fd);
      throw new FuseDevError(mountErrorMessage(mnt, -fd), -fd, code);
    }
    let session: FuseDevSession;
    try {
      session = new fuseDev.FuseDevSession(fd, { bufferSize: fuseBufferSize(maxWrite), pollMaxNs: (opts.pollUs ?? 0) * 1000 });
    } catch (e) {
      // The session never took the fd: undo the mount and give the fd back.
      fuseDev.fuseUnmount(mnt);
      fs.closeSync(fd);
      throw e;
    }
    // Preparing cannot fail the mount: without a ring the session serves read/writev.
    const uringPrepared = (opts.transport ?? 'dev') !== 'dev' && session.uringPrepare(URING_ENTRIES_PER_QUEUE) === 0;
    return new FuseDevTransport(mnt, maxWrite, session, uringPrepared);
  }

  private started = false;
  private ended = false;
  private endedByKernel = false;
  private readonly closeListeners: Array<() => void> = [];
  private settledListener: ((s: FuseUringStatus) => void) | null = null;

  private constructor(
    readonly mountpoint: string,
    /** the max_write the buffers were sized for: the INIT reply must not offer more */
    readonly maxWrite: number,
    protected readonly native: FuseDevSession,
    /** an io_uring is ready for FUSE over io_uring: INIT may offer FUSE_OVER_IO_URING */
    readonly uringPrepared: boolean = false,
  ) {
    super();
    native.onClose(() => this.ended_());
  }

  readonly backing: BackingFiles = {
    open: (fd, withoutFsetid) => this.native.backingOpen(fd, withoutFsetid),
    close: (id, onPool) => void this.native.backingClose(id, onPool === true),
  };

  /** True once the kernel ended the session (unmounted) or close() was called. */
  get closed(): boolean { return this.ended; }

  start(onBatch: (count: number) => void): void {
    // Until the transport is settled (the INIT answer registered the ring, or did not take it),
    // look after each batch; from then on the engine's callback is handed over untouched.
    const settle = (count: number) => {
      onBatch(count);
      const listener = this.settledListener;
      if (!listener) return;
      const status = this.native.uringStatus();
      if (status.state === 'prepared') return;
      this.settledListener = null;
      listener(status);
    };
    const r = this.native.start(this.settledListener ? settle : onBatch) as unknown;
    if (typeof r === 'number' && r < 0) {
      const { code, text } = describe(-r);
      throw new FuseDevError(`serve ${this.mountpoint}: ${text}`, -r, code);
    }
    this.started = true;
  }

  notify(buf: Uint8Array, len: number): number { return this.native.notify(buf, len); }
  backingOpen(fd: number, withoutFsetid = false): number { return this.native.backingOpen(fd, withoutFsetid); }
  backingClose(backingId: number, onPool = false): number { return this.native.backingClose(backingId, onPool); }
  /** Whether requests come over io_uring (after INIT), and why not (./fuse-uring.ts). */
  uringStatus(): FuseUringStatus { return this.native.uringStatus(); }
  /** Before start(): cb runs once, after the batch in which the transport settled (INIT
   *  answered: the ring is registered, or not taken, or refused; or it was never prepared). */
  onTransportSettled(cb: (s: FuseUringStatus) => void): void { this.settledListener = cb; }

  /** cb runs once, when the kernel ends the session (after unmount, or an external umount).
   *  Not called for close(): closing is the owner's own decision. */
  onClose(cb: () => void): void {
    if (this.endedByKernel) queueMicrotask(cb);
    else this.closeListeners.push(cb);
  }

  /** Lazy unmount. A started session then sees the kernel end it and fires onClose; one never
   *  started is closed here (no one would read the end). Throws FuseDevError on failure. */
  unmount(): void {
    if (this.endedByKernel) return;
    const r = fuseDev.fuseUnmount(this.mountpoint);
    if (r < 0) {
      const { code, text } = describe(-r);
      const hint = code === 'EINVAL' ? ' (not mounted)' : '';
      throw new FuseDevError(`unmount ${this.mountpoint}: ${text}${hint}`, -r, code);
    }
    if (!this.started) this.close();
  }

  /** Stops serving and closes /dev/fuse (the mount stays until unmounted, its requests failing
   *  with ENOTCONN). Idempotent. */
  close(): void {
    if (!this.ended) {
      this.ended = true;
      this.closeListeners.length = 0;
    }
    this.native.close();
  }

  private ended_(): void {
    this.ended = true;
    this.endedByKernel = true;
    const listeners = this.closeListeners.splice(0);
    for (const cb of listeners) cb();
  }
}
