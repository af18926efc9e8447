// FUSE over io_uring as a choice: the option, the INIT flag the engine then asks for (and only
// then), and the reasons a fallback is logged with.
import t from 'tap';
import * as P from '../../src/protocol';
import { parseArgs, UsageError } from '../../src/cli/options';
import { negotiate, type ServerWants } from '../../src/server/init';
import { uringOutcome } from '../../src/transport/fuse-uring';
import type { FuseUringStatus } from '../../src/native/fuse-dev';

const base = ['--shared-dir', '/srv', '--mount', '/mnt'];

t.test('--fuse-transport: dev by default; dev, uring, auto accepted; others refused', async (t) => {
  t.equal(parseArgs(base).fuseTransport, 'dev');
  for (const v of ['dev', 'uring', 'auto'] as const) t.equal(parseArgs([...base, `--fuse-transport=${v}`]).fuseTransport, v);
  t.throws(() => parseArgs([...base, '--fuse-transport', 'ring']), new UsageError("invalid value 'ring' for --fuse-transport (valid: dev, uring, auto)"));
});

t.test('INIT takes FUSE_OVER_IO_URING only when the transport wants it and the kernel offers it', async (t) => {
  const wants: ServerWants = { maxWrite: 1 << 20, announceSubmounts: false, posixLocks: true, flock: true, passthrough: false, cacheAlways: false };
  const kernel = (flags2: number): P.InitIn => ({ major: 7, minor: 45, maxReadahead: 131072, flags: (P.InitFlag.INIT_EXT | P.InitFlag.MAX_PAGES) >>> 0, flags2 });
  const taken = (w: ServerWants, k: P.InitIn) => {
    const r = negotiate(k, w);
    if (r.kind !== 'ok') throw new Error(r.kind);
    return (r.flags2 & P.InitFlag2.OVER_IO_URING) !== 0;
  };
  t.equal(taken({ ...wants, overIoUring: true }, kernel(P.InitFlag2.OVER_IO_URING)), true, 'wanted and offered: on');
  t.equal(taken(wants, kernel(P.InitFlag2.OVER_IO_URING)), false, 'offered but no ring ready: off (the kernel would wait for one)');
  t.equal(taken({ ...wants, overIoUring: true }, kernel(0)), false, 'wanted, not offered (enable_uring N): off');
});

t.test('the fallback reasons an operator reads', async (t) => {
  const st = (s: Partial<FuseUringStatus>): FuseUringStatus => ({ state: 'off', errno: 0, queues: 0, entries: 0, payloadSize: 0, lost: 0, ...s });
  t.same(uringOutcome(st({ state: 'active', queues: 2, entries: 16 })), { transport: 'io_uring' });
  t.match(uringOutcome(st({ state: 'off', errno: 1 })).reason, /kernel\.io_uring_disabled/, 'EPERM from io_uring_setup');
  t.match(uringOutcome(st({ state: 'off', errno: 38 })).reason, /no io_uring/, 'ENOSYS');
  t.match(uringOutcome(st({ state: 'refused', errno: 95 })).reason, /refused .*ENOTSUP/, 'a refused registration');
  t.equal(uringOutcome(st({ state: 'not-negotiated' })).transport, 'read/writev', 'not offered: read/writev');
});
