// The close that frees an unlinked file runs on a worker (src/passthrough/last-close.ts): the
// last fd of an unlinked file evicts it in the closing thread, which for a large file is the time
// the filesystem takes to free its blocks (360 ms for 2 GiB written on ext4 here), and on the JS
// thread every other request would wait for it. Checked in-process on a real directory: which
// close each FORGET and RELEASE makes (sys.close inline, or sys.closeFile(fd, true) on a worker),
// and that the pooled close does close (the fd goes, the space comes back).
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as P from '../../src/protocol';
import { C, sys } from '../../src/native/sys';
import { FREES_MUCH } from '../../src/passthrough/last-close';
import { forgetIn, name, openIn, releaseIn, req } from '../helpers/fuse-requests';
import { entryOf, fhOf } from '../helpers/fuse-replies';
import { poolExport, poolServer } from '../helpers/pool-server';
import { waitFor } from '../helpers/wait';
import type { BackingFiles } from '../../src/native/channel';

type Close = { fd: number; pooled: boolean };

const root = process.geteuid?.() === 0;
/** An fd budget small enough for a few dozen LOOKUPs to take the older fds back. */
const BUDGET = 8;

/** Records every close the engine makes through sys (restored at teardown). */
function recordCloses(t: Test): Close[] {
  const seen: Close[] = [];
  const realClose = sys.close, realCloseFile = sys.closeFile;
  sys.close = (fd) => { seen.push({ fd, pooled: false }); return realClose(fd); };
  sys.closeFile = (fd, onPool) => { seen.push({ fd, pooled: onPool }); return realCloseFile(fd, onPool); };
  t.teardown(() => { sys.close = realClose; sys.closeFile = realCloseFile; });
  return seen;
}

const fdOpen = (fd: number): boolean => fs.existsSync(`/proc/self/fd/${fd}`);

function writeFile(p: string, bytes: number): void {
  fs.writeFileSync(p, Buffer.alloc(bytes, 0x61));
}

t.test('FORGET: an unlinked large file is closed on a worker; small or linked ones inline', async (t) => {
  const dir = poolExport(t, 'vfsd-last-close');
  const s = poolServer(t, dir, {}, false, false);
  const cases = [
    { file: 'big-unlinked', bytes: 4 * FREES_MUCH, unlink: true, pooled: true },
    { file: 'small-unlinked', bytes: 4096, unlink: true, pooled: false },
    { file: 'big-linked', bytes: 4 * FREES_MUCH, unlink: false, pooled: false },
  ];
  for (const c of cases) writeFile(path.join(dir, c.file), c.bytes);
  const seen = recordCloses(t);
  for (const c of cases) {
    const e = s.ch.send(req(P.Op.LOOKUP, 1, name(c.file)))[0];
    t.equal(e.errno, 0, `LOOKUP ${c.file}`);
    const { nodeid } = entryOf(e.data);
    const fd = s.pfs.inodes.get(nodeid)!.fd;
    t.ok(fd >= 0, `${c.file}: the inode holds an fd`);
    if (c.unlink) t.equal(s.ch.send(req(P.Op.UNLINK, 1, name(c.file)))[0].errno, 0, `UNLINK ${c.file}`);
    seen.length = 0;
    s.ch.send(req(P.Op.FORGET, nodeid, forgetIn(1)));
    const mine = seen.filter((x) => x.fd === fd);
    t.same(mine, [{ fd, pooled: c.pooled }], `${c.file}: one close, ${c.pooled ? 'on a worker' : 'inline'}`);
    await waitFor(() => !fdOpen(fd), `${c.file}: its fd closed`, 10000);
  }
});

t.test('RELEASE: with no inode fd (file handles), the last close of an unlinked large file is pooled', async (t) => {
  const dir = poolExport(t, 'vfsd-last-close-rel');
  const s = poolServer(t, dir, { inodeFileHandles: 'mandatory' }, false, false);
  writeFile(path.join(dir, 'big'), 4 * FREES_MUCH);
  const e = s.ch.send(req(P.Op.LOOKUP, 1, name('big')))[0];
  t.equal(e.errno, 0, 'LOOKUP');
  const { nodeid } = entryOf(e.data);
  t.equal(s.pfs.inodes.get(nodeid)!.fd, -1, 'mandatory: the inode is a file handle, no fd');
  const o = s.ch.send(req(P.Op.OPEN, nodeid, openIn(C.O_RDONLY)))[0];
  t.equal(o.errno, 0, 'OPEN');
  const fh = fhOf(o.data);
  const fd = s.pfs.handles.file(Number(fh))!.fd;
  t.equal(s.ch.send(req(P.Op.UNLINK, 1, name('big')))[0].errno, 0, 'UNLINK while open');
  const before = fs.statfsSync(dir).bfree;
  const seen = recordCloses(t);
  s.ch.send(req(P.Op.RELEASE, nodeid, releaseIn(fh)));
  t.same(seen.filter((x) => x.fd === fd), [{ fd, pooled: true }], 'the handle fd is closed on a worker');
  await waitFor(() => !fdOpen(fd), 'the handle fd closed', 10000);
  await waitFor(() => fs.statfsSync(dir).bfree > before, 'the unlinked file\'s space given back', 10000);
  t.pass('space freed');
});

