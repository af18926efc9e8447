// The escape suite, in-process part: requests straight into the engine (FuseServer +
// PassthroughFs), including ones a kernel client would never send, against an export next to
// base/outside, whose files (a canary among them) must never be read, written, linked or joined
// by new files. Each test compares a stat snapshot of base/outside (atimes set older than mtimes,
// so a read shows) before and after. The real-mount part is escape-mount.test.ts.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { EscapeEnv, Client, CANARY_TEXT } from '../fuzz/escape-env';
import { OP } from '../fuzz/requests';
import { isRoot } from '../fuzz/export';

const S_IFMT = 0o170000, S_IFLNK = 0o120000, S_IFDIR = 0o040000;
const E = { ENOENT: 2, EIO: 5, EACCES: 13, EEXIST: 17, ENOTDIR: 20, EINVAL: 22, ELOOP: 40 };

function setup(t: { teardown(f: () => void): void }, config = {}) {
  const env = new EscapeEnv();
  t.teardown(() => env.remove());
  const c = new Client(env.export, config);
  t.teardown(() => c.close());
  return { env, c };
}

t.test('symlinks pointing out of the export are served as symlinks, never followed', async (t) => {
  const { env, c } = setup(t);
  fs.symlinkSync(env.canary, path.join(env.export, 'abs'));
  fs.symlinkSync('../outside/canary', path.join(env.export, 'rel'));
  fs.symlinkSync('../../../../../../..' + env.outside, path.join(env.export, 'dotdots'));
  fs.symlinkSync('/proc/self/root' + env.outside, path.join(env.export, 'procroot'));
  fs.symlinkSync('/proc/self/fd/' + c.fs.root.fd, path.join(env.export, 'procfd'));
  fs.symlinkSync('/proc/self/cwd', path.join(env.export, 'proccwd'));
  env.seal();
  for (const name of ['abs', 'rel', 'dotdots', 'procroot', 'procfd', 'proccwd']) {
    const l = c.lookup(1n, name);
    t.equal(l.errno, 0, `${name}: LOOKUP answers`);
    t.equal(l.mode & S_IFMT, S_IFLNK, `${name}: as the symlink itself`);
    const rl = c.call(OP.READLINK, l.nodeid, Buffer.alloc(0));
    t.equal(rl.payload.toString(), fs.readlinkSync(path.join(env.export, name)), `${name}: READLINK gives the target text, for the client to resolve`);
    t.not(c.readFile(l.nodeid).errno, 0, `${name}: OPEN of the symlink node is refused`);
    for (const child of ['canary', 'dir', 'secret', '..']) {
      t.not(c.lookup(l.nodeid, child).errno, 0, `${name}: LOOKUP of ${child} below it fails`);
    }
    const dot = c.lookup(l.nodeid, '.');
    t.ok(dot.errno !== 0 || dot.nodeid === l.nodeid, `${name}: LOOKUP of "." below it is the symlink node itself at most`);
    t.not(c.create(l.nodeid, 'new').errno, 0, `${name}: CREATE below it fails`);
    t.not(c.mkdir(l.nodeid, 'newdir').errno, 0, `${name}: MKDIR below it fails`);
    t.not(c.opendir(l.nodeid).errno, 0, `${name}: OPENDIR of it fails`);
    // CREATE of the symlink's own name, without O_EXCL: must not follow it to the target.
    t.equal(c.create(1n, name, 0o101).errno, E.ELOOP, `${name}: CREATE over it is ELOOP (O_NOFOLLOW)`);
    t.equal(c.create(1n, name, 0o1101).errno, E.ELOOP, `${name}: with O_TRUNC too`);
    // The symlink node is only a symlink: LINK makes another link to the symlink, not the target.
    t.equal(c.link(l.nodeid, 1n, `${name}-hl`).errno, 0, `${name}: LINK of the node links the symlink`);
    t.ok(fs.lstatSync(path.join(env.export, `${name}-hl`)).isSymbolicLink(), `${name}: the new name is a symlink`);
  }
  t.equal(env.outsideChanges(), '', 'nothing outside the export was read, written or created');
});

