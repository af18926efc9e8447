// Security labels (--security-label, FUSE_SECURITY_CTX) at the protocol level: hand-built CREATE,
// MKDIR, MKNOD, SYMLINK and TMPFILE requests carrying a security context, fed in-process to a
// real FuseServer + PassthroughFs on a temp export (the host kernel stores the xattr). No kernel
// here sends a context with a value: this host runs no labelling LSM (its FUSE sends nr_secctx 0,
// see test/mount/security-label.test.ts), and the guest test boots SELinux without a policy.
// Checked: each new object carries exactly the bytes a native setxattr of the same label stores,
// belongs to the caller (the label is set as the daemon, nothing else is), both wire forms (7.38
// extension counted by total_extlen; 7.36/7.37 argument after the name) work, and every hostile context is refused with
// EINVAL without leaving anything behind; a label the host refuses fails the create and removes
// the new object (as virtiofsd).
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AT_FDCWD, C, sys } from '../../src/native/sys';
import * as P from '../../src/protocol';
import { PassthroughFs } from '../../src/passthrough/passthrough-fs';
import { PassthroughFileSystem } from '../../src/passthrough/file-system';
import { defaultPassthroughConfig } from '../../src/passthrough/config';
import { parseXattrMap } from '../../src/policy/xattr-map';
import { FuseServer, type ServerOptions } from '../../src/server/session';
import { silentLogger } from '../../src/log/logger';
import { Credentials } from '../../src/passthrough/credentials';
import { tempBase } from '../helpers/vfsd-process';
import { MemoryChannel, type Outcome } from '../helpers/memory-channel';
import { entryOf, fhOf } from '../helpers/fuse-replies';
import { createIn, initIn, mkdirIn, mknodIn, releaseIn, req, secctxRecord, symlinkIn } from '../helpers/fuse-requests';

const root = process.geteuid?.() === 0;
const E = P.Errno;
const ROOT = 1;
const CALLER = { uid: 1000, gid: 1000 };
const SELINUX = 'security.selinux';
const LABEL = Buffer.from('system_u:object_r:vfsd_test_t:s0\0');

/** A FUSE_EXT_GROUPS record (one supplementary group): an extension that is not a context. */
const GROUPS = Buffer.from([16, 0, 0, 0, 32, 0, 0, 0, 1, 0, 0, 0, 100, 0, 0, 0]);
/** The record a kernel sends when no LSM gives the new file a context (nr_secctx 0). */
const NO_CONTEXT = Buffer.from([8, 0, 0, 0, 0, 0, 0, 0]);
const labelRecord = (secName = `${SELINUX}\0`, value = LABEL) => secctxRecord(1, secName, value);

/** A 7.38+ request: the record trails the body and total_extlen covers it. */
function withExt(opcode: number, body: Buffer, rec: Buffer | null, extlen = rec ? rec.length / 8 : 0): Buffer {
  return req(opcode, ROOT, rec ? Buffer.concat([body, rec]) : body, { ...CALLER, extlen });
}
/** A 7.36/7.37 request: the record is one more argument after the last name, no total_extlen. */
const legacy = (opcode: number, body: Buffer, rec: Buffer) => req(opcode, ROOT, Buffer.concat([body, rec]), CALLER);

/** The five creating requests, each making `n` in the root. */
const MAKERS: [string, number, (n: string) => Buffer][] = [
  ['CREATE', P.Op.CREATE, (n) => createIn(C.O_RDWR, C.S_IFREG | 0o644, n)],
  ['MKDIR', P.Op.MKDIR, (n) => mkdirIn(0o755, n)],
  ['MKNOD', P.Op.MKNOD, (n) => mknodIn(C.S_IFIFO | 0o644, 0, n)],
  ['SYMLINK', P.Op.SYMLINK, (n) => symlinkIn(n, 'some/target')],
];
const tmpfileIn = () => createIn(C.O_RDWR, C.S_IFREG | 0o600, '/');

interface Served { ch: MemoryChannel; srv: FuseServer; pfs: PassthroughFs }

