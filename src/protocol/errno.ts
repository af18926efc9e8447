// Linux errno values (asm-generic/errno-base.h and errno.h; x86, arm and the other "generic"
// architectures). A FUSE reply carries -errno in fuse_out_header.error; the kernel rejects any
// error outside -511..0, so only real errno numbers may be answered.
//
// Exports: Errno (const object), MAX_ERRNO.

export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  EPROTO: 71,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
  ENOTSUP: 95, // same number as EOPNOTSUPP on Linux
  ETIMEDOUT: 110,
  ESTALE: 116,
} as const;

/** The kernel accepts fuse_out_header.error in -MAX_ERRNO+1 .. 0 (it checks error <= -512). */
export const MAX_ERRNO = 511;