t.test('names that walk: "/", "..", NUL, over-long; ".." never leaves the export', async (t) => {
  const { env, c } = setup(t);
  fs.mkdirSync(path.join(env.export, 'a', 'b', 'c'), { recursive: true });
  env.seal();
  for (const name of ['../outside/canary', '/etc/passwd', 'a/../../outside', '../', '..//', 'x'.repeat(256), 'x'.repeat(300), '']) {
    const n = Buffer.from(name, 'latin1');
    t.not(c.lookup(1n, n).errno, 0, `LOOKUP ${JSON.stringify(name.slice(0, 20))} refused`);
    t.not(c.create(1n, name).errno, 0, `CREATE ${JSON.stringify(name.slice(0, 20))} refused`);
  }
  // A name ends at its first NUL (the protocol's terminator): what follows is never used.
  t.equal(c.lookup(1n, Buffer.from('..\0/../outside', 'latin1')).nodeid, 1n, '"..\\0/../outside" is ".." (the root), nothing more');
  t.equal(c.lookup(1n, Buffer.from('a\0/../../outside', 'latin1')).ino, BigInt(fs.statSync(path.join(env.export, 'a')).ino), '"a\\0/../.." is "a"');
  const root = c.lookup(1n, '..');
  t.equal(root.nodeid, 1n, '".." of the root is the root');
  let node = 1n;
  for (const n of ['a', 'b', 'c']) node = c.lookup(node, n).nodeid;
  for (let i = 0; i < 10; i++) {
    const up = c.lookup(node, '..');
    t.equal(up.errno, 0, `".." #${i + 1} answers`);
    node = up.nodeid;
  }
  t.equal(node, 1n, 'a chain of ".." from a/b/c ends at the export root and stays there');
  t.equal(c.lookup(node, 'outside').errno, E.ENOENT, 'and the root has no "outside" below it');
  t.equal(env.outsideChanges(), '', 'nothing outside the export was touched');
});

