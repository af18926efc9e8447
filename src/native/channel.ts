// The contract both native sessions (/dev/fuse and vhost-user) keep with the engine, so the engine
// serves either without knowing which. TypeScript decides; the native side moves bytes.
//
// Delivery: the session drains every request that is ready (no reader thread hand-off on the
// metadata path: the fds are polled by libuv on the JS thread) and calls onBatch(count) once.
// Request i is described by table[4*i .. 4*i+3] = [offset, length, token, queue]:
//  - inbox[offset .. offset+length) holds the request from its fuse_in_header on. For WRITE the
//    bytes after fuse_write_in may be absent (vhost-user leaves them in guest memory); use
//    writeFrom(), never read them from the inbox.
//  - token names the request in every answer; it is valid until exactly one of reply*, readInto,
//    writeFrom or done has been called for it. A request may be answered after onBatch returns
//    (e.g. a blocking lock), but its inbox bytes are only valid during onBatch.
//  - queue: the virtqueue it came from (0 = hiprio on vhost-user; 0 always on /dev/fuse).
// Answers (all return 0 or -errno, and never throw for I/O errors):
//  The native side remembers each pending request's `unique` and writes it (and the out header's
//  len) itself, so the engine can never answer the wrong request.
//  - reply(token, buf, len): buf[0..len) is a complete answer: a 16-byte fuse_out_header (the
//    caller fills `error`; len and unique are overwritten natively) followed by the payload.
//  - replyError(token, errno): a bare fuse_out_header with error = -errno (errno > 0).
//  - readInto(token, fd, size, offset): pread up to size bytes at offset from fd and answer
//    with them (short reads are answered short, errors as errors) without the bytes touching JS.
//  - writeFrom(token, fd, size, offset, killPriv): pwrite the request's data (the bytes
//    after fuse_write_in) to fd at offset and answer with fuse_write_out; killPriv drops
//    CAP_FSETID for that write so the kernel clears suid/sgid (FUSE_WRITE_KILL_SUIDGID).
//  - done(token): the request gets no answer (FORGET, BATCH_FORGET, some INTERRUPTs); releases it.
//
// Asynchronous forms: what may block runs on the native worker pool (--thread-pool-size), off
// the JS thread, and is answered natively when it completes — in completion order, not request
// order (/dev/fuse answers by unique; a virtqueue's used ring takes any order). The engine
// decides where each request runs; the native side moves the bytes and answers.
//  - readInto/writeFrom take an optional `path` (DataPath): Inline (the blocking syscall on the
//    JS thread, the default), Pool (on a worker), TryInline (preadv2/pwritev2 with RWF_NOWAIT on
//    the JS thread; what would block — EAGAIN, or the rest after a partial transfer — goes to
//    the pool). Without a pool (size 0) every path is Inline.
//  - fileJob(token, op, fd, fd2, a, b, c, path, killPriv): the FileOp (FSYNC, FALLOCATE,
//    SYNCFS, COPY_FILE_RANGE, FLUSH's close(dup(fd)), LSEEK's SEEK_DATA/SEEK_HOLE of a slow mount)
//    on fd (and fd2), answered natively with its status (or fuse_write_out /
//    fuse_copy_file_range_out for the copies, fuse_lseek_out for LSEEK). killPriv: the worker
//    (root) drops CAP_FSETID for FALLOCATE/COPY so suid/sgid clear as for the caller.
//  Results, besides -errno (refused, as the synchronous forms): PathResult.Answered (answered
//  before returning), Queued (on the pool: answered later; the token is spent either way),
//  NoWaitUnsupported (TryInline on a file without RWF_NOWAIT, e.g. tmpfs, or ext4 writes:
//  answered inline with the plain syscall; the engine should choose another path next time).
//  A queued job leases the engine's fds (native/fd_leases.h; FLUSH alone works on a dup, whose
//  close is its op), taken before the call returns: the engine may close its fds (RELEASE,
//  sys.closeFile) at once; the close waits for the job, so the file stays open until the job
//  ends and a reused fd number never reaches a worker. An INTERRUPT of a queued request is
//  answered when it completes.
//  Closing the session (or a ring stop/reset, a memory-table change, a disconnect on vhost-user)
//  never leaves a worker using freed state: each job holds its session's link, which the session
//  detaches; a vhost-user job touches guest memory only inside a use the table changes wait for,
//  and a job whose ring stopped before it ran touches nothing and is dropped.
export const DataPath = { Inline: 0, Pool: 1, TryInline: 2 } as const;
export const FileOp = { Fsync: 1, Fallocate: 2, Syncfs: 3, CopyRange: 4, CopyRange64: 5, Flush: 6, Lseek: 7 } as const;
export const PathResult = { Answered: 0, Queued: 1, NoWaitUnsupported: 2 } as const;

/** FUSE passthrough's backing files (kernel >= 6.9, root, /dev/fuse only): open registers an open
 *  file with the kernel and returns its backing id (or -errno); close unregisters one. */
export interface BackingFiles {
  /** withoutFsetid: registered without CAP_FSETID (native BackingOpen), for a setuid/setgid file */
  open(fd: number, withoutFsetid?: boolean): number;
  /** onPool: we hold no other fd on the file (it may be unlinked, and the kernel's last fput of
   *  it then frees its blocks in the closing thread): unregister on a worker */
  close(backingId: number, onPool?: boolean): void;
}

export interface RequestChannel {
  /** present on a channel that can register FUSE passthrough backing files */
  readonly backing?: BackingFiles;
  readonly inbox: Buffer;
  readonly table: Uint32Array;
  start(onBatch: (count: number) => void): void;
  reply(token: number, buf: Uint8Array, len: number): number;
  replyError(token: number, errno: number): number;
  readInto(token: number, fd: number, size: number, offset: number, path?: number): number;
  writeFrom(token: number, fd: number, size: number, offset: number, killPriv: boolean, path?: number): number;
  fileJob(token: number, op: number, fd: number, fd2: number, a: number, b: number, c: number, path: number, killPriv: boolean): number;
  done(token: number): void;
  /** Stop polling and release everything the session owns. Idempotent. */
  close(): void;
}
