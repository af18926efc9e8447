// What vfsd asks for in INIT, and what it then knows about the session. The arithmetic of the
// negotiation is the protocol's (protocol/init.ts); the choices are ours.
import * as P from '../protocol';

export interface ServerWants {
  /** /dev/fuse gives requests up to max_write + headers per read; virtio-fs up to the queue's buffers */
  maxWrite: number;
  announceSubmounts: boolean;
  posixLocks: boolean;
  flock: boolean;
  /** FUSE passthrough: only when the transport can register backing files (root on /dev/fuse) */
  passthrough: boolean;
  cacheAlways: boolean;
  /** false: never offer READDIRPLUS, so the kernel lists directories with plain READDIR */
  readdirplus?: boolean;
  /** FUSE over io_uring (7.42): only when the transport has a ring ready to register */
  overIoUring?: boolean;
  /** FUSE_POSIX_ACL: the kernel checks permissions itself (it implies default_permissions) with
   *  the ACLs it reads by GETXATTR, and hands creating calls their unmasked mode (DONT_MASK) so
   *  the host applies a directory's default ACL or the caller's umask, exactly as natively.
   *  Only where the ACL xattrs are served as they are (--xattr, no id translation). */
  posixAcl?: boolean;
  /** FUSE_HANDLE_KILLPRIV_V2 (virtiofsd's --killpriv-v2, off by default there too): the kernel
   *  no longer sends the mode-clearing SETATTR after a write, truncate or chown by a caller
   *  without CAP_FSETID; it flags the WRITE / SETATTR / OPEN instead and we clear the bits. */
  killprivV2?: boolean;
}

export type NegotiatedInit = Extract<P.InitResult, { kind: 'ok' }> & { submounts: boolean; posixAcl: boolean; killprivV2: boolean };

export function negotiate(kernel: P.InitIn, w: ServerWants): NegotiatedInit | Exclude<P.InitResult, { kind: 'ok' }> {
  const F = P.InitFlag;
  let flags = F.ASYNC_READ | F.ATOMIC_O_TRUNC | F.BIG_WRITES | F.AUTO_INVAL_DATA |
    F.ASYNC_DIO | F.PARALLEL_DIROPS | F.MAX_PAGES | F.SETXATTR_EXT | F.INIT_EXT;
  if (w.readdirplus !== false) flags |= F.DO_READDIRPLUS | F.READDIRPLUS_AUTO;
  if (w.posixLocks) flags |= F.POSIX_LOCKS;
  if (w.flock) flags |= F.FLOCK_LOCKS;
  if (w.announceSubmounts) flags |= F.SUBMOUNTS;
  if (w.cacheAlways) flags |= F.CACHE_SYMLINKS;
  // Creating calls always apply the umask the request carries (entry-ops): with it the kernel
  // may leave the mode unmasked (it only does so under POSIX_ACL, where it must).
  flags |= F.DONT_MASK;
  if (w.posixAcl) flags |= F.POSIX_ACL;
  if (w.killprivV2) flags |= F.HANDLE_KILLPRIV_V2;
  const flags2 = (w.passthrough ? P.InitFlag2.PASSTHROUGH : 0) | (w.overIoUring ? P.InitFlag2.OVER_IO_URING : 0);
  const r = P.negotiateInit(kernel, {
    flags: flags >>> 0, flags2, maxWrite: w.maxWrite, maxStackDepth: w.passthrough ? 1 : undefined,
  });
  if (r.kind !== 'ok') return r;
  return {
    ...r, submounts: (r.flags & F.SUBMOUNTS) !== 0,
    posixAcl: (r.flags & F.POSIX_ACL) !== 0, killprivV2: (r.flags & F.HANDLE_KILLPRIV_V2) !== 0,
  };
}
