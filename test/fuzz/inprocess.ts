// The in-process fuzz run: random and mutated requests straight into a FuseServer with a real
// PassthroughFs on a tmpfs export (thousands per second). The run is cut into cycles; each ends
// with a liveness probe (a fresh host file must be LOOKUPed and GETATTRed with its real inode
// number), a DESTROY, and the checks: the fd table is back to its size after INIT, RSS stays within
// a bound, and nothing outside the export was read, modified or created. Every request is checked
// for exactly one valid answer. A failure throws FuzzFailure with the seed and the request bytes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { FuseServer, ServerOptions } from '../../src/server/session';
import { PassthroughFs } from '../../src/passthrough/passthrough-fs';
import { PassthroughFileSystem } from '../../src/passthrough/file-system';
import { defaultPassthroughConfig } from '../../src/passthrough/config';
import type { Logger } from '../../src/log/logger';
import type { RequestChannel } from '../../src/native/channel';
import { MemoryChannel, Pending } from '../helpers/memory-channel';
import { checkAnswers, opcodeOf } from './answer-check';
import { FuzzExport, countFds, fdTargets, rssMiB } from './export';
import { FuzzState, Generator, OP, SKIPPED_OPS, request } from './requests';
import { initIn, name as nameIn } from '../helpers/fuse-requests';
import { opName } from '../../src/protocol';
import { Rng } from './rng';
import { Credentials } from '../../src/passthrough/credentials';

function fdFlags(fd: string): string {
  try {
    return /flags:\s*(\S+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1] ?? '?';
  } catch {
    return '?';
  }
}

/** A full GC on demand (for the heap measurement), without needing node --expose-gc. */
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

export class FuzzFailure extends Error {
  constructor(readonly seed: number, what: string, readonly bytes?: Buffer, detail = '') {
    super(`fuzz failure (seed ${seed}): ${what}${detail ? `\n${detail}` : ''}${bytes ? `\nrequest bytes (${bytes.length}): ${bytes.toString('hex')}` : ''}\nreplay: node dist/scripts/fuzz.js --mode inprocess --seed ${seed}`);
  }
}

export interface InProcessOptions {
  seed: number;
  /** stop after this many requests ... */
  requests?: number;
  /** ... or this many seconds, whichever comes first */
  seconds?: number;
  /** requests per cycle (between DESTROYs) */
  cycle?: number;
  /** allowed RSS growth over the run after the second cycle, MiB */
  rssGrowthMiB?: number;
  /** allowed growth of the JS heap after GC, MiB */
  heapGrowthMiB?: number;
  progress?: (line: string) => void;
  /** tests of the harness itself: wrap the channel the server sees (e.g. to lose answers) */
  wrapChannel?: (ch: MemoryChannel) => RequestChannel;
}

export interface InProcessResult {
  seed: number;
  requests: number;
  cycles: number;
  answered: Record<string, number>;
  rssStartMiB: number;
  rssEndMiB: number;
  fds: number;
}

/** Collects the server's 'request failed' lines: a handler threw something that is not a
 *  ProtocolError (a bug, even though the session survives it and answers EIO). Other errors
 *  (an INIT refused for an old minor) are the server doing its job. */
function collectingLogger(errors: string[]): Logger {
  const skipped = new Set(SKIPPED_OPS.map((s) => opName(s.op)));
  return {
    error: (m, f) => {
      if (m === 'request failed' && !skipped.has(String(f?.op))) errors.push(`${m} ${JSON.stringify(f ?? {})}`);
    },
    warn: () => {}, info: () => {}, debug: () => {}, debugEnabled: false,
  };
}

const SERVER_OPTS: ServerOptions = {
  readOnly: false, maxWrite: 1 << 20, announceSubmounts: false, posixLocks: true, flock: true,
  cacheAlways: false, passthrough: false,
};