t.test('a directory the host moves out of the export after the client looked it up', async (t) => {
  const { env, c } = setup(t);
  const inside = path.join(env.export, 'moving');
  fs.mkdirSync(path.join(inside, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(inside, 'mine'), 'inside\n');
  const d = c.lookup(1n, 'moving');
  const sub = c.lookup(d.nodeid, 'sub');
  t.equal(d.mode & S_IFMT, S_IFDIR, 'looked up while inside');
  // The host moves it next to base/outside (outside the export) and adds a file there.
  const moved = path.join(env.outside, 'moved');
  fs.renameSync(inside, moved);
  fs.writeFileSync(path.join(moved, 'secret'), CANARY_TEXT);
  env.seal();

  t.not(c.lookup(d.nodeid, 'secret').errno, 0, 'LOOKUP of a file in it (now outside) is refused');
  t.not(c.lookup(d.nodeid, 'mine').errno, 0, 'even of the names it had while inside');
  t.not(c.lookup(d.nodeid, '..').errno, 0, '".." of it (the outside directory) is refused');
  t.not(c.lookup(sub.nodeid, '..').errno, 0, '".." of its subdirectory (now outside too) is refused');
  t.not(c.create(d.nodeid, 'created').errno, 0, 'CREATE in it is refused');
  t.not(c.mkdir(d.nodeid, 'made').errno, 0, 'MKDIR in it is refused');
  t.not(c.mknod(d.nodeid, 'node', 0o100644).errno, 0, 'MKNOD in it is refused');
  t.not(c.symlink(d.nodeid, 'sl', 'x').errno, 0, 'SYMLINK in it is refused');
  const a = c.lookup(1n, 'x-a');
  t.equal(a.errno, E.ENOENT);
  fs.writeFileSync(path.join(env.export, 'x-a'), 'a');
  t.not(c.link(c.lookup(1n, 'x-a').nodeid, d.nodeid, 'linked').errno, 0, 'LINK into it is refused');
  t.not(c.unlink(d.nodeid, 'secret').errno, 0, 'UNLINK in it is refused');
  t.not(c.rename(d.nodeid, 'secret', 1n, 'stolen').errno, 0, 'RENAME out of it into the export is refused');
  t.not(c.rename(1n, 'x-a', d.nodeid, 'planted').errno, 0, 'RENAME from the export into it is refused');
  t.not(c.opendir(d.nodeid).errno, 0, 'OPENDIR of it is refused (its names are outside)');
  t.notOk(fs.existsSync(path.join(env.export, 'stolen')), 'nothing was moved into the export');
  t.equal(env.outsideChanges(), '', 'nothing outside the export was read, written or created');

  // Moved back in: served again (the refusal follows where the directory is, not a flag).
  fs.renameSync(moved, path.join(env.export, 'back'));
  t.equal(c.lookup(d.nodeid, 'mine').errno, 0, 'once back inside the export, its names are served again');
});

t.test('a directory swapped for a symlink (host side, in a loop) while the client looks up, opens and creates', { skip: process.platform !== 'linux' }, async (t) => {
  const { env, c } = setup(t);
  const sw = path.join(env.export, 'sw');
  fs.mkdirSync(sw);
  fs.writeFileSync(path.join(sw, 'f'), 'inside\n');
  env.seal();
  // The swapper: sw is a directory, then a symlink to base/outside/dir (which holds an f too).
  const swapper = spawn('bash', ['-c', `cd ${JSON.stringify(env.export)} && while :; do mv sw sw.d; ln -s ../outside/dir sw; rm sw; mv sw.d sw; done`], { stdio: 'ignore' });
  t.teardown(() => swapper.kill('SIGKILL'));
  let reads = 0, creates = 0;
  const texts = new Set<string>();
  const deadline = Date.now() + 3000;
  for (let i = 0; Date.now() < deadline; i++) {
    const d = c.lookup(1n, 'sw');
    if (d.errno) continue;
    const f = c.lookup(d.nodeid, 'f');
    if (!f.errno) {
      const r = c.readFile(f.nodeid);
      if (!r.errno) { reads++; texts.add(r.text); }
    }
    if (!c.create(d.nodeid, `n${i}`, 0o301).errno) creates++;
    for (const id of [d.nodeid, f.nodeid]) if (id) {
      const b = Buffer.alloc(8); b.writeBigUInt64LE(1n); c.call(OP.FORGET, id, b);
    }
  }
  swapper.kill('SIGKILL');
  await new Promise((r) => swapper.once('exit', r));
  t.ok(reads > 0, `the client read sw/f ${reads} times during the swaps`);
  t.ok(creates > 0, `and created ${creates} files in sw`);
  t.same([...texts], ['inside\n'], 'every read returned the export\'s file, never the outside one');
  t.same(fs.readdirSync(path.join(env.outside, 'dir')), ['f'], 'no file was created in the outside directory');
  t.equal(env.outsideChanges(), '', 'nothing outside the export was read, written or created');
});

t.test('hard links: one the host made to an outside file is that inode; the client cannot make one', { skip: !isRoot && 'root: the host-made link' }, async (t) => {
  const { env, c } = setup(t);
  const outsideFile = path.join(env.outside, 'linked');
  fs.writeFileSync(outsideFile, 'shared inode\n');
  fs.linkSync(outsideFile, path.join(env.export, 'hl'));
  fs.symlinkSync(env.canary, path.join(env.export, 'to-canary'));
  const hl = c.lookup(1n, 'hl');
  t.equal(c.readFile(hl.nodeid).text, 'shared inode\n', 'the host-made link reads as the export\'s own inode');
  env.seal();
  // Every node the client can name is inside; linking one makes a link to it, never to a target.
  const sl = c.lookup(1n, 'to-canary');
  t.equal(c.link(sl.nodeid, 1n, 'l1').errno, 0, 'LINK of a symlink to the canary links the symlink');
  t.ok(fs.lstatSync(path.join(env.export, 'l1')).isSymbolicLink(), 'the new name is a symlink');
  for (const bogus of [0n, 2n ** 53n, 999999n, 0xffffffffffffffffn]) {
    t.not(c.link(bogus, 1n, `l-${bogus}`).errno, 0, `LINK of unknown node id ${bogus} refused`);
  }
  t.equal(fs.statSync(env.canary).nlink, 1, 'the canary has no new link');
  // A file the client looked up while inside, then moved out by the host: no new name inside.
  fs.writeFileSync(path.join(env.export, 'leaving'), 'x');
  const leaving = c.lookup(1n, 'leaving');
  fs.renameSync(path.join(env.export, 'leaving'), path.join(env.outside, 'left'));
  env.seal();
  t.equal(c.link(leaving.nodeid, 1n, 'relinked').errno, E.ENOENT, 'LINK of a file the host moved out of the export is refused');
  t.notOk(fs.existsSync(path.join(env.export, 'relinked')), 'no link to it appeared in the export');
  t.equal(env.outsideChanges(), '', 'nothing outside the export was touched');
});

t.test('device nodes and FIFOs: created for the client, never opened by vfsd', { skip: !isRoot && 'mknod of a device needs root' }, async (t) => {
  const { env, c } = setup(t);
  env.seal();
  const NULL_DEV = (1 << 8) | 3; // 1:3, /dev/null
  t.equal(c.mknod(1n, 'null', 0o020666, NULL_DEV).errno, 0, 'MKNOD of a character device works (as root)');
  t.equal(c.mknod(1n, 'fifo', 0o010666).errno, 0, 'MKNOD of a FIFO works');
  t.ok(fs.lstatSync(path.join(env.export, 'null')).isCharacterDevice(), 'the host has the node');
  for (const name of ['null', 'fifo']) {
    const n = c.lookup(1n, name);
    for (const flags of [0, 1, 2, 0o4000]) {
      const b = Buffer.alloc(8);
      b.writeUInt32LE(flags);
      t.equal(c.call(OP.OPEN, n.nodeid, b).errno, E.EACCES, `${name}: OPEN flags ${flags.toString(8)} refused`);
    }
    // CREATE without O_EXCL on the existing name: must not open it either (a FIFO would block).
    t.equal(c.create(1n, name, 0o101).errno, E.EACCES, `${name}: CREATE over it refused`);
    t.equal(c.create(1n, name, 0o102).errno, E.EACCES, `${name}: CREATE O_RDWR over it refused`);
    // O_PATH would make openat ignore O_CREAT|O_EXCL and hand back the existing node as a "file"
    // handle, which lock-ops later reopens for real (found by the fuzz harness: vfsd hung).
    t.equal(c.create(1n, name, 0o10000000).errno, E.EACCES, `${name}: CREATE with O_PATH over it refused`);
    const op = Buffer.alloc(8);
    op.writeUInt32LE(0o10000000);
    t.equal(c.call(OP.OPEN, n.nodeid, op).errno, E.EACCES, `${name}: OPEN with O_PATH refused`);
    const fsync = Buffer.alloc(16);
    fsync.writeBigUInt64LE(123456n);
    t.equal(c.call(OP.FSYNC, n.nodeid, fsync).errno, E.EACCES, `${name}: FSYNC with an unknown fh does not reopen it`);
    t.equal(c.call(OP.SYNCFS, n.nodeid, Buffer.alloc(8)).errno, E.EACCES, `${name}: SYNCFS does not open it`);
    t.not(c.opendir(n.nodeid).errno, 0, `${name}: OPENDIR refused`);
  }
  // vfsd holds only O_PATH fds on them (which cannot do I/O), never an open of the device.
  const opened = fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      const flags = parseInt(/flags:\s*(\d+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1], 8);
      return target.startsWith(env.export) && (target.endsWith('/null') || target.endsWith('/fifo')) && !(flags & 0o10000000);
    } catch {
      return false;
    }
  });
  t.same(opened, [], 'no non-O_PATH fd on the device node or the FIFO');
  t.equal(env.outsideChanges(), '', 'nothing outside the export was touched');
});
