// Security labels in a real guest: the acceptance guest (Debian's 6.1 kernel, which speaks FUSE
// 7.38 with request extensions) boots with SELinux enabled and no policy loaded. Its LSM then
// still gives each new file a context (the initial SID's name, since no policy says otherwise),
// and its FUSE sends that context with every CREATE, MKDIR, MKNOD and SYMLINK as an extension
// record (vfsd logs the minor it spoke, printed below). The guest creates a directory, a file, a nested directory, a FIFO and a symlink; the
// host then reads the security.selinux xattr of each host object. Each server runs with its
// security-label option and +sys_admin (without an LSM on the host, a security.* xattr may take
// CAP_SYS_ADMIN, which neither server keeps by default; this host's kernel happens to let root
// set security.selinux without it). A second boot denies security.selinux by --xattrmap: every
// labelled create must then fail with EPERM and leave nothing on the host (as virtiofsd).
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { sys } from '../../src/native/sys';
import { eachServerOnShare, type ExpectedFailures, guestScript } from '../helpers/acceptance';
import { type GuestCheck, runSession } from '../helpers/guest';

const expected: ExpectedFailures = {
  virtiofsd: [{
    pattern: /^(label|denied)\/(mkdir|create|mkdir-nested|mknod-fifo|symlink|host-xattr\/.*)$/,
    reason: 'the C virtiofsd (QEMU 7.2) answers a creating request that carries a security context with the positive errno 22 ' +
      '(its log: "fuse: bad error value: 22"), which its libfuse turns into ERANGE: nothing is created, so nothing is labelled',
  }],
};

/** What SELinux without a policy labels new files with: the name of the initial SID of their
 *  directory (a FUSE inode's is "unlabeled" until a policy labels it), NUL included. */
const LABEL = 'unlabeled\0';
const OBJECTS = ['guest', 'guest/file', 'guest/dir', 'guest/fifo', 'guest/link'];
const DENIED = ['denied-dir', 'denied-file', 'denied-fifo', 'denied-link'];

function hostLabel(p: string): string {
  const out = Buffer.alloc(4096);
  const n = sys.getxattr(p, 'security.selinux', out, true);
  return n < 0 ? `errno ${-n}` : out.toString('latin1', 0, n);
}

function hostChecks(share: string, lsm: string[]): GuestCheck[] {
  const checks: GuestCheck[] = [{
    name: 'label/guest-runs-selinux', ok: lsm.join(',').split(',').includes('selinux'),
    detail: `guest LSMs: ${lsm.join(' ') || 'unknown'}`,
  }];
  for (const o of OBJECTS) {
    const got = hostLabel(path.join(share, o));
    checks.push({ name: `label/host-xattr/${o}`, ok: got === LABEL, detail: got === LABEL ? '' : `expected ${JSON.stringify(LABEL)} got ${JSON.stringify(got)}` });
  }
  return checks;
}

eachServerOnShare(t, 'security labels: SELinux (no policy) in the guest, the label each new object gets on the host', 'security-label', expected, async (server, launcher, share) => {
  const label = server === 'vfsd' ? ['--security-label=always'] : ['-o', 'security_label'];
  const sysAdmin = server === 'vfsd' ? ['--modcaps=+sys_admin'] : ['-o', 'modcaps=+sys_admin'];
  const boot = (script: string, extraArgs: string[]) => runSession({
    launcher,
    server: { sharedDir: share, announceSubmounts: true, xattr: true, extraArgs },
    boot: { tag: 'vfsd', script: guestScript(script), extraKernelArgs: ['security=selinux', 'selinux=1'], timeoutMs: 300_000 },
  });
  const { run, serverLog } = await boot('security-label.sh', [...label, ...sysAdmin]);
  const deny = ':bad:all:security.selinux:::ok:all:::';
  const denied = await boot('security-label-denied.sh', [...label, ...(server === 'vfsd' ? [`--xattrmap=${deny}`] : ['-o', `xattrmap=${deny}`])]);
  const left = DENIED.filter((n) => fs.lstatSync(path.join(share, n), { throwIfNoEntry: false }));
  const deniedChecks: GuestCheck[] = [...denied.run.results.map((c) => (c.name.startsWith('denied/') ? c : { ...c, name: `denied/${c.name}` })),
    { name: 'denied/host-nothing-left', ok: left.length === 0, detail: left.length ? `left on the host: ${left.join(' ')}` : '' }];
  const lsm = (run.data.get('lsm') ?? []).filter((l) => !l.startsWith('.'));
  // The minor vfsd spoke: 7.38+ kernels send the context as an extension, older ones after the name.
  if (server === 'vfsd') t.comment(`vfsd: ${/session initialised.*?(protocol[=":]+[0-9.]+)/.exec(serverLog)?.[1] ?? 'no INIT logged'}`);
  return {
    checks: [...run.results, ...hostChecks(share, lsm), ...deniedChecks],
    run: run.results.some((c) => !c.ok) ? run : denied.run,
    serverLog: `${serverLog}\n--- second boot (security.selinux denied) ---\n${denied.serverLog}`,
  };
});
