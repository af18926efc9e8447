// Objects whose host path is 4096 bytes or longer (issue 11 item 5). The kernel renders an fd's
// path for /proc/self/fd readlink into one page, so the export-containment check cannot read
// such a path at all (ENAMETOOLONG); it used to answer ENOENT for everything 70 levels deep in a
// tree of 58-byte names. Through the mount and on the host, the same acts at the same depth
// (fds walked down level by level: no path string may be that long) must give the same results:
// lookup, create, link, rename, mkdir, readdir. And the check must still hold: the deep
// directories moved out of the export answer ENOENT, and again work once moved back.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { AT_FDCWD, C, sys } from '../../src/native/sys';
import { startVfsd, tempBase } from '../helpers/vfsd-process';
import { errnoName, getdents } from '../helpers/compare';

const root = process.geteuid?.() === 0;
const DEPTH = 80;
const PAGE = 4096;
const nameAt = (i: number) => `d${String(i).padStart(3, '0')}${'_'.repeat(54)}`; // 58 bytes

function must(r: number, what: string): number {
  if (r < 0) throw new Error(`${what}: ${errnoName(-r)}`);
  return r;
}

/** Opens the chain of directories below `top`: fds[i] is level i (fds[0] = top itself). */
function walk(top: string, depth: number): number[] {
  const fds = [must(sys.openat(AT_FDCWD, top, C.O_PATH | C.O_DIRECTORY, 0), top)];
  for (let i = 1; i <= depth; i++) fds.push(must(sys.openat(fds[i - 1], nameAt(i), C.O_PATH | C.O_DIRECTORY, 0), `level ${i} below ${top}`));
  return fds;
}

function closeAll(fds: number[]): void {
  for (const fd of fds) sys.close(fd);
}

/** Makes the chain, with two files at every level (host side). */
function makeTree(src: string): void {
  let fd = must(sys.openat(AT_FDCWD, src, C.O_PATH | C.O_DIRECTORY, 0), src);
  for (let i = 1; i <= DEPTH; i++) {
    must(sys.mkdirat(fd, nameAt(i), 0o755), `mkdir level ${i}`);
    const next = must(sys.openat(fd, nameAt(i), C.O_PATH | C.O_DIRECTORY, 0), `open level ${i}`);
    sys.close(fd);
    fd = next;
    const f = must(sys.openat(fd, 'leaf', C.O_CREAT | C.O_WRONLY, 0o644), `leaf at ${i}`);
    const text = Buffer.from(`leaf of level ${i}\n`);
    sys.pwrite(f, text, text.length, 0);
    sys.close(f);
    sys.close(must(sys.openat(fd, 'untouched', C.O_CREAT | C.O_WRONLY, 0o644), `untouched at ${i}`));
  }
  sys.close(fd);
}

/** The outcome of one act: a value or the errno's name. */
function act(r: number): string {
  return r < 0 ? errnoName(-r) : 'ok';
}

function readAt(dirfd: number, name: string): string {
  const fd = sys.openat(dirfd, name, C.O_RDONLY, 0);
  if (fd < 0) return errnoName(-fd);
  const b = Buffer.alloc(256);
  const n = sys.pread(fd, b, b.length, 0);
  sys.close(fd);
  return n < 0 ? errnoName(-n) : b.toString('utf8', 0, n);
}

function nlinkAt(dirfd: number, name: string): number | string {
  const out = Buffer.alloc(256);
  const r = sys.statx(dirfd, name, C.AT_SYMLINK_NOFOLLOW, C.STATX_BASIC_STATS, out);
  return r < 0 ? errnoName(-r) : out.readUInt32LE(16); // struct statx: stx_nlink at offset 16
}

/** The acts at one level, in the directories `a` (level i) and `b` (level i - 1); the outcomes. */
function acts(a: number, b: number, tag: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  out.lookup = nlinkAt(a, 'leaf');
  out.read = readAt(a, 'leaf');
  const f = sys.openat(a, `new-${tag}`, C.O_CREAT | C.O_EXCL | C.O_WRONLY, 0o644);
  out.create = act(f);
  if (f >= 0) {
    const text = Buffer.from(`made by ${tag}\n`);
    out.write = sys.pwrite(f, text, text.length, 0);
    sys.close(f);
  }
  out.link = act(sys.linkat(a, `new-${tag}`, a, `link-${tag}`, 0));
  out.nlink = nlinkAt(a, `new-${tag}`);
  out.rename = act(sys.renameat2(a, `link-${tag}`, b, `moved-${tag}`, 0));
  out.movedRead = readAt(b, `moved-${tag}`);
  out.mkdir = act(sys.mkdirat(a, `dir-${tag}`, 0o755));
  out.mkdirLookup = act(sys.statx(a, `dir-${tag}`, C.AT_SYMLINK_NOFOLLOW, C.STATX_BASIC_STATS, Buffer.alloc(256)));
  // readdir: /proc/self/fd/N of an O_PATH fd opens that very directory again (OPENDIR + READDIR).
  out.readdir = [...getdents(`/proc/self/fd/${a}`).keys()].sort();
  out.unlink = act(sys.unlinkat(b, `moved-${tag}`, 0));
  return out;
}

