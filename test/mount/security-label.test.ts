// --security-label through a real /dev/fuse mount of this host's kernel. The host runs no LSM
// that labels new files (no SELinux or Smack), so its FUSE, once FUSE_SECURITY_CTX is on, sends
// every CREATE, MKDIR, MKNOD, SYMLINK and TMPFILE with an empty security-context record
// (nr_secctx 0). vfsd refuses a creating request without the record (EINVAL), so each create
// below succeeding as natively shows the kernel sent it and vfsd read it; no label may appear.
// Labels with a value: test/native/security-label.test.ts (hand-built) and
// test/guest/security-label.test.ts (a guest kernel with SELinux).
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AT_FDCWD, C, sys } from '../../src/native/sys';
import { requestCounts, startVfsd, VfsdProcess } from '../helpers/vfsd-process';
import { sameOutcome, sysOutcome } from '../helpers/compare';

const root = process.geteuid?.() === 0;

function ok(r: number, what: string): number {
  const o = sysOutcome(r);
  if (!o.ok) throw Object.assign(new Error(what), { code: o.code });
  return r;
}

/** Creates one object of each kind in dir; returns what it made and each one's security.selinux
 *  (read on the host path `hostDir`: through the mount the guest-side LSM would answer). */
function makeAll(dir: string, hostDir: string): Record<string, unknown> {
  fs.writeFileSync(path.join(dir, 'file'), 'data');
  fs.mkdirSync(path.join(dir, 'dir'), 0o750);
  ok(sys.mknodat(AT_FDCWD, path.join(dir, 'fifo'), C.S_IFIFO | 0o640, 0, 0), 'mknod');
  fs.symlinkSync('file', path.join(dir, 'link'));
  const fd = ok(sys.openat(AT_FDCWD, dir, C.O_TMPFILE | C.O_RDWR, 0o600), 'O_TMPFILE');
  try {
    ok(sys.linkat(AT_FDCWD, `/proc/self/fd/${fd}`, AT_FDCWD, path.join(dir, 'tmp'), C.AT_SYMLINK_FOLLOW), 'linkat');
  } finally {
    sys.close(fd);
  }
  const out: Record<string, unknown> = {};
  for (const n of fs.readdirSync(dir).sort()) {
    const st = fs.lstatSync(path.join(dir, n));
    const r = sys.getxattr(path.join(hostDir, n), 'security.selinux', Buffer.alloc(256), true);
    out[n] = { mode: st.mode.toString(8), label: sysOutcome(r).ok ? 'present' : sysOutcome(r) };
  }
  return out;
}

for (const mode of ['always', 'auto']) {
  t.test(`--security-label=${mode}: creating through this kernel's FUSE works as natively, unlabelled`, { skip: !root && 'needs root' }, async (t) => {
    let v: VfsdProcess;
    t.before(async () => {
      v = await startVfsd(t, { args: [`--security-label=${mode}`], prepare: (src) => { fs.mkdirSync(path.join(src, 'native')); fs.mkdirSync(path.join(src, 'm')); } });
    });

    t.test('the five creating calls', async (t) => {
      sameOutcome(t, path.join(v.src, 'native'), path.join(v.mnt, 'm'), 'file, dir, fifo, symlink, O_TMPFILE: same objects, no label',
        (r) => makeAll(r, r.startsWith(v.mnt) ? path.join(v.src, 'm') : r));
    });

    t.test('FUSE_SECURITY_CTX was on and the kernel sent the creating requests', async (t) => {
      t.equal(await v.stop(), 0, 'vfsd exits 0 on SIGTERM');
      t.match(v.log(), /session initialised.*securityLabel[=":]+true/, 'INIT: security labels negotiated');
      const counts = requestCounts(v.log());
      for (const op of ['CREATE', 'MKDIR', 'MKNOD', 'SYMLINK', 'TMPFILE']) t.ok((counts[op] ?? 0) >= 1, `${op} reached vfsd (${counts[op] ?? 0})`);
    });
  });
}
