// READ and WRITE bytes that never pass through JS: readInto (pread into the reply) and writeFrom
// (pwrite from the inbox), checked byte for byte on real files through a real mount, with the
// kernel's own clients (cat, dd) in child processes.
import t from 'tap';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FuseDevTransport } from '../../src/transport/fuse-dev';
import {
  OP, attr, initFlags2, lookupName, replyInit, replyAttr, replyEntry, replyOk, replyOpen, run, serve, tempDir,
  type Request,
} from '../fixtures/stub-engine';
import type { RequestChannel } from '../../src/native/channel';
import { isMounted } from '../helpers/mountinfo';
import { waitFor } from '../helpers/wait';
import { workerPool } from '../../src/native/worker-pool';

const root = process.geteuid?.() === 0;
const FILE_NODE = 2;

interface OneFileFs {
  transport: FuseDevTransport;
  mnt: string;
  seen: number[];
  results: number[];
}

/** Mounts a file system holding one regular file, "file", backed by realPath (opened
 *  read-write); READ goes through readInto, WRITE through writeFrom with the given killPriv. */
function mountOneFile(t: { teardown(fn: () => void): void }, realPath: string, killPriv = false,
                      overrides: Partial<Record<number, (req: Request, ch: RequestChannel, fd: number) => void>> = {}): OneFileFs {
  const base = tempDir();
  const mnt = path.join(base, 'mnt');
  fs.mkdirSync(mnt);
  const fd = fs.openSync(realPath, 'r+');
  const transport = FuseDevTransport.mount(mnt, { fsname: 'vfsd-data', subtype: 'vfsdtest' });
  t.teardown(() => {
    if (isMounted(mnt)) {
      try { transport.unmount(); } catch { /* the test reports its own failures */ }
    }
    transport.close();
    fs.closeSync(fd);
    fs.rmSync(base, { recursive: true, force: true });
  });
  // The mode the kernel sees is plain 0644: suid/sgid handling is the backing file's business.
  const fileAttr = (): Buffer => attr({ ino: FILE_NODE, mode: 0o100644, size: fs.fstatSync(fd).size });
  const seen: number[] = [];
  const results: number[] = [];
  const record = (r: number): void => { results.push(r); };
  serve(transport, {
    [OP.LOOKUP]: (req: Request, ch: RequestChannel) => {
      if (req.nodeid === 1n && lookupName(req) === 'file') record(replyEntry(ch, req.token, FILE_NODE, fileAttr()));
      else ch.replyError(req.token, 2 /* ENOENT */);
    },
    [OP.GETATTR]: (req, ch) => {
      if (req.nodeid === 1n) record(replyAttr(ch, req.token, attr({ ino: 1, mode: 0o40755, nlink: 2 })));
      else record(replyAttr(ch, req.token, fileAttr()));
    },
    [OP.OPEN]: (req, ch) => record(replyOpen(ch, req.token, 7)),
    [OP.READ]: (req, ch) => {
      // fuse_read_in: fh u64, offset u64, size u32
      const offset = Number(req.body.readBigUInt64LE(8));
      const size = req.body.readUInt32LE(16);
      record(ch.readInto(req.token, fd, size, offset));
    },
    [OP.WRITE]: (req, ch) => {
      // fuse_write_in: fh u64, offset u64, size u32
      const offset = Number(req.body.readBigUInt64LE(8));
      const size = req.body.readUInt32LE(16);
      record(ch.writeFrom(req.token, fd, size, offset, killPriv));
    },
    [OP.FLUSH]: (req, ch) => record(replyOk(ch, req.token)),
    [OP.RELEASE]: (req, ch) => record(replyOk(ch, req.token)),
    ...Object.fromEntries(Object.entries(overrides).map(([op, h]) =>
      [op, (req: Request, ch: RequestChannel) => h!(req, ch, fd)])),
  }, seen);
  return { transport, mnt, seen, results };
}

/** A temp dir removed with the test, and the path of the backing file in it. */
function scratch(t: { teardown(fn: () => void): void }): { dir: string; real: string } {
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { dir, real: path.join(dir, 'real') };
}

t.test('READ via readInto: cat gives the backing file byte for byte', { skip: !root && 'needs root' }, async (t) => {
  const { dir, real } = scratch(t);
  const content = crypto.randomBytes(300_001);  // several READs, the last one short
  fs.writeFileSync(real, content);
  const { mnt, seen, results } = mountOneFile(t, real);

  const cat = await run('cat', [path.join(mnt, 'file')]);
  t.equal(cat.code, 0, `cat succeeds ${cat.stderr}`);
  t.equal(cat.stdout.length, content.length, 'as many bytes as the file has');
  t.ok(cat.stdout.equals(content), 'the exact bytes');
  t.ok(seen.filter((op) => op === OP.READ).length >= 2, 'served by several READs');
  t.same(results.filter((r) => r !== 0), [], 'every answer was accepted by the kernel');
});

