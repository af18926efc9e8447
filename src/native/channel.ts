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
/** FUSE passthrough's backing files (kernel >= 6.9, root, /dev/fuse only): open registers an open
 *  file with the kernel and returns its backing id (or -errno); close unregisters one. */
export interface BackingFiles {
  open(fd: number): number;
  close(backingId: number): void;
}

export interface RequestChannel {
  /** present on a channel that can register FUSE passthrough backing files */
  readonly backing?: BackingFiles;
  readonly inbox: Buffer;
  readonly table: Uint32Array;
  start(onBatch: (count: number) => void): void;
  reply(token: number, buf: Uint8Array, len: number): number;
  replyError(token: number, errno: number): number;
  readInto(token: number, fd: number, size: number, offset: number): number;
  writeFrom(token: number, fd: number, size: number, offset: number, killPriv: boolean): number;
  done(token: number): void;
  /** Stop polling and release everything the session owns. Idempotent. */
  close(): void;
}
