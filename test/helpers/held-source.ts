// A host filesystem that blocks on demand, for the worker-pool tests: a FUSE mount of our own stub
// engine (served by this test process) with one regular file, `slow`, whose FSYNC (and, if
// asked, READ) requests are held until the test releases them. A process that fsyncs `slow` —
// or vfsd doing it for a client — waits inside the kernel exactly as on a disk that takes its
// time: the real blocking a network filesystem or a cold disk does, without timing tricks.
// Everything this process does on the mount goes through async calls or child processes: this
// thread serves the stub, a synchronous call on the mount would deadlock.
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FuseDevTransport } from '../../src/transport/fuse-dev';
import type { RequestChannel } from '../../src/native/channel';
import { OP, attr, replyOk, serve, tempDir, type Request, oneFileHandlers } from '../fixtures/stub-engine';
import { isMounted } from './mountinfo';

export const FSYNC = 20;
const FILE = 2;
/** The bytes `slow` holds (a READ is answered from them). */
export const SLOW_SIZE = 64 * 1024;
export const slowByte = (i: number): number => (i * 7 + 3) & 0xff;

export interface HeldSource {
  /** the mount point (export it, or open `slow` in it) */
  dir: string;
  /** path of the file whose held requests wait */
  slow: string;
  /** requests held so far and not released, by opcode */
  held(op: number): number;
  /** answers every held request of op (FSYNC: success; READ: the file's bytes) */
  release(op: number): void;
}

export function mountHeldSource(t: { teardown(fn: () => void): void }, hold: number[] = [FSYNC]): HeldSource {
  const base = tempDir(true);
  const dir = path.join(base, 'held');
  fs.mkdirSync(dir);
  const transport = FuseDevTransport.mount(dir, { fsname: 'vfsd-held', subtype: 'vfsdtest' });
  const waiting = new Map<number, Request[]>();
  const content = Buffer.alloc(SLOW_SIZE);
  for (let i = 0; i < SLOW_SIZE; i++) content[i] = slowByte(i);
  const answer = (req: Request, ch: RequestChannel) => {
    if (req.opcode !== OP.READ) return replyOk(ch, req.token);
    const offset = Number(req.body.readBigUInt64LE(8));
    const size = req.body.readUInt32LE(16);
    const data = content.subarray(Math.min(offset, SLOW_SIZE), Math.min(offset + size, SLOW_SIZE));
    const out = Buffer.alloc(16 + data.length);
    data.copy(out, 16);
    ch.reply(req.token, out, out.length);
  };
  const maybeHold = (req: Request, ch: RequestChannel) => {
    if (!hold.includes(req.opcode)) return answer(req, ch);
    const list = waiting.get(req.opcode) ?? [];
    list.push(req);
    waiting.set(req.opcode, list);
  };
  let released = false;
  t.teardown(() => {
    // Whatever is still held must not keep a process (vfsd, a client) stuck past the test.
    for (const op of waiting.keys()) releaseOp(op);
    released = true;
    if (isMounted(dir)) { try { transport.unmount(); } catch { /* reported by the test */ } }
    transport.close();
    fs.rmSync(base, { recursive: true, force: true });
  });
  const fileAttr = () => attr({ ino: FILE, mode: 0o100666, size: SLOW_SIZE });
  serve(transport, {
    ...oneFileHandlers('slow', FILE, fileAttr),
    [OP.READ]: maybeHold,
    [OP.WRITE]: (req, ch) => {
      const out = Buffer.alloc(16 + 8);
      out.writeUInt32LE(req.body.readUInt32LE(16), 16); // fuse_write_in.size
      ch.reply(req.token, out, out.length);
    },
    [FSYNC]: maybeHold,
    [OP.FLUSH]: (req, ch) => replyOk(ch, req.token),
    [OP.RELEASE]: (req, ch) => replyOk(ch, req.token),
  });
  function releaseOp(op: number): void {
    const list = waiting.get(op) ?? [];
    waiting.set(op, []);
    if (!released) for (const req of list) answer(req, transport);
  }
  return { dir, slow: path.join(dir, 'slow'), held: (op) => (waiting.get(op) ?? []).length, release: releaseOp };
}

export interface HeldSourceProcess {
  dir: string;
  slow: string;
  held(op: number): Promise<number>;
  /** answers the held requests of op, after afterMs in the child (its own clock: this process's
   *  event loop may be blocked meanwhile) */
  release(op: number, afterMs?: number): void;
}

/** The held source served by a child process (test/fixtures/held-source-child.ts). */
export async function spawnHeldSource(t: { teardown(fn: () => void | Promise<void>): void }, hold: number[] = [FSYNC]): Promise<HeldSourceProcess> {
  const script = path.resolve(__dirname, '..', 'fixtures', 'held-source-child.js');
  const child = fork(script, [JSON.stringify(hold)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.send({ stop: true });
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const ready = await new Promise<{ dir: string; slow: string }>((resolve, reject) => {
    child.once('message', (m: { dir: string; slow: string }) => resolve(m));
    child.once('exit', (code) => reject(new Error(`held source exited (${code}) before mounting`)));
  });
  let nextId = 1;
  const held = (op: number) => new Promise<number>((resolve) => {
    const id = nextId++;
    const on = (m: { id?: number; held?: number }) => {
      if (m.id !== id) return;
      child.off('message', on);
      resolve(m.held ?? 0);
    };
    child.on('message', on);
    child.send({ query: op, id });
  });
  return { dir: ready.dir, slow: ready.slow, held, release: (op, afterMs = 0) => child.send({ release: op, afterMs }) };
}
