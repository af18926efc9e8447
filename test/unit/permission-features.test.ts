// The permission features as INIT negotiates them (src/server/init.ts) and as the command line
// turns them on: DONT_MASK always (the server applies each request's umask), POSIX_ACL when
// asked for (the /dev/fuse front door: no id translation), HANDLE_KILLPRIV_V2 only with
// --killpriv-v2 (off by default, as in virtiofsd), each reported as really on only when the
// kernel offered it too.
import t from 'tap';
import * as P from '../../src/protocol';
import { negotiate, type ServerWants } from '../../src/server/init';
import { parseArgs } from '../../src/cli/options';

const F = P.InitFlag;
const kernel = (flags: number): P.InitIn => ({ major: 7, minor: 45, maxReadahead: 131072, flags: (flags | F.INIT_EXT) >>> 0, flags2: 0 });
const everything = kernel(0xffffffff & ~F.INIT_RESERVED);
const wants: ServerWants = {
  maxWrite: 1 << 20, announceSubmounts: false, posixLocks: true, flock: true, passthrough: false, cacheAlways: false,
};

function ok(r: ReturnType<typeof negotiate>) {
  if (r.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r;
}

t.test('DONT_MASK always; POSIX_ACL and HANDLE_KILLPRIV_V2 only when wanted', async (t) => {
  const plain = ok(negotiate(everything, wants));
  t.ok(plain.flags & F.DONT_MASK, 'DONT_MASK: the server applies the umask the request carries');
  t.notOk(plain.flags & F.POSIX_ACL, 'no POSIX_ACL unless wanted');
  t.notOk(plain.flags & F.HANDLE_KILLPRIV_V2, 'no HANDLE_KILLPRIV_V2 unless wanted');
  t.same([plain.posixAcl, plain.killprivV2], [false, false], 'and reported off');
  const both = ok(negotiate(everything, { ...wants, posixAcl: true, killprivV2: true }));
  t.ok(both.flags & F.POSIX_ACL && both.flags & F.HANDLE_KILLPRIV_V2, 'both answered when wanted and offered');
  t.same([both.posixAcl, both.killprivV2], [true, true], 'and reported on');
  const old = ok(negotiate(kernel(F.ASYNC_READ | F.DONT_MASK), { ...wants, posixAcl: true, killprivV2: true }));
  t.same([old.posixAcl, old.killprivV2, (old.flags & F.POSIX_ACL) !== 0], [false, false, false], 'a kernel that does not offer them: off');
});

t.test('--killpriv-v2 is effective and off by default', async (t) => {
  const base = ['--shared-dir', '/x', '--mount', '/m'];
  t.equal(parseArgs(base).killprivV2, false, 'default off (as virtiofsd)');
  t.equal(parseArgs([...base, '--killpriv-v2']).killprivV2, true, '--killpriv-v2');
  t.equal(parseArgs([...base, '--killpriv-v2', '--no-killpriv-v2']).killprivV2, false, '--no-killpriv-v2 after it');
  t.equal(parseArgs([...base, '-o', 'killpriv_v2']).killprivV2, true, '-o killpriv_v2');
  t.equal(parseArgs([...base, '-o', 'killpriv_v2,no_killpriv_v2']).killprivV2, false, '-o no_killpriv_v2');
  t.same(parseArgs([...base, '--killpriv-v2', '-o', 'killpriv_v2']).ignored, [], 'no longer listed as accepted but ineffective');
});
