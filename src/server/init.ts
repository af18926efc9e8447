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
  /** --posix-acl: 'auto' offers FUSE_POSIX_ACL (on only if the client offers it too: old guests
   *  still mount), 'always' refuses a client without it (virtiofsd's EPROTO), 'never' (default)
   *  does not offer it (on /dev/fuse `posixAcl` below may still ask for it) */
  aclMode?: 'never' | 'auto' | 'always';
  /** --security-label: 'auto' offers FUSE_SECURITY_CTX (on if the client offers it too),
   *  'always' refuses a client without it (virtiofsd's EPROTO), 'never' (default) does not offer
   *  it. When on, every creating request carries the label the guest's LSM chose (entry-ops). */
  labelMode?: 'never' | 'auto' | 'always';
  /** --writeback: offer FUSE_WRITEBACK_CACHE (the kernel then caches writes; see file-ops) */
  writeback?: boolean;
  /** --allow-mmap: FUSE_DIRECT_IO_ALLOW_MMAP, so direct-I/O files (cache=never) can be mmap'd */
  allowMmap?: boolean;
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

export type NegotiatedInit = Extract<P.InitResult, { kind: 'ok' }> & { submounts: boolean; posixAcl: boolean; killprivV2: boolean; writeback: boolean; securityLabel: boolean };

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
  if (w.posixAcl || w.aclMode === 'auto' || w.aclMode === 'always') flags |= F.POSIX_ACL;
  if (w.killprivV2) flags |= F.HANDLE_KILLPRIV_V2;
  if (w.writeback) flags |= F.WRITEBACK_CACHE;
  const flags2 = (w.passthrough ? P.InitFlag2.PASSTHROUGH : 0) | (w.allowMmap ? P.InitFlag2.DIRECT_IO_ALLOW_MMAP : 0) |
    (w.overIoUring ? P.InitFlag2.OVER_IO_URING : 0) |
    (w.labelMode === 'auto' || w.labelMode === 'always' ? P.InitFlag2.SECURITY_CTX : 0);
  const r = P.negotiateInit(kernel, {
    flags: flags >>> 0, flags2, maxWrite: w.maxWrite, maxStackDepth: w.passthrough ? 1 : undefined,
  });
  if (r.kind !== 'ok') return r;
  if (w.aclMode === 'always' && !(r.flags & F.POSIX_ACL)) {
    return { kind: 'refuse', errno: P.Errno.EPROTO, reason: '--posix-acl=always: the client does not support POSIX ACLs (no FUSE_POSIX_ACL in its INIT)' };
  }
  if (w.labelMode === 'always' && !(r.flags2 & P.InitFlag2.SECURITY_CTX)) {
    return { kind: 'refuse', errno: P.Errno.EPROTO, reason: '--security-label=always: the client does not support security labels (no FUSE_SECURITY_CTX in its INIT)' };
  }
  return {
    ...r, submounts: (r.flags & F.SUBMOUNTS) !== 0,
    posixAcl: (r.flags & F.POSIX_ACL) !== 0, killprivV2: (r.flags & F.HANDLE_KILLPRIV_V2) !== 0,
    writeback: (r.flags & F.WRITEBACK_CACHE) !== 0, securityLabel: (r.flags2 & P.InitFlag2.SECURITY_CTX) !== 0,
  };
}
