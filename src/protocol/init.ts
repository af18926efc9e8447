// The INIT negotiation as pure arithmetic: from the kernel's fuse_init_in and what the server
// wants, compute the fuse_init_out to answer, the minor both sides then speak and the features
// that are really on. No I/O: src/server sends the answer (writeInitOut(buf, off, out, minor)).
//
// Rules (fuse.h "Version negotiation" and the kernel's process_init_reply):
//  - Kernel major > 7: answer our major/minor and nothing else; the kernel retries INIT with
//    major 7 ('retry'). Kernel major < 7: we cannot speak it ('refuse', EPROTO).
//  - Minor = min(kernel minor, 45). Below 7.27 we refuse (EPROTO): every structure we decode and
//    encode is full size from 7.23 on, and 7.27 (Linux 4.20) is the oldest kernel we test.
//    The reply size still follows the minor (initOutSize: 64 bytes from 7.23).
//  - A feature is on only if the kernel offered it AND the server wants it. A kernel newer than
//    us may offer bits we do not know: the intersection with `wants` drops them.
//  - flags2 exists only when the kernel set FUSE_INIT_EXT in flags (7.36+); then we set
//    FUSE_INIT_EXT in our answer too, else the kernel ignores our flags2. Without it flags2 = 0.
//  - FUSE_PASSTHROUGH (7.40) is kept only with max_stack_depth 1..2 and without
//    FUSE_WRITEBACK_CACHE: the kernel silently disables it otherwise, and we must not believe it
//    is on when it is not. max_stack_depth is 0 unless passthrough is on.
//  - max_pages only with FUSE_MAX_PAGES (else the kernel ignores it), map_alignment only with
//    FUSE_MAP_ALIGNMENT, request_timeout only with FUSE_REQUEST_TIMEOUT (dropped if 0).
//  - max_write is at least 4096 (the kernel raises smaller values anyway); max_readahead is the
//    kernel's, lowered to the server's cap; time_gran 1..1e9 (default 1 ns).
//
// Exports: MIN_SUPPORTED_MINOR, InitWants, InitResult, negotiateInit.

import { FUSE_KERNEL_VERSION, FUSE_KERNEL_MINOR_VERSION } from './layout';
import { InitFlag, InitFlag2 } from './flags';
import { Errno } from './errno';
import type { InitIn } from './request-session';
import type { InitOut } from './reply';

export const MIN_SUPPORTED_MINOR = 27;

const PAGE_SIZE = 4096;
const MAX_STACK_DEPTH = 2; // FILESYSTEM_MAX_STACK_DEPTH

export interface InitWants {
  /** InitFlag bits the server would like. INIT_EXT and INIT_RESERVED are ignored (managed here). */
  flags: number;
  /** InitFlag2 bits the server would like. */
  flags2: number;
  /** Largest WRITE the server accepts (and the READ size its buffers allow). */
  maxWrite: number;
  /** Cap on the kernel's max_readahead; default: the kernel's value. */
  maxReadahead?: number;
  /** 0 = kernel default. */
  maxBackground?: number;
  /** 0 = kernel default. */
  congestionThreshold?: number;
  /** Timestamp granularity in ns, 1..1e9; default 1. */
  timeGran?: number;
  /** Pages per request with FUSE_MAX_PAGES; default ceil(maxWrite / 4096). */
  maxPages?: number;
  /** log2 of the DAX mapping alignment, with FUSE_MAP_ALIGNMENT. */
  mapAlignment?: number;
  /** Stacking depth of the backing filesystems, 1..2, required for FUSE_PASSTHROUGH. */
  maxStackDepth?: number;
  /** Seconds after which the kernel aborts a request, with FUSE_REQUEST_TIMEOUT. */
  requestTimeout?: number;
}

export type InitResult =
  | {
      kind: 'ok';
      /** The minor both sides speak from now on. */
      minor: number;
      /** Negotiated InitFlag bits (what we answer; includes INIT_EXT when flags2 is in use). */
      flags: number;
      /** Negotiated InitFlag2 bits. */
      flags2: number;
      out: InitOut;
      passthrough: boolean;
      /** SETXATTR requests carry the 16-byte fuse_setxattr_in (pass to decodeSetxattr). */
      setxattrExt: boolean;
    }
  | {
      /** Answer `out` (writeInitOut with minor = out.minor) and wait for the next INIT. */
      kind: 'retry';
      out: InitOut;
    }
  | {
      /** Answer INIT with this errno; the mount fails. */
      kind: 'refuse';
      errno: number;
      reason: string;
    };

