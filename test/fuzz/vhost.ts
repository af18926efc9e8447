// The fuzz run through the real vfsd command in VM mode: vfsd serves a tmpfs export on a
// vhost-user socket, and the QEMU-playing test front end (test/helpers/vhost-frontend.ts) puts the
// generated requests into virtqueue chains — FORGET/BATCH_FORGET/INTERRUPT mostly on the hiprio
// queue, the rest on the request queue — with the chains themselves varied a little: the request
// split over several readable descriptors, the reply over two writable ones, an indirect table, a
// reply buffer too small for a header, no writable descriptor at all. Checks: every chain comes
// back (within a bound; a waiting SETLKW is INTERRUPTed first), answers carry the request's unique,
// a header len equal to the used length and a valid errno; per cycle a liveness LOOKUP+GETATTR,
// vfsd's fd count after DESTROY equal to the count after INIT, its RSS bounded, the canary intact.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, ChildProcess } from 'node:child_process';
import { Frontend, GuestMemory, SplitRing, type Buf } from '../helpers/vhost-frontend';
import { waitFor } from '../helpers/wait';
import { checkAnswers, opcodeOf } from './answer-check';
import type { Answer } from '../helpers/memory-channel';
import { FuzzExport, countFds, rssMiB } from './export';
import { FuzzState, Generator, NO_ANSWER, OP, request } from './requests';
import { initIn, name as nameIn } from '../helpers/fuse-requests';
import { Rng } from './rng';

const CLI = path.resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');
const SLOTS = 8;
const IN_SLOT = 80 << 10;
const OUT_SLOT = 72 << 10;
/** How long a chain may stay unanswered before the run fails (a hang). */
const ANSWER_BOUND_MS = 5000;

export class VhostFuzzFailure extends Error {
  constructor(readonly seed: number, what: string, bytes?: Buffer, detail = '', log = '') {
    super(`fuzz failure (vhost-user, seed ${seed}): ${what}${detail ? `\n${detail}` : ''}${bytes ? `\nrequest bytes (${bytes.length}): ${bytes.toString('hex')}` : ''}${log ? `\nvfsd log (tail):\n${log}` : ''}\nreplay: node dist/scripts/fuzz.js --mode vhost --seed ${seed}`);
  }
}

export interface VhostOptions {
  seed: number;
  requests?: number;
  seconds?: number;
  cycle?: number;
  rssGrowthMiB?: number;
  progress?: (line: string) => void;
}

export interface VhostResult { seed: number; requests: number; cycles: number; rssStartMiB: number; rssEndMiB: number; fds: number }

interface Sent {
  bytes: Buffer;
  head: number;
  ring: number;
  out: bigint;
  outLen: number;
  /** the chain itself was malformed on purpose: only its return is checked */
  oddChain: boolean;
  used?: { id: number; len: number };
  how: string;
}

