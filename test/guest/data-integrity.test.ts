// File data and file operations in a real guest: files of many sizes (up to 24 MiB) written with
// pwrite, through a shared mapping and through pipes, read back after dropping the page cache;
// host-written files read with read(2) and mmap; append, truncate, rename, hard and symbolic links,
// xattrs, many directory entries. The guest checks what it reads; the host then checks every
// write from its side (sha256 of the file on the host, inode numbers, link targets, xattrs).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { eachServerOnShare, type ExpectedFailures, guestScript } from '../helpers/acceptance';
import { genBytes, type GuestCheck, runSession, sha256, sha256File } from '../helpers/guest';

const expected: ExpectedFailures = {};

const MiB = 1024 * 1024;
const GUEST_WRITES = [0, 1, 4095, 4096, 4097, 65537, MiB + 3, 24 * MiB + 1];
const MMAP_WRITES = [4096, MiB + 3, 8 * MiB + 3];
const HOST_FILES = [0, 1, 4097, MiB, 16 * MiB + 5];
const PIPE_SIZE = 3000001;
const PIPE_SEED = 99;

function getXattr(file: string, name: string): string | null {
  const r = spawnSync('getfattr', ['--only-values', '-n', name, file], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : null;
}

function hostChecks(share: string): GuestCheck[] {
  const out: GuestCheck[] = [];
  const g = (p: string) => path.join(share, 'guest', p);
  const expect = (name: string, want: unknown, got: unknown) =>
    out.push({ name: `data/host-view/${name}`, ok: want === got, detail: want === got ? '' : `expected ${String(want)} got ${String(got)}` });
  const shaOr = (p: string) => (fs.existsSync(p) ? sha256File(p) : 'missing');
  for (const sz of GUEST_WRITES) expect(`write-${sz}`, sha256(genBytes(sz, sz + 1)), shaOr(g(`w_${sz}`)));
  for (const sz of MMAP_WRITES) expect(`mmap-write-${sz}`, sha256(genBytes(sz, sz + 2)), shaOr(g(`mm_${sz}`)));
  const pipeSha = sha256(genBytes(PIPE_SIZE, PIPE_SEED));
  for (const f of ['piped', 'copied', 'dd']) expect(`stream-${f}`, pipeSha, shaOr(g(f)));
  const ap = fs.existsSync(g('ap')) ? fs.readFileSync(g('ap')) : Buffer.alloc(0);
  expect('truncate', 'ab+99998 zeros', `${ap.subarray(0, 2).toString()}+${ap.subarray(2).filter((b) => b === 0).length} zeros`);
  expect('rename-source-gone', false, fs.existsSync(g('r_a')) || fs.existsSync(g('r_c')));
  expect('rename-replace', 'replaced\n', fs.existsSync(g('r_b')) ? fs.readFileSync(g('r_b'), 'utf8') : 'missing');
  expect('rename-dir', 'moved\n', fs.existsSync(g('rd2/moved/inner/f')) ? fs.readFileSync(g('rd2/moved/inner/f'), 'utf8') : 'missing');
  expect('rename-dir-source-gone', false, fs.existsSync(g('rd1')));
  const h1 = fs.existsSync(g('h1')) ? fs.lstatSync(g('h1')) : undefined;
  const h2 = fs.existsSync(g('h2')) ? fs.lstatSync(g('h2')) : undefined;
  expect('hardlink', 'same inode, nlink 2', h1 && h2 && h1.ino === h2.ino ? `same inode, nlink ${h1.nlink}` : 'two inodes');
  expect('hardlink-data', 'linked\nmore\n', fs.existsSync(g('h1')) ? fs.readFileSync(g('h1'), 'utf8') : 'missing');
  const hl1 = path.join(share, 'host', 'hl1');
  expect('host-hardlink-unlinked', 'nlink 1, hl2 gone', `nlink ${fs.lstatSync(hl1).nlink}, hl2 ${fs.existsSync(path.join(share, 'host', 'hl2')) ? 'present' : 'gone'}`);
  const link = (p: string) => (fs.existsSync(p) || fs.lstatSync(p, { throwIfNoEntry: false }) ? fs.readlinkSync(p) : 'missing');
  expect('symlink-rel', 'w_4096', link(g('sl_rel')));
  expect('symlink-abs', '/nonexistent/target', link(g('sl_abs')));
  expect('xattr-set', 'guest-value', getXattr(g('xa'), 'user.vfsd.guest'));
  expect('xattr-set-dir', 'dir-value', getXattr(path.join(share, 'guest'), 'user.vfsd.dir'));
  expect('xattr-removed', null, getXattr(path.join(share, 'host', 'xa'), 'user.vfsd.host'));
  expect('unlink-many', 89, fs.existsSync(g('many')) ? fs.readdirSync(g('many')).length : -1);
  return out;
}

function prepareShare(share: string): string {
  const h = (p: string) => path.join(share, 'host', p);
  fs.mkdirSync(h(''), { recursive: true });
  const hf: string[] = [];
  for (const sz of HOST_FILES) {
    const data = genBytes(sz, sz + 3);
    fs.writeFileSync(h(`h_${sz}`), data);
    hf.push(`h_${sz}:${sha256(data)}`);
  }
  fs.writeFileSync(h('hl1'), 'host link\n');
  fs.linkSync(h('hl1'), h('hl2'));
  fs.symlinkSync('h_4097', h('sl'));
  fs.writeFileSync(h('xa'), 'x\n');
  const r = spawnSync('setfattr', ['-n', 'user.vfsd.host', '-v', 'host-value', h('xa')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`setfattr failed (package attr): ${r.stderr}`);
  const entries = (sizes: number[], off: number) => sizes.map((sz) => `${sz}:${sz + off}:${sha256(genBytes(sz, sz + off))}`).join(' ');
  return [
    `GW='${entries(GUEST_WRITES, 1)}'`,
    `MM='${entries(MMAP_WRITES, 2)}'`,
    `HF='${hf.join(' ')}'`,
    `PIPE_SHA=${sha256(genBytes(PIPE_SIZE, PIPE_SEED))}`,
    'XATTR=1',
    '',
  ].join('\n');
}

eachServerOnShare(t, 'data integrity and file operations', 'data-integrity', expected, async (_server, launcher, share) => {
  const header = prepareShare(share);
  const { run, serverLog } = await runSession({
    launcher,
    server: { sharedDir: share, announceSubmounts: true, xattr: true },
    boot: { tag: 'vfsd', script: header + guestScript('data-integrity.sh'), timeoutMs: 400_000 },
  });
  return { checks: [...run.results, ...hostChecks(share)], run, serverLog };
});