function serve(dir: string, labelMode: ServerOptions['labelMode'], xattrmap?: string): Served {
  const pfs = new PassthroughFs({ ...defaultPassthroughConfig(dir), xattr: true, xattrMap: xattrmap ? parseXattrMap(xattrmap) : null }, new Credentials(false));
  const ch = new MemoryChannel();
  const srv = new FuseServer(ch, new PassthroughFileSystem(pfs), {
    readOnly: false, maxWrite: 1 << 20, announceSubmounts: false, posixLocks: true, flock: true,
    passthrough: false, cacheAlways: false, labelMode,
  }, silentLogger);
  srv.start();
  return { ch, srv, pfs };
}

function one(t: Test, ch: MemoryChannel, r: Buffer, what: string): Outcome {
  const got = ch.send(r);
  t.equal(got.length, 1, `${what}: exactly one answer`);
  return got[0] ?? { token: -1, kind: 'error', errno: -1, data: Buffer.alloc(0) };
}

/** INIT as a kernel of 7.`minor` offering FUSE_SECURITY_CTX (or not); returns the answer's flags2. */
function init(t: Test, s: Served, minor: number, offer = true): Outcome {
  return one(t, s.ch, req(P.Op.INIT, 0, initIn(minor, 0xffffffff, offer ? P.InitFlag2.SECURITY_CTX : 0)), `INIT 7.${minor}`);
}

/** The label bytes on the host object (lgetxattr: a symlink's own), or the -errno. */
function hostLabel(p: string, name = SELINUX): Buffer | number {
  const out = Buffer.alloc(4096);
  const n = sys.getxattr(p, name, out, true);
  return n < 0 ? n : Buffer.from(out.subarray(0, n));
}

/** What a native setxattr of the same label leaves on a fresh object of the same kind. */
function nativeLabel(dir: string, kind: string): Buffer | number {
  const p = path.join(dir, `native-${kind}`);
  if (kind === 'MKDIR') fs.mkdirSync(p);
  else if (kind === 'MKNOD') sys.mknodat(AT_FDCWD, p, C.S_IFIFO | 0o644, 0, 0);
  else if (kind === 'SYMLINK') fs.symlinkSync('some/target', p);
  else fs.writeFileSync(p, '');
  const r = sys.setxattr(p, SELINUX, LABEL, 0, true);
  return r < 0 ? r : hostLabel(p);
}

