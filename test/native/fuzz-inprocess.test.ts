// A short, bounded fuzz run for CI (the long one is scripts/fuzz.ts): random and mutated requests
// of every opcode into FuseServer with a real PassthroughFs on a tmpfs export. Fixed seeds, so a
// CI failure replays; VFSD_FUZZ_SEED adds one more. The harness itself is tested too: a server
// that loses an answer, answers twice or leaks an fd must make the run fail with seed and bytes.
import t from 'tap';
import * as fs from 'node:fs';
import { runInProcess, FuzzFailure } from '../fuzz/inprocess';
import type { MemoryChannel } from '../fuzz/memory-channel';
import type { RequestChannel } from '../../src/native/channel';
import { isRoot } from '../fuzz/export';
import { OP } from '../fuzz/requests';

const SEEDS = [1, 0xdecafbad];
if (process.env.VFSD_FUZZ_SEED) SEEDS.push(Number(process.env.VFSD_FUZZ_SEED));
// A fixed amount of work (not a time slice), so the assertions below never depend on how busy
// the machine is; the time limit only bounds a run that has gone wrong.
const REQUESTS = Number(process.env.VFSD_FUZZ_REQUESTS ?? 6000);
const SECONDS = Number(process.env.VFSD_FUZZ_SECONDS ?? 300);

const skip = !isRoot && 'needs root (the export is a tmpfs of its own, so a hostile FALLOCATE cannot fill the disk)';

for (const seed of SEEDS) {
  t.test(`in-process fuzz, seed ${seed}`, { skip }, async (t) => {
    t.comment(`seed ${seed}: replay with node dist/scripts/fuzz.js --mode inprocess --seed ${seed} --requests ${REQUESTS}`);
    const r = await runInProcess({ seed, requests: REQUESTS, seconds: SECONDS });
    t.ok(r.requests >= REQUESTS, `${r.requests} requests in ${r.cycles} cycles`);
    t.ok(r.cycles >= 3, 'several DESTROY cycles, each checked for fds, memory and the canary');
    const ok = (op: number) => r.answered[`${op}:ok`] ?? 0;
    // The mix reaches the real work, not only the error paths.
    t.ok(ok(OP.LOOKUP) > 0 && ok(OP.OPENDIR) > 0 && ok(OP.CREATE) > 0 && (r.answered[`${OP.READ}:read`] ?? 0) > 0 && (r.answered[`${OP.WRITE}:write`] ?? 0) > 0,
      `successes among the answers (lookup ${ok(OP.LOOKUP)}, create ${ok(OP.CREATE)}, read ${r.answered[`${OP.READ}:read`]})`);
  });
}

/** Passes everything through except what `tamper` changes. */
function wrap(ch: MemoryChannel, tamper: Partial<RequestChannel>): RequestChannel {
  return {
    get inbox() { return ch.inbox; },
    get table() { return ch.table; },
    start: (f) => ch.start(f),
    reply: (tok, b, l) => ch.reply(tok, b, l),
    replyError: (tok, e) => ch.replyError(tok, e),
    readInto: (tok, fd, s, o) => ch.readInto(tok, fd, s, o),
    writeFrom: (tok, fd, s, o, k) => ch.writeFrom(tok, fd, s, o, k),
    done: (tok) => ch.done(tok),
    close: () => ch.close(),
    ...tamper,
  };
}

t.test('the harness catches a broken server', { skip }, async (t) => {
  const expectFailure = async (name: string, tamper: (ch: MemoryChannel) => Partial<RequestChannel>, pattern: RegExp) => {
    const err = await runInProcess({ seed: 7, requests: 3000, wrapChannel: (ch) => wrap(ch, tamper(ch)) }).then(() => null, (e) => e);
    t.ok(err instanceof FuzzFailure, `${name}: the run fails`);
    t.match(String(err?.message), pattern, `${name}: says what`);
    t.match(String(err?.message), /seed 7/, `${name}: names the seed`);
  };
  const opOf = (ch: MemoryChannel, tok: number) => ch.requests.get(tok)?.bytes.readUInt32LE(4);
  await expectFailure('a lost error answer', (ch) => ({
    replyError: (tok, e) => (opOf(ch, tok) === OP.UNLINK ? 0 : ch.replyError(tok, e)),
  }), /no answer[\s\S]*request bytes \(\d+\): [0-9a-f]+/);
  await expectFailure('a second answer', (ch) => ({
    reply: (tok, b, l) => { ch.reply(tok, b, l); return opOf(ch, tok) === OP.GETATTR ? ch.replyError(tok, 5) : 0; },
  }), /answered 2 times/);
  await expectFailure('an answer to FORGET', (ch) => ({
    done: (tok) => (opOf(ch, tok) === OP.FORGET ? ch.replyError(tok, 22) : ch.done(tok)),
  }), /must get none/);
  await expectFailure('an invalid errno', (ch) => ({
    replyError: (tok, e) => ch.replyError(tok, opOf(ch, tok) === OP.RMDIR ? 100000 : e),
  }), /invalid errno 100000/);
  await expectFailure('a wrong payload size', (ch) => ({
    reply: (tok, b, l) => ch.reply(tok, b, opOf(ch, tok) === OP.STATFS ? l - 8 : l),
  }), /payload of 72 bytes/);
  const leaked: number[] = [];
  t.teardown(() => leaked.forEach((fd) => fs.closeSync(fd)));
  await expectFailure('an fd leak', (ch) => ({
    reply: (tok, b, l) => {
      if (opOf(ch, tok) === OP.OPENDIR) leaked.push(fs.openSync('/', 'r'));
      return ch.reply(tok, b, l);
    },
  }), /fd count after DESTROY is \d+, after INIT it was \d+/);
});
