// The worker pool's make jobs (native/meta_jobs.cc metaMakeJob, used by pool-creates.ts on a slow
// mount) against a real directory: MKDIR, MKNOD, SYMLINK, CREATE and LINK run as the caller they are
// given (nobody may not create in a root-owned 0755 directory; a caller's object is the caller's)
// under the request's umask — the worker's own, whatever the process's umask is meanwhile — and
// hand back an O_PATH fd of what they made with its statx (CREATE: also the open file, which is
// the same inode). Compared with the host's view of the directory (fs.*Sync as root).
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { metaJobs, MetaOp } from '../../src/native/meta-jobs';
import { workerPool } from '../../src/native/worker-pool';
import { C, sys } from '../../src/native/sys';
import { decodeStatx } from '../../src/passthrough/host-stat';
import { procSelfFd } from '../../src/passthrough/proc-fd';

const root = process.geteuid?.() === 0;
const NOBODY = 65534;
const EEXIST = 17, EACCES = 13, EINVAL = 22;
const enc = (s: string) => new TextEncoder().encode(s);

interface Made { fd: number; ino: number; mode: number; uid: number; ioFd: number }

/** Posts one make job as uid (-1: the daemon); what it made, or its -errno. */
function make(op: number, dirFd: number, name: string, mode: number, umask: number, uid: number, extra: { target?: string; openFlags?: number; fd2?: number } = {}): Promise<Made | number> {
  return new Promise((resolve) => {
    const r = metaJobs.metaMakeJob(op, dirFd, extra.fd2 ?? procSelfFd(), enc(name), extra.target === undefined ? null : enc(extra.target), mode, 0, 0, umask,
      extra.openFlags ?? 0, uid, uid < 0 ? 0 : uid, uid < 0 ? null : new Uint32Array(0), (res, stat, _us, ioFd) => {
        if (res < 0 || !stat) return resolve(res < 0 ? res : -EINVAL);
        const st = decodeStatx(stat);
        resolve({ fd: res, ino: st.inoLo, mode: st.mode, uid: st.uid, ioFd });
      });
    if (r !== 1) resolve(r === 0 ? -EINVAL : r);
  });
}