t.test('security labels through the server', { skip: !root && 'needs root (labels are set as the daemon; the caller is switched to)', timeout: 60000 }, async (t) => {
  const base = tempBase('vfsd-it-seclabel-');
  const dir = path.join(base, 'export');
  const nat = path.join(base, 'native');
  fs.mkdirSync(dir, { mode: 0o777 });
  fs.chmodSync(dir, 0o777);
  fs.mkdirSync(nat);
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  const served: Served[] = [];
  t.teardown(() => served.forEach((s) => s.srv.stop()));
  const start = (mode: ServerOptions['labelMode'], xattrmap?: string) => { const s = serve(dir, mode, xattrmap); served.push(s); return s; };
  const listing = () => fs.readdirSync(dir).sort();

  t.test('always, 7.45: every creating request stores its label, as a native setxattr does', async (t) => {
    const s = start('always');
    const i = init(t, s, 45);
    t.equal(i.errno, 0, 'INIT answered');
    t.not(i.data.readUInt32LE(32) & P.InitFlag2.SECURITY_CTX, 0, 'FUSE_SECURITY_CTX answered on (fuse_init_out.flags2)');
    for (const [kind, op, body] of MAKERS) {
      const n = `new-${kind}`;
      const a = one(t, s.ch, withExt(op, body(n), labelRecord()), kind);
      t.equal(a.errno, 0, `${kind}: created`);
      const host = path.join(dir, n);
      t.same(hostLabel(host), nativeLabel(nat, kind), `${kind}: the host object carries what a native setxattr of the label stores`);
      t.same(hostLabel(host), LABEL, `${kind}: ... which is the label's bytes, its NUL included`);
      t.same([fs.lstatSync(host).uid, fs.lstatSync(host).gid], [CALLER.uid, CALLER.gid], `${kind}: owned by the caller (only the label was set as the daemon)`);
      if (op === P.Op.CREATE) one(t, s.ch, req(P.Op.RELEASE, entryOf(a.data).nodeid, releaseIn(fhOf(a.data.subarray(P.Size.ENTRY_OUT)))), 'RELEASE');
    }
    const tf = one(t, s.ch, withExt(P.Op.TMPFILE, tmpfileIn(), labelRecord()), 'TMPFILE');
    t.equal(tf.errno, 0, 'TMPFILE: created');
    const fh = Number(fhOf(tf.data.subarray(P.Size.ENTRY_OUT)));
    const h = s.pfs.handles.file(fh);
    const out = Buffer.alloc(256);
    const n = h ? sys.fgetxattr(h.fd, SELINUX, out) : -1;
    t.same(n < 0 ? n : out.subarray(0, n), LABEL, 'TMPFILE: the unnamed file carries the label');
    one(t, s.ch, req(P.Op.RELEASE, entryOf(tf.data).nodeid, releaseIn(fh)), 'RELEASE tmpfile');

    const empty = one(t, s.ch, withExt(P.Op.MKDIR, mkdirIn(0o755, 'unlabelled'), NO_CONTEXT), 'MKDIR with nr_secctx 0');
    t.equal(empty.errno, 0, 'nr_secctx 0 (no LSM in the guest): created...');
    t.equal(hostLabel(path.join(dir, 'unlabelled')), -E.ENODATA, '... without a label');
  });

  t.test('always, 7.37: the context as the argument after the last name (total_extlen 0)', async (t) => {
    const s = start('always');
    t.equal(init(t, s, 37).errno, 0, 'INIT 7.37 answered');
    for (const [kind, op, body] of MAKERS) {
      const n = `legacy-${kind}`;
      t.equal(one(t, s.ch, legacy(op, body(n), labelRecord()), kind).errno, 0, `${kind}: created`);
      t.same(hostLabel(path.join(dir, n)), LABEL, `${kind}: labelled`);
    }
  });

  t.test('hostile contexts: EINVAL, and nothing is created', async (t) => {
    const s = start('always');
    init(t, s, 45);
    const before = listing();
    const rec = labelRecord();
    const cases: [string, Buffer][] = [
      ['no context while FUSE_SECURITY_CTX is on', withExt(P.Op.MKDIR, mkdirIn(0o755, 'h1'), null)],
      ['total_extlen past the request (truncated extension)', withExt(P.Op.MKDIR, mkdirIn(0o755, 'h2'), rec, rec.length / 8 + 4)],
      ['record cut short (its size says more than total_extlen covers)', withExt(P.Op.MKDIR, mkdirIn(0o755, 'h3'), rec.subarray(0, 24))],
      ['nr_secctx 2', withExt(P.Op.MKDIR, mkdirIn(0o755, 'h4'), secctxRecord(2, `${SELINUX}\0`, LABEL))],
      ['nr_secctx 31 with one context', withExt(P.Op.CREATE, createIn(C.O_RDWR, 0o644, 'h5'), secctxRecord(31, `${SELINUX}\0`, LABEL))],
      ['name not NUL-terminated', withExt(P.Op.SYMLINK, symlinkIn('h6', 't'), secctxRecord(1, SELINUX, Buffer.from('abcdefgh')))],
      ['value length past the record', withExt(P.Op.MKNOD, mknodIn(C.S_IFIFO | 0o644, 0, 'h7'), secctxRecord(1, `${SELINUX}\0`, LABEL, 4096))],
      ['value length 2^32-1', withExt(P.Op.CREATE, createIn(C.O_RDWR, 0o644, 'h8'), secctxRecord(1, `${SELINUX}\0`, LABEL, 0xffffffff))],
      ['value longer than an xattr may be', withExt(P.Op.MKDIR, mkdirIn(0o755, 'h9'), secctxRecord(1, `${SELINUX}\0`, Buffer.alloc(65537, 0x61)))],
      ['empty value', withExt(P.Op.MKDIR, mkdirIn(0o755, 'h10'), secctxRecord(1, `${SELINUX}\0`, Buffer.alloc(0)))],
      ['extensions with a groups record but no context', withExt(P.Op.MKDIR, mkdirIn(0o755, 'h11'), GROUPS)],
      ['TMPFILE with nr_secctx 2', withExt(P.Op.TMPFILE, tmpfileIn(), secctxRecord(2, `${SELINUX}\0`, LABEL))],
    ];
    // Names that are not security.* go through creation and are refused there: the new object
    // is removed again (a hostile guest cannot use the daemon's privilege for trusted.*/system.*).
    for (const [kind, op, body] of MAKERS) {
      cases.push([`${kind} labelled trusted.vfsd`, withExt(op, body(`t-${kind}`), labelRecord('trusted.vfsd\0'))]);
      cases.push([`${kind} labelled system.posix_acl_access`, withExt(op, body(`s-${kind}`), labelRecord('system.posix_acl_access\0'))]);
    }
    cases.push(['TMPFILE labelled trusted.vfsd', withExt(P.Op.TMPFILE, tmpfileIn(), labelRecord('trusted.vfsd\0'))]);
    for (const [what, r] of cases) t.equal(one(t, s.ch, r, what).errno, E.EINVAL, `${what}: EINVAL`);
    t.same(listing(), before, 'the export is unchanged: no object was left behind');
    t.same(s.ch.unanswered(), [], 'every request was answered');
    t.equal(one(t, s.ch, withExt(P.Op.MKDIR, mkdirIn(0o755, 'after-hostile'), labelRecord()), 'MKDIR after').errno, 0, 'the session still creates labelled objects');
    t.same(hostLabel(path.join(dir, 'after-hostile')), LABEL, '... with their label');
  });

  t.test('a label the host refuses fails the create and removes the new object (as virtiofsd)', async (t) => {
    // --xattrmap denying the name: setting it answers EPERM, after the object was made.
    const s = start('always', ':bad:all:security.selinux:::ok:all:::');
    init(t, s, 45);
    const before = listing();
    for (const [kind, op, body] of MAKERS) t.equal(one(t, s.ch, withExt(op, body(`denied-${kind}`), labelRecord()), kind).errno, E.EPERM, `${kind}: EPERM`);
    t.equal(one(t, s.ch, withExt(P.Op.TMPFILE, tmpfileIn(), labelRecord()), 'TMPFILE').errno, E.EPERM, 'TMPFILE: EPERM');
    t.same(listing(), before, 'none of the objects stays behind');
    // A prefix rule renames it on the host, as for SETXATTR.
    const m = start('always', ':prefix:all:security.:user.virtiofs.:');
    init(t, m, 45);
    t.equal(one(t, m.ch, withExt(P.Op.MKDIR, mkdirIn(0o755, 'mapped'), labelRecord()), 'MKDIR mapped').errno, 0, 'created under a renaming map');
    t.same(hostLabel(path.join(dir, 'mapped'), `user.virtiofs.${SELINUX}`), LABEL, 'the label is stored under the host name the map gives');
    t.equal(hostLabel(path.join(dir, 'mapped')), -E.ENODATA, '... and not under the client name');
  });

  t.test('never and auto', async (t) => {
    const never = start('never');
    const i = init(t, never, 45);
    t.equal(i.data.readUInt32LE(32) & P.InitFlag2.SECURITY_CTX, 0, 'never: FUSE_SECURITY_CTX not answered');
    t.equal(one(t, never.ch, withExt(P.Op.MKDIR, mkdirIn(0o755, 'never-dir'), labelRecord()), 'MKDIR').errno, 0, 'never: a context sent anyway is ignored');
    t.equal(hostLabel(path.join(dir, 'never-dir')), -E.ENODATA, '... and not stored');
    const auto = start('auto');
    t.equal(init(t, auto, 45, false).errno, 0, 'auto, a kernel without FUSE_SECURITY_CTX: INIT answered');
    t.equal(one(t, auto.ch, withExt(P.Op.MKDIR, mkdirIn(0o755, 'auto-dir'), null), 'MKDIR').errno, 0, '... and creating needs no context');
    const always = start('always');
    t.equal(init(t, always, 45, false).errno, E.EPROTO, 'always, a kernel without it: INIT refused with EPROTO (virtiofsd)');
  });
});