/** LOOKUPs `count` fresh files, so that an fd budget of fewer takes the older inodes' fds back. */
function crowd(t: Test, s: ReturnType<typeof poolServer>, dir: string, count: number): void {
  for (let i = 0; i < count; i++) {
    fs.writeFileSync(path.join(dir, `crowd${i}`), '');
    t.equal(s.ch.send(req(P.Op.LOOKUP, 1, name(`crowd${i}`)))[0].errno, 0, `LOOKUP crowd${i}`);
  }
}

t.test('the fd budget taking back an unlinked large file\'s fd closes it on a worker', { skip: !root && 'needs root (file handles)' }, async (t) => {
  const dir = poolExport(t, 'vfsd-last-close-budget');
  const s = poolServer(t, dir, { inodeFileHandles: 'auto', inodeFdBudget: BUDGET }, false, false);
  writeFile(path.join(dir, 'big'), 4 * FREES_MUCH);
  const e = s.ch.send(req(P.Op.LOOKUP, 1, name('big')))[0];
  t.equal(e.errno, 0, 'LOOKUP big');
  const inode = s.pfs.inodes.get(entryOf(e.data).nodeid)!;
  const fd = inode.fd;
  t.ok(fd >= 0, 'the inode holds an fd');
  t.equal(s.ch.send(req(P.Op.UNLINK, 1, name('big')))[0].errno, 0, 'UNLINK (the client has not forgotten it yet)');
  const before = fs.statfsSync(dir).bfree;
  const seen = recordCloses(t);
  crowd(t, s, dir, 4 * BUDGET);
  t.equal(inode.fd, -1, 'the budget took the fd back');
  // Its first close only: the number is reused by the crowd's fds once it is free.
  t.same(seen.find((x) => x.fd === fd), { fd, pooled: true }, 'closed on a worker');
  await waitFor(() => fs.statfsSync(dir).bfree > before, 'the unlinked file\'s space given back', 10000);
  t.pass('space freed');
});

/** A BackingFiles that registers nothing and records how each id is given up. */
function recordBacking(): { backing: BackingFiles; closed: Array<{ id: number; onPool: boolean }> } {
  const closed: Array<{ id: number; onPool: boolean }> = [];
  let next = 1;
  return { closed, backing: { open: () => next++, close: (id, onPool) => { closed.push({ id, onPool: onPool === true }); } } };
}

t.test('FORGET: a kept backing id goes on a worker only when the inode holds no fd of its own', { skip: !root && 'needs root (file handles)' }, async (t) => {
  const dir = poolExport(t, 'vfsd-last-close-backing');
  const s = poolServer(t, dir, { inodeFileHandles: 'auto', inodeFdBudget: BUDGET }, false, false);
  const rec = recordBacking();
  s.pfs.init({ submounts: false, posixAcl: false, writeback: false, backing: rec.backing });
  for (const c of [{ file: 'held', crowded: false }, { file: 'taken-back', crowded: true }]) {
    writeFile(path.join(dir, c.file), 4096);
    const e = s.ch.send(req(P.Op.LOOKUP, 1, name(c.file)))[0];
    t.equal(e.errno, 0, `LOOKUP ${c.file}`);
    const { nodeid } = entryOf(e.data);
    const o = s.ch.send(req(P.Op.OPEN, nodeid, openIn(C.O_RDONLY)))[0];
    t.equal(o.errno, 0, `OPEN ${c.file}`);
    t.equal(s.ch.send(req(P.Op.RELEASE, nodeid, releaseIn(fhOf(o.data))))[0].errno, 0, `RELEASE ${c.file}: its id kept`);
    if (c.crowded) crowd(t, s, dir, 4 * BUDGET);
    t.equal(s.pfs.inodes.get(nodeid)!.fd < 0, c.crowded, `${c.file}: ${c.crowded ? 'no' : 'its'} inode fd`);
    rec.closed.length = 0;
    s.ch.send(req(P.Op.FORGET, nodeid, forgetIn(1)));
    t.same(rec.closed.map((x) => x.onPool), [c.crowded], `${c.file}: the id given up ${c.crowded ? 'on a worker' : 'inline'}`);
  }
});
