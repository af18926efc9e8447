// A getdents64 on the JS thread returns at most one page (dir-stream.ts INLINE_FILL), and a
// refill on the pool is judged by what an inline fill would have cost (pool-ops.ts refillOnPool).
// Why: a getdents64 costs CPU in proportion to what it returns (650 us for a 64 KiB fill of
// short names on tmpfs here), so whole-buffer fills of a large directory on a loaded host were
// judged slow (off-loop.ts) and sent the whole fast mount to the pool, where every 64 KiB fill
// took longer than FAST_US and so kept it there for good (seen in the guest readdir row: half
// of vfsd's CPU was getdents64 on the pool, after a thread hop per request).
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as P from '../../src/protocol';
import { C, sys } from '../../src/native/sys';
import { dirents, DirentState as S, DirentStop } from '../../src/native/dirents';
import { metaJobs, MetaOp } from '../../src/native/meta-jobs';
import { INLINE_FILL } from '../../src/passthrough/dir-stream';
import { openIn, readIn, releaseIn, req } from '../helpers/fuse-requests';
import { fhOf } from '../helpers/fuse-replies';
import { poolExport, poolServer } from '../helpers/pool-server';
import { waitFor } from '../helpers/wait';

const FILES = 3000; // 3000 records of 32 bytes: 96 KiB of getdents64 output, over the 64 KiB buffer

function makeDir(dir: string): string[] {
  const names: string[] = [];
  for (let i = 0; i < FILES; i++) names.push(`f${String(i).padStart(7, '0')}`);
  for (const n of names) fs.writeFileSync(path.join(dir, n), '');
  return names;
}

/** The names of a READDIR reply (struct fuse_dirent records) and the last entry's offset. */
function direntNames(data: Buffer): { names: string[]; lastOff: number } {
  const names: string[] = [];
  let p = 0;
  let lastOff = 0;
  while (p + 24 <= data.length) {
    lastOff = Number(data.readBigUInt64LE(p + 8));
    const len = data.readUInt32LE(p + 16);
    names.push(data.subarray(p + 24, p + 24 + len).toString());
    p += (24 + len + 7) & ~7;
  }
  return { names, lastOff };
}

t.test('the native encoder fills at most state[FILL_MAX] bytes per getdents64 (0: the whole buffer)', async (t) => {
  const dir = poolExport(t, 'vfsd-fill-native');
  const names = makeDir(dir);
  const listAll = (fillMax: number): { entries: number; maxFilled: number } => {
    const fd = sys.openat(-100, dir, C.O_RDONLY | C.O_DIRECTORY | C.O_CLOEXEC, 0);
    t.ok(fd >= 0, 'opened the directory');
    const buf = Buffer.alloc(64 * 1024);
    const out = Buffer.alloc(4096); // a call stops FULL with its fill still in buf: FILLED shows it
    const state = new Float64Array(S.LENGTH);
    state[S.FILL_MAX] = fillMax;
    let entries = 0;
    let maxFilled = 0;
    try {
      for (let calls = 0; calls < 1000; calls++) {
        state[S.OUT_POS] = 0;
        const n = dirents.direntsEncode(fd, buf, state, out, out.length, 0, 64);
        t.ok(n >= 0, 'the run succeeded');
        entries += n;
        maxFilled = Math.max(maxFilled, state[S.FILLED]);
        if (state[S.REASON] === DirentStop.END) break;
      }
    } finally {
      sys.close(fd);
    }
    return { entries, maxFilled };
  };
  const bounded = listAll(INLINE_FILL);
  t.equal(bounded.entries, names.length + 2, 'bounded fills: every entry, "." and ".." included');
  t.ok(bounded.maxFilled > 0 && bounded.maxFilled <= INLINE_FILL, `each fill at most ${INLINE_FILL} bytes (largest ${bounded.maxFilled})`);
  const whole = listAll(0);
  t.equal(whole.entries, names.length + 2, 'whole-buffer fills: every entry');
  t.ok(whole.maxFilled > INLINE_FILL, `FILL_MAX 0 fills the whole buffer (largest ${whole.maxFilled})`);
});