function emptyOut(): InitOut {
  return {
    major: FUSE_KERNEL_VERSION,
    minor: FUSE_KERNEL_MINOR_VERSION,
    maxReadahead: 0,
    flags: 0,
    maxBackground: 0,
    congestionThreshold: 0,
    maxWrite: 0,
    timeGran: 0,
    maxPages: 0,
    mapAlignment: 0,
    flags2: 0,
    maxStackDepth: 0,
    requestTimeout: 0,
  };
}

function clamp(v: number | undefined, lo: number, hi: number, dflt: number): number {
  if (v === undefined || !Number.isFinite(v)) return dflt;
  return Math.min(hi, Math.max(lo, Math.floor(v)));
}

export function negotiateInit(kernel: InitIn, wants: InitWants): InitResult {
  if (kernel.major > FUSE_KERNEL_VERSION) return { kind: 'retry', out: emptyOut() };
  if (kernel.major < FUSE_KERNEL_VERSION) {
    return { kind: 'refuse', errno: Errno.EPROTO, reason: `kernel speaks FUSE ${kernel.major}.${kernel.minor}, we need 7.x` };
  }
  if (kernel.minor < MIN_SUPPORTED_MINOR) {
    return {
      kind: 'refuse',
      errno: Errno.EPROTO,
      reason: `kernel speaks FUSE 7.${kernel.minor}, we need 7.${MIN_SUPPORTED_MINOR} or newer`,
    };
  }
  const minor = Math.min(kernel.minor, FUSE_KERNEL_MINOR_VERSION);

  const ext = (kernel.flags & InitFlag.INIT_EXT) !== 0;
  let flags = (kernel.flags & wants.flags & ~(InitFlag.INIT_EXT | InitFlag.INIT_RESERVED)) >>> 0;
  let flags2 = ext ? (kernel.flags2 & wants.flags2) >>> 0 : 0;
  if (ext) flags = (flags | InitFlag.INIT_EXT) >>> 0;

  const out = emptyOut();
  out.minor = minor;
  out.maxWrite = clamp(wants.maxWrite, PAGE_SIZE, 0xffffffff, PAGE_SIZE);
  out.maxReadahead = Math.min(kernel.maxReadahead >>> 0, clamp(wants.maxReadahead, 0, 0xffffffff, 0xffffffff));
  out.maxBackground = clamp(wants.maxBackground, 0, 0xffff, 0);
  out.congestionThreshold = clamp(wants.congestionThreshold, 0, 0xffff, 0);
  out.timeGran = clamp(wants.timeGran, 1, 1e9, 1);

  if (flags & InitFlag.MAX_PAGES) {
    out.maxPages = clamp(wants.maxPages, 1, 0xffff, Math.min(0xffff, Math.ceil(out.maxWrite / PAGE_SIZE)));
  }
  if (flags & InitFlag.MAP_ALIGNMENT) out.mapAlignment = clamp(wants.mapAlignment, 0, 0xffff, 0);

  let passthrough = false;
  if (flags2 & InitFlag2.PASSTHROUGH) {
    const depth = clamp(wants.maxStackDepth, 0, 0xffffffff, 0);
    if (depth >= 1 && depth <= MAX_STACK_DEPTH && !(flags & InitFlag.WRITEBACK_CACHE)) {
      passthrough = true;
      out.maxStackDepth = depth;
    } else {
      flags2 = (flags2 & ~InitFlag2.PASSTHROUGH) >>> 0;
    }
  }
  if (flags2 & InitFlag2.REQUEST_TIMEOUT) {
    out.requestTimeout = clamp(wants.requestTimeout, 0, 0xffff, 0);
    if (out.requestTimeout === 0) flags2 = (flags2 & ~InitFlag2.REQUEST_TIMEOUT) >>> 0;
  }

  out.flags = flags;
  out.flags2 = flags2;
  return {
    kind: 'ok',
    minor,
    flags,
    flags2,
    out,
    passthrough,
    setxattrExt: (flags & InitFlag.SETXATTR_EXT) !== 0,
  };
}
