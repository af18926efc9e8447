// One FUSE session: takes batches of requests from a channel (/dev/fuse or a virtqueue), checks
// each request's framing, runs it as its caller, dispatches it by opcode and makes sure every
// request gets exactly one answer — whatever the request contains. A malformed request (short,
// lying about its length, unknown opcode or node) gets an errno, never a crash: an exception in
// a handler is caught here, logged and answered with EIO.
import * as P from '../protocol';
import type { RequestChannel } from '../native/channel';
import type { FileSystem } from './file-system';
import { readOnly } from './read-only';
import type { Logger } from '../log/logger';
import { Replier } from './replier';
import { BlockingLocks } from './blocking-locks';
import { HANDLERS } from './dispatch';
import type { Req } from './handler';
import { negotiate, NegotiatedInit, ServerWants } from './init';
import { RequestStats } from './stats';
import { performance } from 'node:perf_hooks';

export interface ServerOptions extends ServerWants {
  readOnly: boolean;
  /**
   * Keep the last caller's credentials on the JS thread between batches (a switch costs ten
   * syscalls). Only for a process whose own filesystem work on that thread goes through
   * creds.privileged() — the vfsd command. Off by default: a library user or a test sharing the
   * thread gets its own credentials back after every batch.
   */
  stickyCredentials?: boolean;
}

/** Requests that act on an open fd or on our own tables only: no credential switch needed. */
const NO_CREDS = new Set<number>([
  P.Op.FORGET, P.Op.BATCH_FORGET, P.Op.INTERRUPT, P.Op.INIT, P.Op.DESTROY, P.Op.RELEASE,
  P.Op.RELEASEDIR, P.Op.NOTIFY_REPLY, P.Op.READ, P.Op.WRITE, P.Op.GETATTR, P.Op.FLUSH,
  P.Op.LSEEK, P.Op.STATFS, P.Op.GETLK, P.Op.SETLK, P.Op.SETLKW, P.Op.FSYNC, P.Op.FSYNCDIR,
]);

/** Requests that never get an answer, not even an error: the kernel does not wait for one (on
 *  virtio-fs their chains have no room for it). A malformed one is dropped with done(). */
const NO_ANSWER = new Set<number>([P.Op.FORGET, P.Op.BATCH_FORGET, P.Op.INTERRUPT, P.Op.NOTIFY_REPLY]);

export class FuseServer {
  readonly replier: Replier;
  readonly locks = new BlockingLocks();
  init: NegotiatedInit | null = null;
  /** requests served per opcode, with latency (operators' counters) */
  readonly stats = new RequestStats();

  /** what is served: the filesystem given, wrapped by read-only.ts under opts.readOnly */
  readonly fs: FileSystem;

  constructor(
    readonly channel: RequestChannel,
    fs: FileSystem,
    readonly opts: ServerOptions,
    readonly log: Logger,
  ) {
    this.replier = new Replier(channel);
    this.fs = opts.readOnly ? readOnly(fs) : fs;
  }

  start(): void {
    this.channel.start((count) => this.onBatch(count));
  }

  /** Ends the session's own state (waiters, handles, inodes). The channel is closed by its owner. */
  stop(): void {
    this.fs.asDaemon();
    this.locks.clear();
    this.fs.releaseAll();
  }

  private onBatch(count: number): void {
    const { table, inbox } = this.channel;
    for (let i = 0; i < count; i++) {
      const off = table[4 * i], len = table[4 * i + 1], token = table[4 * i + 2];
      this.handle(inbox, off, off + len, token);
    }
    if (!this.opts.stickyCredentials) this.fs.asDaemon();
  }

  private handle(buf: Buffer, off: number, end: number, token: number): void {
    let h: P.InHeader;
    // Fewer bytes than a header arrived: the header must not be read from whatever follows them
    // in the inbox (it would name an opcode and a length the client never sent).
    if (end - off < P.IN_HEADER_SIZE) return this.replier.error(token, P.Errno.EIO);
    try {
      h = P.readInHeader(buf, off);
    } catch {
      return this.replier.error(token, P.Errno.EIO);
    }
    const fail = (errno: number) => (NO_ANSWER.has(h.opcode) ? this.channel.done(token) : this.replier.error(token, errno));
    try {
      const delivered = end - off;
      // The header's len must describe exactly what arrived; only WRITE may leave its data
      // outside the inbox (vhost-user keeps it in guest memory).
      if (h.len < P.IN_HEADER_SIZE || h.len < delivered || (h.len > delivered && h.opcode !== P.Op.WRITE)) {
        return fail(P.Errno.EINVAL);
      }
      const bodyEnd = h.totalExtlen ? P.decodeExtensions(buf, off + P.IN_HEADER_SIZE, end, h.totalExtlen).bodyEnd : end;
      const req: Req = { buf, off: off + P.IN_HEADER_SIZE, end: bodyEnd, token, h };
      if (h.opcode === P.Op.INIT) return this.onInit(req);
      if (!this.init) return fail(P.Errno.EIO);
      const handler = HANDLERS[h.opcode];
      if (!handler) return this.replier.error(token, P.Errno.ENOSYS);
      if (!NO_CREDS.has(h.opcode)) {
        const r = this.fs.asCaller(h.uid, h.gid, h.pid);
        if (r < 0) return this.replier.error(token, -r);
      }
      const t0 = performance.now();
      handler(this, req);
      this.stats.record(h.opcode, (performance.now() - t0) * 1000);
    } catch (e) {
      if (e instanceof P.ProtocolError) return fail(e.errno);
      this.log.error('request failed', { op: P.opName(h.opcode), error: String((e as Error)?.stack ?? e) });
      fail(P.Errno.EIO);
    }
  }

  failed(r: Req, e: unknown): void {
    this.log.error('request failed', { op: P.opName(r.h.opcode), error: String((e as Error)?.stack ?? e) });
    this.replier.error(r.token, P.Errno.EIO);
  }

  private onInit(req: Req): void {
    const kernel = P.decodeInit(req.buf, req.off, req.end);
    const r = negotiate(kernel, this.opts);
    const out = this.replier.out;
    if (r.kind === 'refuse') {
      this.log.error('INIT refused', { reason: r.reason });
      return this.replier.error(req.token, r.errno);
    }
    if (r.kind === 'retry') {
      return this.replier.send(req.token, P.writeInitOut(out, this.replier.body, r.out, r.out.minor));
    }
    this.init = r;
    this.fs.init({ submounts: r.submounts, posixAcl: r.posixAcl, writeback: r.writeback, backing: r.passthrough ? this.channel.backing ?? null : null });
    this.log.info('session initialised', {
      protocol: `7.${r.minor}`, submounts: r.submounts, passthrough: r.passthrough, maxWrite: r.out.maxWrite,
      posixAcl: r.posixAcl, killprivV2: r.killprivV2,
    });
    this.replier.send(req.token, P.writeInitOut(out, this.replier.body, r.out, r.minor));
  }
}