t.test('READ of a file that fails: the error reaches the reader', { skip: !root && 'needs root' }, async (t) => {
  const { dir, real } = scratch(t);
  fs.writeFileSync(real, 'x'.repeat(100));
  const { transport, mnt } = mountOneFile(t, real);
  // Route READ to a directory fd: pread gives EISDIR, which must come back as the answer.
  const dirFd = fs.openSync(dir, 'r');
  t.teardown(() => fs.closeSync(dirFd));
  const results: number[] = [];
  const orig = transport.readInto.bind(transport);
  transport.readInto = (token, _fd, size, offset) => { const r = orig(token, dirFd, size, offset); results.push(r); return r; };
  const cat = await run('cat', [path.join(mnt, 'file')]);
  t.not(cat.code, 0, 'cat fails');
  t.match(cat.stderr, /Is a directory/, 'with the pread error (EISDIR)');
  t.ok(results.length > 0 && results.every((r) => r === 0), 'readInto reports the answer as delivered');
});

t.test('WRITE via writeFrom: dd lands in the backing file byte for byte', { skip: !root && 'needs root' }, async (t) => {
  const { dir, real } = scratch(t);
  const src = path.join(dir, 'src');
  const original = crypto.randomBytes(10_000);
  const data = crypto.randomBytes(200_003);  // more than one 128 KiB WRITE, odd tail
  fs.writeFileSync(real, original);
  fs.writeFileSync(src, data);
  const { mnt, seen, results } = mountOneFile(t, real);

  // notrunc: no SETATTR; seek=1 with bs=4096 puts the data at offset 4096.
  const dd = await run('dd', [`if=${src}`, `of=${path.join(mnt, 'file')}`, 'bs=4096', 'seek=1', 'conv=notrunc', 'status=none']);
  t.equal(dd.code, 0, `dd succeeds ${dd.stderr}`);
  const expected = Buffer.concat([original.subarray(0, 4096), data]);
  const got = fs.readFileSync(real);
  t.equal(got.length, expected.length, 'the file grew to offset + data');
  t.ok(got.equals(expected), 'the bytes before are untouched and the written ones exact');
  t.ok(seen.includes(OP.WRITE), 'served by WRITE requests');
  t.same(results.filter((r) => r !== 0), [], 'every answer was accepted by the kernel');
});

// The backing file is setgid, group-executable, in a group the server (root) is not in: a write
// keeps the bit only thanks to CAP_FSETID. killPriv drops it for the write, so the kernel clears it.
for (const killPriv of [false, true]) {
  t.test(`writeFrom killPriv=${killPriv}: setgid ${killPriv ? 'cleared' : 'kept'}`, { skip: !root && 'needs root' }, async (t) => {
    const { dir, real } = scratch(t);
    fs.writeFileSync(real, 'hello');
    fs.chownSync(real, 0, 65534);
    fs.chmodSync(real, 0o2775);
    t.equal(fs.statSync(real).mode & 0o7777, 0o2775, 'the backing file starts setgid');
    const { mnt, results } = mountOneFile(t, real, killPriv);

    const dd = await run('dd', ['if=/dev/zero', `of=${path.join(mnt, 'file')}`, 'bs=3', 'count=1', 'conv=notrunc', 'status=none']);
    t.equal(dd.code, 0, `dd succeeds ${dd.stderr}`);
    t.equal(fs.readFileSync(real).toString('latin1'), '\0\0\0lo', 'the write landed');
    t.equal(fs.statSync(real).mode & 0o7777, killPriv ? 0o775 : 0o2775, `setgid ${killPriv ? 'cleared' : 'kept'}`);
    t.same(results.filter((r) => r !== 0), [], 'every answer was accepted by the kernel');
  });
}

