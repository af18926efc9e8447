// Labelled creates (FUSE_SECURITY_CTX) of a slow mount on the worker pool (issue 12): the make
// and its label both run on a worker (native/meta_jobs.cc metaMakeJob with a label), so the label
// is on the object before the completion tells anyone it exists. Hand-built MKDIR, MKNOD,
// SYMLINK, CREATE and TMPFILE requests with a context, in-process to a real FuseServer +
// PassthroughFs on a temp export whose mount is marked slow (test/helpers/pool-server.ts;
// test/mount/pool-creates checks the real detection on a slow source). Checked as
// inline (test/native/security-label.test.ts): each object carries exactly what a native setxattr
// of the label stores and belongs to the caller; the answer comes later (so the pool ran it); a
// label the host refuses fails the create and removes the object on the worker; a label name
// the map denies or that is not security.* fails it before anything is made.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { C, sys } from '../../src/native/sys';
import * as P from '../../src/protocol';
import { parseXattrMap } from '../../src/policy/xattr-map';
import { poolExport, poolServer, type PoolServer } from '../helpers/pool-server';
import { createIn, mkdirIn, mknodIn, req, secctxRecord, symlinkIn } from '../helpers/fuse-requests';

const root = process.geteuid?.() === 0;
const E = P.Errno;
const ROOT = 1;
const CALLER = { uid: 1000, gid: 1000 };
const SELINUX = 'security.selinux';
const LABEL = Buffer.from('system_u:object_r:vfsd_pool_t:s0\0');

/** A 7.38+ creating request with one security context after its body (total_extlen covers it). */
function labelled(opcode: number, body: Buffer, secName: string, value: Buffer): Buffer {
  const rec = secctxRecord(1, `${secName}\0`, value);
  return req(opcode, ROOT, Buffer.concat([body, rec]), { ...CALLER, extlen: rec.length / 8 });
}

const MAKERS: [string, number, (n: string) => Buffer][] = [
  ['CREATE', P.Op.CREATE, (n) => createIn(C.O_RDWR, C.S_IFREG | 0o644, n)],
  ['MKDIR', P.Op.MKDIR, (n) => mkdirIn(0o755, n)],
  ['MKNOD', P.Op.MKNOD, (n) => mknodIn(C.S_IFIFO | 0o644, 0, n)],
  ['SYMLINK', P.Op.SYMLINK, (n) => symlinkIn(n, 'some/target')],
];

function hostLabel(p: string, name = SELINUX): Buffer | number {
  const out = Buffer.alloc(4096);
  const n = sys.getxattr(p, name, out, true);
  return n < 0 ? n : Buffer.from(out.subarray(0, n));
}

/** The server on `dir` with its mount served on the pool, labelling creates. */
const slowServer = (t: Test, dir: string, xattrmap?: string): PoolServer =>
  poolServer(t, dir, { xattr: true, xattrMap: xattrmap ? parseXattrMap(xattrmap) : null }, true);

t.test('labelled creates of a slow mount, on the pool', { skip: !root && 'needs root (labels are set as the daemon; the caller is switched to)', timeout: 60000 }, async (t) => {
  const dir = poolExport(t, 'vfsd-it-seclabel-pool-');
  fs.chmodSync(dir, 0o777);
  const listing = () => fs.readdirSync(dir).sort();
  const native = path.join(path.dirname(dir), 'native-ref');
  fs.writeFileSync(native, '');
  sys.setxattr(native, SELINUX, LABEL, 0, true);
  const nativeBytes = hostLabel(native);

  t.test('each object carries its label, as a native setxattr stores it, and is the caller\'s', async (t) => {
    const srv = slowServer(t, dir);
    for (const [kind, op, body] of MAKERS) {
      const n = `pool-${kind}`;
      t.equal((await srv.later(t, labelled(op, body(n), SELINUX, LABEL), kind)).errno, 0, `${kind}: created`);
      const host = path.join(dir, n);
      t.same(hostLabel(host), nativeBytes, `${kind}: labelled as natively`);
      t.same([fs.lstatSync(host).uid, fs.lstatSync(host).gid], [CALLER.uid, CALLER.gid], `${kind}: owned by the caller`);
    }
  });

  t.test('TMPFILE: the unnamed file is made and labelled on the pool', async (t) => {
    const srv = slowServer(t, dir);
    const before = listing();
    const a = await srv.later(t, labelled(P.Op.TMPFILE, createIn(C.O_RDWR, C.S_IFREG | 0o600, '/'), SELINUX, LABEL), 'TMPFILE');
    t.equal(a.errno, 0, 'created');
    const h = srv.pfs.handles.file(Number(a.data.readBigUInt64LE(P.Size.ENTRY_OUT)));
    const out = Buffer.alloc(256);
    const n = h ? sys.fgetxattr(h.fd, SELINUX, out) : -1;
    t.same(n < 0 ? n : out.subarray(0, n), nativeBytes, 'its open file carries the label');
    t.ok(h && fs.fstatSync(h.fd).nlink === 0, 'and has no name');
    t.same(listing(), before, 'nothing appeared in the directory');
    const refused = await srv.later(t, labelled(P.Op.TMPFILE, createIn(C.O_RDWR, C.S_IFREG | 0o600, '/'), 'security.capability', Buffer.from('not a capability')), 'TMPFILE refused');
    t.not(refused.errno, 0, `a label the host refuses: the TMPFILE fails (errno ${refused.errno})`);
  });

  t.test('a label the host refuses: the create fails and the worker removes the object', async (t) => {
    const srv = slowServer(t, dir);
    const before = listing();
    // security.capability must hold a vfs_cap_data: the kernel refuses these bytes (EINVAL).
    for (const [kind, op, body] of MAKERS) {
      const a = await srv.later(t, labelled(op, body(`refused-${kind}`), 'security.capability', Buffer.from('not a capability')), kind);
      t.not(a.errno, 0, `${kind}: refused (errno ${a.errno})`);
    }
    t.same(listing(), before, 'none of the objects stays behind');
  });

  t.test('a label the map denies, or not security.*: refused before anything is made', async (t) => {
    const srv = slowServer(t, dir, ':bad:all:security.selinux:::ok:all:::');
    const before = listing();
    const deny = srv.ch.send(labelled(P.Op.MKDIR, mkdirIn(0o755, 'denied'), SELINUX, LABEL));
    t.equal(deny[0]?.errno, E.EPERM, 'denied by the map: EPERM, answered at once');
    const trusted = srv.ch.send(labelled(P.Op.MKDIR, mkdirIn(0o755, 'trusted'), 'trusted.vfsd', LABEL));
    t.equal(trusted[0]?.errno, E.EINVAL, 'trusted.*: EINVAL, answered at once');
    t.same(listing(), before, 'nothing was made');
  });

  t.test('the inline path still labels (--thread-pool-size 0 would take it)', async (t) => {
    const srv = slowServer(t, dir);
    srv.pfs.offLoop.noPool();
    const a = srv.ch.send(labelled(P.Op.MKDIR, mkdirIn(0o755, 'inline-dir'), SELINUX, LABEL));
    t.equal(a[0]?.errno, 0, 'answered inline');
    t.same(hostLabel(path.join(dir, 'inline-dir')), nativeBytes, 'labelled');
  });
});