t.test('a pooled READDIR refill is judged by its time scaled to an inline fill', async (t) => {
  const dir = poolExport(t, 'vfsd-fill-pool');
  const names = makeDir(dir);
  const s = poolServer(t, dir);
  // What the worker measured for each getdents64, and what the mount's judgment was told.
  const raw: { n: number; micros: number }[] = [];
  const judged: number[] = [];
  const realJob = metaJobs.metaIntoJob;
  metaJobs.metaIntoJob = (op, fd, out, done) => realJob(op, fd, out, (r, stat, micros, ioFd) => {
    if (op === MetaOp.Getdents) raw.push({ n: r, micros });
    done(r, stat, micros, ioFd);
  });
  const realRan = s.pfs.offLoop.ranOnPool.bind(s.pfs.offLoop);
  s.pfs.offLoop.ranOnPool = (mnt, micros) => { judged.push(micros); realRan(mnt, micros); };
  t.teardown(() => { metaJobs.metaIntoJob = realJob; });

  const od = await s.later(null, req(P.Op.OPENDIR, 1, openIn(C.O_RDONLY)), 'OPENDIR');
  t.equal(od.errno, 0, 'OPENDIR');
  const fh = fhOf(od.data);
  const listed: string[] = [];
  let offset = 0;
  let bigRefills = 0;
  for (let i = 0; i < 1000; i++) {
    raw.length = 0;
    judged.length = 0;
    const p = s.ch.deliver([req(P.Op.READDIR, 1, readIn(fh, offset, 4096))])[0];
    // Served from the buffer when it holds entries; a refill (on the pool) first when it is empty.
    await waitFor(() => p.answers.length > 0, 'READDIR answer', 10000);
    const a = p.answers[0];
    t.ok(a.kind === 'reply' && a.error === 0, 'READDIR answered');
    if (a.kind !== 'reply') break;
    const { names: got, lastOff } = direntNames(a.payload);
    for (const [k, job] of raw.entries()) {
      const want = job.n > INLINE_FILL ? job.micros * INLINE_FILL / job.n : job.micros;
      if (job.n > INLINE_FILL) bigRefills++;
      t.equal(judged[k], want, `refill of ${job.n} bytes in ${job.micros} us judged as ${want} us`);
    }
    if (got.length === 0) break;
    listed.push(...got);
    offset = lastOff;
  }
  t.ok(bigRefills > 0, `the pool refilled more than ${INLINE_FILL} bytes at once (${bigRefills} times)`);
  t.same(listed.filter((n) => n !== '.' && n !== '..').sort(), names.slice().sort(), 'the listing is the host directory');
});

t.test('inline, READDIR, READDIRPLUS and a seek fill the stream one page at a time', async (t) => {
  const dir = poolExport(t, 'vfsd-fill-inline');
  const names = makeDir(dir);
  const s = poolServer(t, dir);
  s.pfs.offLoop.noPool(); // everything inline from here: the fills run on this thread
  // The stream's buffered bytes: what its last getdents64 returned (a private field, read here
  // because it is the fact under test).
  const filledOf = (fh: bigint): number => (s.pfs.handles.dir(Number(fh))!.stream as unknown as { filled: number }).filled;
  for (const [op, what] of [[P.Op.READDIR, 'READDIR'], [P.Op.READDIRPLUS, 'READDIRPLUS']] as const) {
    const od = s.ch.send(req(P.Op.OPENDIR, 1, openIn(C.O_RDONLY)))[0];
    t.equal(od.errno, 0, `OPENDIR for ${what}`);
    const fh = fhOf(od.data);
    let offset = 0;
    let listed = 0;
    let largest = 0;
    for (let i = 0; i < 2000; i++) {
      const a = s.ch.send(req(op, 1, readIn(fh, offset, 4096)))[0];
      if (a.errno !== 0 || a.data.length === 0) break;
      largest = Math.max(largest, filledOf(fh));
      listed++;
      if (op === P.Op.READDIRPLUS) break; // its records are fuse_direntplus: one reply is enough here
      offset = direntNames(a.data).lastOff;
    }
    t.ok(listed > 0, `${what} answered`);
    t.ok(largest > 0 && largest <= INLINE_FILL, `${what}: each fill at most ${INLINE_FILL} bytes (largest ${largest})`);
    s.ch.send(req(P.Op.RELEASEDIR, 1, releaseIn(fh)));
  }
  // A READDIR at an offset halfway into the listing: the seek reads forward through next().
  const od = s.ch.send(req(P.Op.OPENDIR, 1, openIn(C.O_RDONLY)))[0];
  const fh = fhOf(od.data);
  const a = s.ch.send(req(P.Op.READDIR, 1, readIn(fh, Math.floor(names.length / 2), 4096)))[0];
  t.equal(a.errno, 0, 'READDIR after a seek');
  t.ok(direntNames(a.data).names.length > 0, 'entries after the seek');
  t.ok(filledOf(fh) > 0 && filledOf(fh) <= INLINE_FILL, `the seek's fills at most ${INLINE_FILL} bytes (${filledOf(fh)})`);
});
