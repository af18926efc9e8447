// The real server (FuseServer + PassthroughFs) on a VhostUserTransport in this process, fed by a
// QEMU-playing front end, over the held source (test/helpers/held-source) in a child process: for
// the tests of requests in flight on the worker pool through the vhost-user front end
// (test/mount/vhost-user-meta, vhost-user-locks). The source in a child lets this loop block
// inside a syscall without deadlocking with the filesystem it waits on.
import type { Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { VhostUserTransport } from '../../src/transport/vhost-user';
import { FuseServer } from '../../src/server/session';
import { PassthroughFs } from '../../src/passthrough/passthrough-fs';
import { PassthroughFileSystem } from '../../src/passthrough/file-system';
import { defaultPassthroughConfig } from '../../src/passthrough/config';
import { Credentials } from '../../src/passthrough/credentials';
import { silentLogger } from '../../src/log/logger';
import { FUSE, guestInitIn, openRequestSession, outHeader, type RequestSession } from './vhost-frontend';
import { forgetIn, name } from './fuse-requests';
import { entryOf } from './fuse-replies';
import { spawnHeldSource, type HeldSourceProcess } from './held-source';
import { waitFor } from './wait';

export const WAIT = 20000;

export const fdCount = () => fs.readdirSync('/proc/self/fd').length;

export interface Answer { error: number; payload: Buffer }

/** The real server on a vhost-user socket in this process, and a front end connected to it. */
export class Served {
  pfs!: PassthroughFs;
  server!: FuseServer;
  transport!: VhostUserTransport;
  rs!: RequestSession;
  /** the backend saw the front end go (and the server was stopped, as the command does) */
  disconnected = false;
  private dir = '';
  private feOpen = false;
  private closed = false;
  /** used entries seen, by descriptor head, not yet claimed */
  private readonly used = new Map<number, number>();

  static async open(t: Test, src: HeldSourceProcess): Promise<Served> {
    const s = new Served();
    t.teardown(() => s.close());
    s.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-vu-meta-'));
    const sock = path.join(s.dir, 'vhost.sock');
    s.transport = new VhostUserTransport({ socketPath: sock, requestQueues: 1, maxRequestSize: 256 * 1024 });
    s.pfs = new PassthroughFs(defaultPassthroughConfig(src.dir), new Credentials(false));
    s.server = new FuseServer(s.transport, new PassthroughFileSystem(s.pfs), {
      readOnly: false, maxWrite: 1 << 20, announceSubmounts: false, posixLocks: true, flock: true,
      passthrough: false, cacheAlways: false,
    }, silentLogger);
    // What the vfsd command does when its front end goes (src/cli/serve-vhost-user.ts).
    s.transport.on('disconnected', () => {
      s.disconnected = true;
      s.endServer();
    });
    s.transport.listen();
    s.server.start();
    s.rs = await openRequestSession(sock, 8192);
    s.feOpen = true;
    const init = await s.call(FUSE.INIT, 0n, guestInitIn());
    if (init.error !== 0) throw new Error(`INIT: ${init.error}`);
    return s;
  }

  /** Publishes a request (kicked by the caller, or by call()); returns its descriptor head. */
  post(opcode: number, nodeid: number | bigint, body: Buffer): { head: number; out: bigint; unique: bigint } {
    return this.rs.post(opcode, BigInt(nodeid), body);
  }

  kick(): void {
    this.rs.rings[1].kick();
  }

  /** The answer to the request at `head` once the backend has returned its buffers. */
  async answer(p: { head: number; out: bigint }, what: string): Promise<Answer> {
    await waitFor(() => this.answered(p), what, WAIT);
    const len = this.used.get(p.head)!;
    this.used.delete(p.head);
    if (len < 16) return { error: 0, payload: Buffer.alloc(0) }; // FORGET: buffers returned, nothing written
    const h = outHeader(this.rs.mem.read(p.out, 16));
    return { error: h.error, payload: this.rs.mem.read(p.out + 16n, len - 16) };
  }

  /** Whether the request at `head` has been answered (without waiting). */
  answered(p: { head: number }): boolean {
    for (let e = this.rs.rings[1].takeUsed(); e; e = this.rs.rings[1].takeUsed()) this.used.set(e.id, e.len);
    return this.used.has(p.head);
  }

  async call(opcode: number, nodeid: number | bigint, body: Buffer): Promise<Answer> {
    const p = this.post(opcode, nodeid, body);
    this.kick();
    return this.answer(p, `the answer to opcode ${opcode}`);
  }

  /** call(), its guest buffers freed once answered: for thousands of requests in a row. Nothing
   *  else may be posted while it runs (its buffers would be reused). */
  async callAndFree(opcode: number, nodeid: number | bigint, body: Buffer): Promise<Answer> {
    const mark = this.rs.mem.mark();
    try {
      return await this.call(opcode, nodeid, body);
    } finally {
      this.rs.mem.rewind(mark);
    }
  }

  async lookup(parent: number, n: string): Promise<Answer> {
    return this.call(FUSE.LOOKUP, parent, name(n));
  }

  /** A LOOKUP that must succeed: its node id and inode number. */
  async entry(parent: number, n: string): Promise<{ nodeid: number; ino: number }> {
    const a = await this.lookup(parent, n);
    if (a.error !== 0) throw new Error(`LOOKUP ${n}: ${a.error}`);
    return entryOf(a.payload);
  }

  async forget(nodeid: number, n: number): Promise<void> {
    await this.call(FUSE.FORGET, nodeid, forgetIn(n));
  }

  /** Two inline LOOKUPs that take LAG_MS each: the export's mount is served on the pool now. */
  async makeSlow(t: Test): Promise<void> {
    await this.entry(1, 'slow'); // known from now on: later LOOKUPs of it open no fd
    await this.entry(1, 'lag1');
    await this.entry(1, 'lag2');
    t.equal(this.pfs.offLoop.slowMounts.length, 1, 'two slow inline LOOKUPs: the mount is served on the pool');
  }

  /** The front end goes away (QEMU quit): the backend sees the socket close. */
  closeFrontend(): void {
    if (!this.feOpen) return;
    this.feOpen = false;
    this.rs.fe.close();
    for (const r of this.rs.rings) r.close();
    this.rs.mem.close();
  }

  endServer(): void {
    this.server.stop();
    this.transport.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeFrontend();
    this.endServer();
    this.pfs.close();
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Until the source holds `n` requests of op (asked over IPC: this loop stays free meanwhile). */
export async function untilHeld(src: HeldSourceProcess, op: number, what: string, n = 1): Promise<void> {
  const deadline = Date.now() + WAIT;
  while ((await src.held(op)) < n) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The held source (nothing held yet), the server on it, the export's mount made slow. */
export async function slowSession(t: Test): Promise<{ src: HeldSourceProcess; s: Served }> {
  const src = await spawnHeldSource(t, []);
  const s = await Served.open(t, src);
  await s.makeSlow(t);
  return { src, s };
}