export async function runVhost(o: VhostOptions): Promise<VhostResult> {
  const seed = o.seed >>> 0;
  const rng = new Rng(seed ^ 0x5a5a5a5a);
  const state = new FuzzState();
  const gen = new Generator(rng, state);
  const exp = new FuzzExport('vfsd-fuzz-vu-');
  const sock = path.join(exp.runDir, 'vu.sock');
  let log = '';
  const child: ChildProcess = spawn(process.execPath, [CLI, `--socket-path=${sock}`, `--shared-dir=${exp.dir}`, '--xattr', '--log-level=warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => (log = (log + d).slice(-8000)));
  child.stderr!.on('data', (d) => (log = (log + d).slice(-8000)));
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  const pid = child.pid!;
  const fail = (what: string, bytes?: Buffer, detail = ''): never => {
    throw new VhostFuzzFailure(seed, what, bytes, detail, log.split('\n').slice(-15).join('\n'));
  };
  const alive = () => child.exitCode === null && child.signalCode === null;

  let mem: GuestMemory | null = null;
  let rings: SplitRing[] = [];
  let fe: Frontend | null = null;
  try {
    await waitFor(() => fs.existsSync(sock) || !alive(), 'the vhost-user socket', 15000);
    if (!alive()) fail('vfsd exited at start');
    mem = GuestMemory.standard();
    rings = [new SplitRing(mem, 64), new SplitRing(mem, 64)];
    // The socket file appears at bind(), a moment before listen(): retry a refused connect.
    for (let i = 0; ; i++) {
      try {
        fe = await Frontend.connect(sock);
        break;
      } catch (e) {
        if (i > 200 || !alive()) throw e;
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    await fe!.handshake(mem, rings);
    const m = mem;
    // SLOTS chains per batch, plus room for the INTERRUPTs of waiting SETLKWs (small slots).
    const ins = [...Array.from({ length: SLOTS }, () => m.alloc(IN_SLOT, 16, 1)), ...Array.from({ length: SLOTS }, () => m.alloc(64, 16, 0))];
    const outs = [...Array.from({ length: SLOTS }, () => m.alloc(OUT_SLOT, 16, 1)), ...Array.from({ length: SLOTS }, () => m.alloc(64, 16, 0))];

    /** Puts one request into a chain in slot i; returns what was sent. */
    const put = (i: number, bytes: Buffer, vary: boolean): Sent => {
      const op = opcodeOf(bytes);
      const hiprio = op !== null && NO_ANSWER.has(op) && (!vary || rng.chance(0.9));
      const ring = hiprio ? 0 : 1;
      m.write(ins[i], bytes);
      const bufs: Buf[] = [];
      let how = '';
      let oddChain = false;
      // Readable part: one descriptor, or split at random points.
      if (vary && bytes.length > 2 && rng.chance(0.3)) {
        const cut = 1 + rng.int(bytes.length - 1);
        bufs.push({ gpa: ins[i], len: cut }, { gpa: ins[i] + BigInt(cut), len: bytes.length - cut });
        how += ` split@${cut}`;
      } else if (bytes.length > 0) {
        bufs.push({ gpa: ins[i], len: bytes.length });
      }
      // Writable part: none on hiprio (as the guest driver does), else room for any answer.
      let outLen = hiprio ? 0 : OUT_SLOT;
      if (!hiprio && vary && rng.chance(0.08)) {
        outLen = rng.pick([0, 8, 15]);
        oddChain = true;
        how += ` out${outLen}`;
      }
      if (outLen > 0) {
        if (vary && outLen === OUT_SLOT && rng.chance(0.2)) {
          const cut = 16 + rng.int(200);
          bufs.push({ gpa: outs[i], len: cut, write: true }, { gpa: outs[i] + BigInt(cut), len: outLen - cut, write: true });
          how += ` outsplit@${cut}`;
        } else {
          bufs.push({ gpa: outs[i], len: outLen, write: true });
        }
      }
      if (bufs.length === 0) bufs.push({ gpa: ins[i], len: 0 });
      m.view(outs[i], 16).fill(0xee);
      const indirect = vary && rng.chance(0.15);
      if (indirect) how += ' indirect';
      const head = rings[ring].addChain(bufs, { indirect });
      return { bytes, head, ring, out: outs[i], outLen, oddChain, how: how.trim() };
    };

    /** Sends a batch and waits until every chain came back; judges each answer. */
    const exchange = async (batch: { bytes: Buffer; how: string }[], vary: boolean): Promise<Sent[]> => {
      const sent = batch.map((b, i) => {
        const x = put(i, b.bytes, vary);
        x.how = `${b.how}${x.how ? `; chain: ${x.how}` : ''}`;
        return x;
      });
      for (const r of rings) r.kick();
      const deadline = Date.now() + ANSWER_BOUND_MS;
      let interrupted = false;
      for (;;) {
        for (let q = 0; q < 2; q++) {
          while (rings[q].pendingUsed() > 0) {
            const u = await rings[q].nextUsed();
            const s = sent.find((x) => x.ring === q && x.head === u.id && !x.used);
            if (!s) return fail(`used entry for a chain that is not pending (ring ${q}, id ${u.id})`);
            s.used = u;
          }
        }
        if (sent.every((s) => s.used)) break;
        if (!alive()) fail('vfsd died', sent.find((s) => !s.used)?.bytes);
        const waiting = sent.filter((s) => !s.used);
        if (!interrupted && Date.now() > deadline - ANSWER_BOUND_MS / 2 && waiting.every((s) => opcodeOf(s.bytes) === OP.SETLKW)) {
          // A SETLKW may wait for a lock forever, as on any filesystem: interrupt it, as the
          // kernel would on a signal; then it must come back (EINTR).
          interrupted = true;
          waiting.forEach((w, k) => {
            const body = Buffer.alloc(8);
            body.writeBigUInt64LE(w.bytes.readBigUInt64LE(8));
            sent.push(put(SLOTS + k, request(OP.INTERRUPT, state.unique(), 0n, body), false));
          });
          rings[0].kick();
        }
        if (Date.now() > deadline) fail(`no answer within ${ANSWER_BOUND_MS} ms (a hang)`, waiting[0].bytes, waiting[0].how);
        await new Promise((r) => setTimeout(r, 1));
      }
      for (const s of sent) judge(s);
      return sent;
    };

    const judge = (s: Sent): void => {
      const u = s.used!;
      if (s.oddChain) return;
      const op = opcodeOf(s.bytes);
      const silent = op !== null && NO_ANSWER.has(op);
      let answers: Answer[];
      // A chain shorter than fuse_in_header carries no request the backend could answer: the
      // native side returns it unanswered (len 0), which is all a guest can expect.
      if (u.len === 0 && s.bytes.length < 40) return;
      if (u.len === 0) answers = silent || s.outLen === 0 ? [{ kind: 'done' }] : [];
      else {
        if (u.len < 16 || u.len > s.outLen) fail(`used length ${u.len} (writable ${s.outLen})`, s.bytes, s.how);
        const out = m.read(s.out, u.len);
        const hlen = out.readUInt32LE(0), error = out.readInt32LE(4), unique = out.readBigUInt64LE(8);
        if (hlen !== u.len) fail(`out header len ${hlen} != used length ${u.len}`, s.bytes, s.how);
        if (s.bytes.length >= 16 && unique !== s.bytes.readBigUInt64LE(8)) fail(`answer carries unique ${unique}`, s.bytes, s.how);
        const payload = out.subarray(16);
        if (error !== 0) answers = [{ kind: 'error', errno: -error }];
        else if (op === OP.READ) answers = [{ kind: 'read', bytes: payload.length, errno: 0, data: payload }];
        else if (op === OP.WRITE) answers = [{ kind: 'write', written: payload.length >= 4 ? payload.readUInt32LE(0) : 0, errno: 0 }];
        else answers = [{ kind: 'reply', error: 0, payload }];
      }
      if (answers.length === 0 && !silent) fail('chain returned without an answer', s.bytes, s.how);
      const problem = checkAnswers(s.bytes, answers, true);
      if (problem) fail(problem, s.bytes, s.how);
      learn(op, answers[0]);
    };

    const learn = (op: number | null, a: Answer | undefined): void => {
      if (!a || a.kind !== 'reply' || a.error !== 0) return;
      if (op === OP.LOOKUP || op === OP.MKNOD || op === OP.MKDIR || op === OP.SYMLINK || op === OP.LINK) state.remember(state.nodeids, a.payload.readBigUInt64LE(0));
      else if (op === OP.CREATE || op === OP.TMPFILE) { state.remember(state.nodeids, a.payload.readBigUInt64LE(0)); state.remember(state.fhs, a.payload.readBigUInt64LE(128)); }
      else if (op === OP.OPEN) state.remember(state.fhs, a.payload.readBigUInt64LE(0));
      else if (op === OP.OPENDIR) state.remember(state.dirFhs, a.payload.readBigUInt64LE(0));
    };

    const one = async (op: number, nodeid: bigint, body: Buffer): Promise<{ error: number; payload: Buffer; bytes: Buffer }> => {
      const bytes = request(op, state.unique(), nodeid, body);
      const [s] = await exchange([{ bytes, how: 'harness' }], false);
      const out = m.read(s.out, Math.max(16, s.used!.len));
      return { error: s.used!.len >= 16 ? out.readInt32LE(4) : -5, payload: out.subarray(16, s.used!.len), bytes };
    };

    const cycleLen = o.cycle ?? 300;
    const maxRequests = o.requests ?? Infinity;
    const deadline = o.seconds ? Date.now() + o.seconds * 1000 : Infinity;
    let sentCount = 0, cycles = 0, rssStart = 0, baselineFds = -1;
    while (sentCount < maxRequests && Date.now() < deadline) {
      const init = await one(OP.INIT, 0n, initIn());
      if (init.error !== 0) fail(`INIT answered ${init.error}`, init.bytes);
      if (baselineFds < 0) baselineFds = countFds(pid);
      state.nodeids = [1n, ...state.nodeids.slice(-2)];
      state.fhs = state.fhs.slice(-2);
      state.dirFhs = state.dirFhs.slice(-2);
      for (let k = 0; k < cycleLen && sentCount < maxRequests; ) {
        const n = 1 + rng.int(SLOTS);
        const batch = Array.from({ length: n }, () => {
          const g = gen.next();
          return { bytes: g.bytes, how: `generated as opcode ${g.intended}${g.how.length ? `, mutated: ${g.how.join(' ')}` : ''}` };
        });
        const sent = await exchange(batch, true);
        sentCount += n;
        k += n;
        const escaped = exp.canaryProblem();
        if (escaped) fail(escaped, undefined, sent.map((s) => `${s.how}: ${s.bytes.toString('hex')}`).join('\n'));
        if (sent.some((s) => opcodeOf(s.bytes) === OP.DESTROY)) await one(OP.INIT, 0n, initIn());
      }
      // Liveness, then DESTROY and the resource checks.
      const name = `live-${cycles}`;
      const file = path.join(exp.dir, name);
      fs.writeFileSync(file, 'live');
      const ino = BigInt(fs.statSync(file).ino);
      const lk = await one(OP.LOOKUP, 1n, nameIn(name));
      if (lk.error !== 0 || lk.payload.readBigUInt64LE(40) !== ino) fail(`liveness: LOOKUP answered ${lk.error}`, lk.bytes);
      const ga = await one(OP.GETATTR, lk.payload.readBigUInt64LE(0), Buffer.alloc(16));
      if (ga.error !== 0 || ga.payload.readBigUInt64LE(16) !== ino) fail(`liveness: GETATTR answered ${ga.error}`, ga.bytes);
      fs.unlinkSync(file);
      const d = await one(OP.DESTROY, 1n, Buffer.alloc(0));
      if (d.error !== 0) fail(`DESTROY answered ${d.error}`, d.bytes);
      const fds = countFds(pid);
      if (fds !== baselineFds) fail(`vfsd has ${fds} fds after DESTROY, ${baselineFds} after INIT`, undefined, fs.readdirSync(`/proc/${pid}/fd`).map((f) => { try { return `${f} -> ${fs.readlinkSync(`/proc/${pid}/fd/${f}`)}`; } catch { return f; } }).join('\n'));
      cycles++;
      const rss = rssMiB(pid);
      if (cycles === 2) rssStart = rss;
      else if (cycles > 2 && rss - rssStart > (o.rssGrowthMiB ?? 128)) fail(`vfsd RSS grew from ${rssStart.toFixed(1)} to ${rss.toFixed(1)} MiB`);
      o.progress?.(`vhost cycle ${cycles}: ${sentCount} requests, vfsd ${fds} fds, rss ${rss.toFixed(1)} MiB`);
    }
    const content = exp.canaryContentProblem();
    if (content) fail(content);
    const rssEnd = rssMiB(pid);
    fe!.close();
    fe = null;
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10000))]);
    if (code !== 0) fail(`vfsd did not exit 0 when the front end went away (${code})`);
    return { seed, requests: sentCount, cycles, rssStartMiB: rssStart, rssEndMiB: rssEnd, fds: baselineFds };
  } finally {
    fe?.close();
    for (const r of rings) r.close();
    mem?.close();
    if (alive()) {
      child.kill('SIGKILL');
      await exited;
    }
    exp.remove();
  }
}