function hostPathLength(src: string, level: number): number {
  return path.resolve(src).length + level * (nameAt(1).length + 1);
}

for (const mode of ['auto', 'never', 'prefer']) {
  t.test(`host paths past ${PAGE} bytes work as on the host (--inode-file-handles ${mode})`, { skip: !root && 'needs root', timeout: 120000 }, async (t: Test) => {
    // Trees this deep are removed with rm (fs.rmSync walks by path: ENAMETOOLONG); the export is
    // made here, so that startVfsd does not remove it.
    const exportBase = tempBase();
    t.teardown(() => execFileSync('rm', ['-rf', exportBase]));
    const exportDir = path.join(exportBase, 'src');
    fs.mkdirSync(exportDir, { mode: 0o755 });
    makeTree(exportDir);
    const v = await startVfsd(t, { sharedDir: exportDir, args: [`--inode-file-handles=${mode}`] });
    const deepFrom = [...Array(DEPTH + 1).keys()].find((i) => hostPathLength(v.src, i) >= PAGE)!;
    t.ok(deepFrom > 0 && deepFrom < DEPTH - 4, `host paths are ${PAGE} bytes or more from level ${deepFrom} (of ${DEPTH})`);
    // Natively: the same acts in a copy of the tree whose path is as long (tempBase names have
    // one length), at the same depth.
    const nativeSrc = path.join(tempBase(), 'src');
    t.teardown(() => execFileSync('rm', ['-rf', path.dirname(nativeSrc)]));
    fs.mkdirSync(nativeSrc);
    makeTree(nativeSrc);
    t.equal(path.resolve(nativeSrc).length, path.resolve(v.src).length, 'the native copy has paths as long');
    const host = walk(nativeSrc, DEPTH);
    t.teardown(() => closeAll(host));
    let mnt: number[] = [];
    t.doesNotThrow(() => { mnt = walk(v.mnt, DEPTH); }, 'every level looks up through the mount');
    t.teardown(() => closeAll(mnt));
    if (mnt.length !== DEPTH + 1) return;
    for (const level of [deepFrom - 1, deepFrom, deepFrom + 1, DEPTH]) {
      const tag = `t${level}`;
      t.same(acts(mnt[level], mnt[level - 1], tag), acts(host[level], host[level - 1], tag), `level ${level} (${hostPathLength(v.src, level)} bytes of host path): same outcomes`);
    }
    const inExport = walk(v.src, DEPTH);
    t.teardown(() => closeAll(inExport));
    t.equal(readAt(inExport[DEPTH], `new-t${DEPTH}`), `made by t${DEPTH}\n`, 'what the mount created is in the export');

    // A deep directory moved out of the export: every new name in it answers ENOENT (it is gone
    // from the export), as does the listing. Moved back, it works again.
    sys.close(must(sys.openat(inExport[DEPTH], 'fresh', C.O_CREAT | C.O_WRONLY, 0o644), 'fresh'));
    const outside = path.join(v.base, 'outside');
    fs.renameSync(path.join(v.src, nameAt(1)), outside);
    t.equal(act(sys.openat(mnt[DEPTH], 'fresh', C.O_RDONLY, 0)), 'ENOENT', 'moved out: lookup of a name never looked up answers ENOENT');
    t.equal(act(sys.openat(mnt[DEPTH], 'made-outside', C.O_CREAT | C.O_WRONLY, 0o644)), 'ENOENT', 'moved out: create answers ENOENT');
    t.equal(act(sys.openat(mnt[DEPTH], '.', C.O_RDONLY | C.O_DIRECTORY, 0)), 'ENOENT', 'moved out: opendir answers ENOENT');
    t.notOk(fs.existsSync(path.join(outside, 'made-outside')), 'nothing was made outside');
    fs.renameSync(outside, path.join(v.src, nameAt(1)));
    const back = sys.openat(mnt[DEPTH], 'fresh', C.O_RDONLY, 0);
    t.equal(act(back), 'ok', 'moved back: the lookup works again');
    if (back >= 0) sys.close(back);
    t.equal(await v.stop(), 0, 'clean exit');
  });
}