t.test('a WRITE answered after its batch still writes its own bytes', { skip: !root && 'needs root' }, async (t) => {
  const { dir, real } = scratch(t);
  const src = path.join(dir, 'src');
  const data = crypto.randomBytes(4096);
  fs.writeFileSync(real, '');
  fs.writeFileSync(src, data);
  // The WRITE is held back; a later LOOKUP with a long name is read over the same inbox bytes,
  // and only then is the WRITE answered: its data must have been kept aside.
  const longName = 'n'.repeat(250);
  let held: { token: number; size: number; offset: number } | undefined;
  let writeHeld!: () => void;
  const heldPromise = new Promise<void>((resolve) => { writeHeld = resolve; });
  const answered: number[] = [];
  const { mnt } = mountOneFile(t, real, false, {
    [OP.WRITE]: (req) => {
      held = { token: req.token, offset: Number(req.body.readBigUInt64LE(8)), size: req.body.readUInt32LE(16) };
      writeHeld();
    },
    [OP.LOOKUP]: (req, ch, fd) => {
      const name = lookupName(req);
      if (name === 'file') { replyEntry(ch, req.token, FILE_NODE, attr({ ino: FILE_NODE, mode: 0o100644, size: fs.fstatSync(fd).size })); return; }
      ch.replyError(req.token, 2);
      if (name === longName && held) answered.push(ch.writeFrom(held.token, fd, held.size, held.offset, false));
    },
  });
  const dd = run('dd', [`if=${src}`, `of=${path.join(mnt, 'file')}`, 'bs=4096', 'conv=notrunc', 'status=none']);
  await heldPromise;
  const st = await run('stat', [path.join(mnt, longName)]);
  t.not(st.code, 0, 'the long-name LOOKUP was answered ENOENT');
  const ddResult = await dd;
  t.equal(ddResult.code, 0, `dd succeeds ${ddResult.stderr}`);
  t.same(answered, [0], 'the held WRITE was answered after the LOOKUP');
  t.ok(fs.readFileSync(real).equals(data), 'with its own bytes, not the LOOKUP that reused the inbox');
});

// FUSE passthrough (7.40): with FUSE_PASSTHROUGH negotiated, backingOpen registers the real file,
// OPEN answers FOPEN_PASSTHROUGH with the id, and reads bypass us entirely.
const FUSE_INIT_EXT = 1 << 30;
const FUSE_PASSTHROUGH_FLAGS2 = 1 << 5;  // FUSE_PASSTHROUGH is bit 37
const FOPEN_PASSTHROUGH = 1 << 7;

t.test('backingOpen/backingClose: passthrough reads never reach the server', { skip: !root && 'needs root' }, async (t) => {
  const { dir, real } = scratch(t);
  const content = crypto.randomBytes(100_000);
  fs.writeFileSync(real, content);
  let offered = true;
  const ids: number[] = [];
  const { transport, mnt, seen } = mountOneFile(t, real, false, {
    [OP.INIT]: (req, ch) => {
      offered = (initFlags2(req) & FUSE_PASSTHROUGH_FLAGS2) !== 0;
      replyInit(ch, req, 128 * 1024, offered
        ? { minor: 40, flags: FUSE_INIT_EXT, flags2: FUSE_PASSTHROUGH_FLAGS2, maxStackDepth: 1 }
        : {});
    },
    [OP.OPEN]: (req, ch, fd) => {
      const id = transport.backingOpen(fd);
      ids.push(id);
      if (id > 0) replyOpen(ch, req.token, 7, FOPEN_PASSTHROUGH, id);
      else ch.replyError(req.token, -id || 5);
    },
    [OP.RELEASE]: (req, ch) => {
      replyOk(ch, req.token);
      for (const id of ids.splice(0)) t.equal(transport.backingClose(id), 0, 'backingClose after RELEASE: 0');
    },
  });
  const cat = await run('cat', [path.join(mnt, 'file')]);
  if (!offered) {
    t.fail('this kernel does not offer FUSE_PASSTHROUGH (needs >= 6.9 with CONFIG_FUSE_PASSTHROUGH)');
    return;
  }
  t.equal(cat.code, 0, `cat succeeds ${cat.stderr}`);
  t.ok(cat.stdout.equals(content), 'the exact bytes');
  t.notOk(seen.includes(OP.READ), 'no READ reached the server: the kernel read the backing file');
  t.equal(transport.backingClose(12345), -2 /* ENOENT */, 'closing an unknown backing id: -ENOENT');

  // backingClose(id, true): the backing file may be the last reference to an unlinked file, whose
  // eviction (freeing its blocks) the kernel runs in the closing thread: so on a worker.
  t.equal(workerPool.startWorkerPool(2), 0, 'pool started');
  const big = path.join(dir, 'unlinked-big');
  fs.writeFileSync(big, Buffer.alloc(8 << 20, 0x62));
  const bigFd = fs.openSync(big, 'r');
  const id = transport.backingOpen(bigFd);
  t.ok(id > 0, `backingOpen of the big file: ${id}`);
  fs.closeSync(bigFd);
  fs.unlinkSync(big);
  const before = fs.statfsSync(dir).bfree;
  const jobs = workerPool.workerPoolStats()[1];
  t.equal(transport.backingClose(id, true), 0, 'backingClose(id, onPool): 0 at once');
  // A job's count drops only when the loop thread completes it, after this synchronous check.
  t.equal(workerPool.workerPoolStats()[1], jobs + 1, 'the ioctl went to a worker');
  await waitFor(() => fs.statfsSync(dir).bfree > before, 'the unlinked file\'s space given back', 10000);
  t.equal(transport.backingClose(id), -2 /* ENOENT */, 'the id is gone');
});