export async function runInProcess(o: InProcessOptions): Promise<InProcessResult> {
  const seed = o.seed >>> 0;
  const rng = new Rng(seed);
  const state = new FuzzState();
  const gen = new Generator(rng, state);
  const exp = new FuzzExport();
  const chan = new MemoryChannel();
  const errors: string[] = [];
  const pfs = new PassthroughFs({ ...defaultPassthroughConfig(exp.dir), xattr: true }, new Credentials(false));
  const server = new FuseServer(o.wrapChannel ? o.wrapChannel(chan) : chan, new PassthroughFileSystem(pfs), SERVER_OPTS, collectingLogger(errors));
  const cycleLen = o.cycle ?? 400;
  const maxRequests = o.requests ?? Infinity;
  const deadline = o.seconds ? Date.now() + o.seconds * 1000 : Infinity;
  const answered: Record<string, number> = {};
  let sent = 0, cycles = 0;
  let rssStart = 0, heapStart = 0;
  let baselineFds = -1;
  /** requests that may still be answered later (SETLKW waiting for a lock) */
  let waiting: { p: Pending; unique: bigint }[] = [];

  const fail = (what: string, bytes?: Buffer, detail = ''): never => {
    throw new FuzzFailure(seed, what, bytes, detail);
  };
  const judge = (p: Pending, final: boolean, how = ''): void => {
    if (p.faults.length) fail(p.faults.join('; '), p.bytes, how);
    const problem = checkAnswers(p.bytes, p.answers, final);
    if (problem) fail(problem, p.bytes, how);
    if (errors.length) fail(`the server logged an error (a handler threw): ${errors[0]}`, p.bytes, how);
  };
  const learn = (p: Pending): void => {
    const a = p.answers[0];
    if (!a) return;
    const op = opcodeOf(p.bytes);
    const key = a.kind === 'reply' && a.error === 0 ? `${op}:ok` : a.kind === 'error' ? `${op}:E${a.errno}` : `${op}:${a.kind}`;
    answered[key] = (answered[key] ?? 0) + 1;
    if (a.kind !== 'reply' || a.error !== 0) return;
    if (op === OP.LOOKUP || op === OP.MKNOD || op === OP.MKDIR || op === OP.SYMLINK || op === OP.LINK) {
      state.remember(state.nodeids, a.payload.readBigUInt64LE(0));
    } else if (op === OP.CREATE || op === OP.TMPFILE) {
      state.remember(state.nodeids, a.payload.readBigUInt64LE(0));
      state.remember(state.fhs, a.payload.readBigUInt64LE(128));
    } else if (op === OP.OPEN) {
      state.remember(state.fhs, a.payload.readBigUInt64LE(0));
    } else if (op === OP.OPENDIR) {
      state.remember(state.dirFhs, a.payload.readBigUInt64LE(0));
    }
  };
  const one = (op: number, nodeid: bigint, body: Buffer): Pending => {
    const [p] = chan.deliver([request(op, state.unique(), nodeid, body)]);
    judge(p, true);
    learn(p);
    return p;
  };

  const endCycle = async (): Promise<void> => {
    // Whatever still waits for a lock is interrupted: it must then be answered (EINTR).
    for (const w of waiting) {
      const body = Buffer.alloc(8);
      body.writeBigUInt64LE(w.unique);
      one(OP.INTERRUPT, 0n, body);
    }
    await new Promise((r) => setImmediate(r));
    for (const w of waiting) judge(w.p, true, 'SETLKW still unanswered after INTERRUPT');
    waiting = [];
    // Liveness: a file the host just made is served with its real inode number.
    const name = `live-${cycles}`;
    const file = path.join(exp.dir, name);
    fs.writeFileSync(file, 'live');
    const ino = BigInt(fs.statSync(file).ino);
    const lk = one(OP.LOOKUP, 1n, nameIn(name));
    const a = lk.answers[0];
    if (a.kind !== 'reply' || a.error !== 0) return fail(`liveness: LOOKUP of a new host file failed: ${JSON.stringify(a)}`, lk.bytes);
    const nodeid = a.payload.readBigUInt64LE(0);
    if (a.payload.readBigUInt64LE(40) !== ino) fail('liveness: LOOKUP answered another inode number', lk.bytes);
    const ga = one(OP.GETATTR, nodeid, Buffer.alloc(16));
    const g = ga.answers[0];
    if (g.kind !== 'reply' || g.error !== 0 || g.payload.readBigUInt64LE(16) !== ino) fail(`liveness: GETATTR failed: ${JSON.stringify(g)}`, ga.bytes);
    fs.unlinkSync(file);
    // DESTROY releases every inode and handle: the fd table must be back to where INIT left it.
    const d = one(OP.DESTROY, 1n, Buffer.alloc(0));
    if (d.answers[0].kind !== 'reply') fail('DESTROY not answered with success', d.bytes);
    const fds = countFds();
    if (fds !== baselineFds) {
      fail(`fd count after DESTROY is ${fds}, after INIT it was ${baselineFds}`, undefined,
        [...fdTargets()].map(([k, v]) => `${k} -> ${v} (${fdFlags(k)})`).join('\n'));
    }
    const canary = exp.canaryProblem();
    if (canary) fail(canary);
    cycles++;
    // Memory: the JS heap after a full GC must not grow from cycle to cycle (everything the
    // server holds was released by DESTROY); RSS is bounded more loosely (allocator slack).
    gc();
    const heap = process.memoryUsage().heapUsed / 2 ** 20;
    const rss = rssMiB();
    if (cycles === 2) { rssStart = rss; heapStart = heap; }
    else if (cycles > 2) {
      if (heap - heapStart > (o.heapGrowthMiB ?? 24)) fail(`JS heap after GC grew from ${heapStart.toFixed(1)} to ${heap.toFixed(1)} MiB`);
      if (rss - rssStart > (o.rssGrowthMiB ?? 192)) fail(`RSS grew from ${rssStart.toFixed(1)} to ${rss.toFixed(1)} MiB`);
    }
    o.progress?.(`cycle ${cycles}: ${sent} requests, ${fds} fds, heap ${heap.toFixed(1)} MiB, rss ${rss.toFixed(1)} MiB`);
    chan.requests.clear();
    // Let timers (blocking-lock retries) and GC run between cycles.
    await new Promise((r) => setTimeout(r, 1));
  };

  try {
    server.start();
    while (sent < maxRequests && Date.now() < deadline) {
      const init = one(OP.INIT, 0n, initIn());
      if (init.answers[0].kind !== 'reply') fail('INIT refused', init.bytes);
      if (baselineFds < 0) baselineFds = countFds();
      // Ids from before DESTROY are stale: keep two of each (stale ids must miss), start afresh.
      state.nodeids = [1n, ...state.nodeids.slice(-2)];
      state.fhs = state.fhs.slice(-2);
      state.dirFhs = state.dirFhs.slice(-2);
      for (let k = 0; k < cycleLen && sent < maxRequests; ) {
        const n = 1 + rng.int(8);
        const batch = Array.from({ length: n }, () => gen.next());
        const ps = chan.deliver(batch.map((g) => g.bytes));
        sent += n;
        k += n;
        const howOf = (i: number) => `generated as opcode ${batch[i].intended}${batch[i].how.length ? `, mutated: ${batch[i].how.join(' ')}` : ''}`;
        if (errors.length) {
          // Name the request(s) of the batch with the opcode the log line names.
          const suspects = ps.filter((p) => errors[0].includes(`"op":"${opName(opcodeOf(p.bytes) ?? -1)}"`));
          fail(`the server logged an error (a handler threw): ${errors[0]}`, suspects[0]?.bytes,
            suspects.length ? '' : `batch: ${ps.map((p) => p.bytes.toString('hex')).join('\n')}`);
        }
        // The canary is checked after every batch (a stat: cheap) so an escape names its request.
        const escaped = exp.canaryProblem();
        if (escaped) fail(escaped, undefined, `batch:\n${ps.map((p, i) => `${howOf(i)}: ${p.bytes.toString('hex')} -> ${JSON.stringify(p.answers)}`).join('\n')}`);
        ps.forEach((p, i) => {
          const how = howOf(i);
          if (p.answers.length === 0 && opcodeOf(p.bytes) === OP.SETLKW) {
            waiting.push({ p, unique: p.bytes.readBigUInt64LE(8) });
            return;
          }
          judge(p, true, how);
          learn(p);
          // A second DESTROY/INIT pair inside a cycle is fine; re-INIT so the rest is served.
          if (opcodeOf(p.bytes) === OP.DESTROY) one(OP.INIT, 0n, initIn());
        });
        // Waiting SETLKWs may have been answered by an INTERRUPT or a released lock.
        waiting = waiting.filter((w) => {
          if (w.p.answers.length === 0) return true;
          judge(w.p, true, 'SETLKW answered later');
          return false;
        });
        if (chan.strays.length) fail(`answer for a token never handed out: ${chan.strays[0]}`);
      }
      await endCycle();
    }
    const content = exp.canaryContentProblem();
    if (content) fail(content);
    return { seed, requests: sent, cycles, answered, rssStartMiB: rssStart, rssEndMiB: rssMiB(), fds: baselineFds };
  } finally {
    server.stop();
    pfs.close();
    exp.remove();
  }
}