t.test('make jobs on the pool: as the caller, under the request\'s umask', { skip: !root && 'needs root' }, async (t) => {
  const alive = setInterval(() => undefined, 1000); // the pool's completions do not keep node alive
  t.teardown(() => clearInterval(alive));
  t.equal(workerPool.startWorkerPool(2), 0, 'pool started');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-meta-creates-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(path.join(dir, 'open'), { mode: 0o777 });
  fs.chmodSync(path.join(dir, 'open'), 0o777);
  const fd = fs.openSync(dir, 'r');
  const openFd = fs.openSync(path.join(dir, 'open'), 'r');
  t.teardown(() => { fs.closeSync(fd); fs.closeSync(openFd); });
  // The process's umask while the jobs run: a worker using it instead of the request's shows.
  const own = process.umask(0o077);
  t.teardown(() => { process.umask(own); });
  const closeMade = (m: Made | number) => { if (typeof m !== 'number') { sys.close(m.fd); if (m.ioFd >= 0) sys.close(m.ioFd); } };

  t.equal(await make(MetaOp.Mkdir, fd, 'd1', 0o777, 0o022, NOBODY), -EACCES, 'MKDIR as nobody in a root 0755 directory: EACCES');
  t.notOk(fs.existsSync(path.join(dir, 'd1')), 'and nothing is made');
  const d = await make(MetaOp.Mkdir, fd, 'd1', 0o777, 0o027, -1);
  if (typeof d === 'number') return t.fail(`MKDIR: ${d}`);
  const hostD = fs.lstatSync(path.join(dir, 'd1'));
  t.equal(hostD.mode & 0o7777, 0o750, 'MKDIR: mode 0777 under umask 027 is 0750 on the host');
  t.equal(d.ino, hostD.ino, 'and the job\'s statx is of what it made');
  t.equal(d.mode, hostD.mode, 'with its mode');
  t.equal(await make(MetaOp.Mkdir, fd, 'd1', 0o777, 0, -1), -EEXIST, 'MKDIR of a taken name: EEXIST');
  closeMade(d);

  const n = await make(MetaOp.Mkdir, openFd, 'byNobody', 0o777, 0o002, NOBODY);
  if (typeof n === 'number') return t.fail(`MKDIR as nobody: ${n}`);
  const hostN = fs.lstatSync(path.join(dir, 'open', 'byNobody'));
  t.equal(hostN.uid, NOBODY, 'MKDIR as nobody where it may: the directory is nobody\'s');
  t.equal(hostN.mode & 0o7777, 0o775, 'with its umask 002');
  closeMade(n);

  const fifo = await make(MetaOp.Mknod, fd, 'fifo', C.S_IFIFO | 0o666, 0o022, -1);
  if (typeof fifo === 'number') return t.fail(`MKNOD: ${fifo}`);
  const hostF = fs.lstatSync(path.join(dir, 'fifo'));
  t.ok(hostF.isFIFO(), 'MKNOD makes a FIFO');
  t.equal(hostF.mode & 0o7777, 0o644, 'mode 0666 under umask 022');
  t.equal(fifo.ino, hostF.ino, 'and hands back the FIFO itself (O_PATH: never opened for I/O)');
  closeMade(fifo);

  const l = await make(MetaOp.Symlink, fd, 'link', 0, 0, -1, { target: 'some/where' });
  if (typeof l === 'number') return t.fail(`SYMLINK: ${l}`);
  t.equal(fs.readlinkSync(path.join(dir, 'link')), 'some/where', 'SYMLINK stores the target');
  t.equal(l.ino, fs.lstatSync(path.join(dir, 'link')).ino, 'and hands back the link, not what it names');
  closeMade(l);
  t.equal(await make(MetaOp.Symlink, fd, 'link2', 0, 0, -1), -EINVAL, 'SYMLINK without a target: EINVAL, nothing queued');

  const flags = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;
  const c = await make(MetaOp.Create, openFd, 'file', 0o666, 0o066, NOBODY, { openFlags: flags });
  if (typeof c === 'number') return t.fail(`CREATE: ${c}`);
  const hostC = fs.lstatSync(path.join(dir, 'open', 'file'));
  t.equal(hostC.uid, NOBODY, 'CREATE as nobody: the file is nobody\'s');
  t.equal(hostC.mode & 0o7777, 0o600, 'mode 0666 under umask 066');
  t.equal(c.ino, hostC.ino, 'the O_PATH fd is the file made');
  t.ok(c.ioFd >= 0, 'and the open file comes back too');
  fs.writeSync(c.ioFd, 'written');
  t.equal(fs.readFileSync(path.join(dir, 'open', 'file'), 'utf8'), 'written', 'writing through it writes the file');
  // LINK (fd2: the source, here the O_PATH fd CREATE handed back), as the caller.
  t.equal(await make(MetaOp.Link, fd, 'hard', 0, 0, NOBODY, { fd2: c.fd }), -EACCES, 'LINK as nobody into a root 0755 directory: EACCES');
  t.notOk(fs.existsSync(path.join(dir, 'hard')), 'and no name is made');
  const h = await make(MetaOp.Link, openFd, 'hard', 0, 0, NOBODY, { fd2: c.fd });
  if (typeof h === 'number') return t.fail(`LINK: ${h}`);
  t.equal(h.ino, hostC.ino, 'LINK as nobody where it may: the new name is the same inode, and the job hands it back');
  t.equal(fs.lstatSync(path.join(dir, 'open', 'file')).nlink, 2, 'which now has two links on the host');
  t.equal(await make(MetaOp.Link, openFd, 'hard', 0, 0, -1, { fd2: c.fd }), -EEXIST, 'LINK onto a taken name: EEXIST');
  closeMade(h);
  closeMade(c);
  t.equal(await make(MetaOp.Create, openFd, 'file', 0o666, 0, -1, { openFlags: flags }), -EEXIST, 'CREATE with O_EXCL of a taken name: EEXIST');
  t.equal(process.umask(0o077), 0o077, 'the process\'s own umask was never touched');

  // The workers' umask is their own because each has its own fs_struct (unshare(CLONE_FS)):
  // shown by the cwd, which the same struct holds. After a chdir of this thread, the workers
  // (threads whose cwd did not follow) are still where the process was.
  const before = process.cwd();
  process.chdir(dir);
  t.teardown(() => process.chdir(before));
  const tasks = fs.readdirSync('/proc/self/task');
  const stayed = tasks.filter((tid) => { try { return fs.readlinkSync(`/proc/self/task/${tid}/cwd`) !== dir; } catch { return false; } });
  t.ok(stayed.length >= 2, `the two workers keep their own cwd (and umask): ${stayed.length} of ${tasks.length} threads did not follow the chdir`);
});

t.test('a make job\'s label: refused for LINK, for an empty name; nothing queued', { skip: !root && 'needs root' }, async (t) => {
  t.equal(workerPool.startWorkerPool(2), 0, 'pool running');
  const d = fs.openSync(os.tmpdir(), 'r');
  t.teardown(() => fs.closeSync(d));
  const never = () => t.fail('a refused job never completes');
  const post = (op: number, labelName: Uint8Array, fd2 = procSelfFd()) => metaJobs.metaMakeJob(op, d, fd2, enc('vfsd-never-made'), null, 0o755, 0, 0, 0o022, 0, -1, 0, null, never, labelName, enc('v'));
  t.equal(post(MetaOp.Link, enc('security.selinux'), d), -EINVAL, 'LINK with a label: EINVAL (it makes no new object)');
  t.equal(post(MetaOp.Mkdir, enc('')), -EINVAL, 'an empty label name: EINVAL (it would read as no label)');
  await new Promise((r) => setTimeout(r, 50));
  t.notOk(fs.existsSync(path.join(os.tmpdir(), 'vfsd-never-made')), 'nothing made');
});
