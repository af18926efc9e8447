// An in-process FuseServer + PassthroughFs on a real directory whose mount is served on the
// worker pool (OffLoop.markSlow: a local filesystem cannot be made slow at will; the mount tests
// check the real detection on a slow source), fed through a MemoryChannel, which poisons its
// inbox after each batch as a transport reuses its buffer.
import type { Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as P from '../../src/protocol';
import { PassthroughFs } from '../../src/passthrough/passthrough-fs';
import { PassthroughFileSystem } from '../../src/passthrough/file-system';
import { defaultPassthroughConfig, type PassthroughConfig } from '../../src/passthrough/config';
import { FuseServer } from '../../src/server/session';
import { silentLogger } from '../../src/log/logger';
import { Credentials } from '../../src/passthrough/credentials';
import { MemoryChannel, outcomeOf, type Outcome, type Pending } from './memory-channel';
import { initIn, req } from './fuse-requests';
import { waitFor } from './wait';
import { tempBase } from './vfsd-process';
import { workerPool } from '../../src/native/worker-pool';

/** Starts the worker pool (asserted) and makes a temp export, removed at teardown; keeps the
 *  event loop alive meanwhile (a test awaiting only the pool's callbacks would otherwise end). */
export function poolExport(t: Test, prefix: string): string {
  const alive = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(alive));
  t.equal(workerPool.startWorkerPool(2), 0, 'pool started');
  const base = tempBase(prefix);
  const dir = path.join(base, 'export');
  fs.mkdirSync(dir);
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  return dir;
}

export interface PoolServer {
  pfs: PassthroughFs;
  /** the channel itself, for requests expected to be answered inline (send) */
  ch: MemoryChannel;
  /** Delivers r; its answer once it comes, which must not come during the delivery (the pool
   *  ran it). With t, that is an assertion; without, a throw. */
  later(t: Test | null, r: Buffer, what: string): Promise<Outcome>;
}

/** `labels`: security contexts on creates (labelMode always, INIT offering SECURITY_CTX).
 *  `slow` false: the mount stays as fast as it is (inline), with the pool running beside it. */
export function poolServer(t: Test, dir: string, config: Partial<PassthroughConfig> = {}, labels = false, slow = true): PoolServer {
  const pfs = new PassthroughFs({ ...defaultPassthroughConfig(dir), ...config }, new Credentials(false));
  const ch = new MemoryChannel();
  const srv = new FuseServer(ch, new PassthroughFileSystem(pfs), {
    readOnly: false, maxWrite: 1 << 20, announceSubmounts: false, posixLocks: true, flock: true,
    passthrough: false, cacheAlways: false, labelMode: labels ? 'always' : 'never',
  }, silentLogger);
  srv.start();
  t.teardown(() => srv.stop());
  if (ch.send(req(P.Op.INIT, 0, initIn(45, 0xffffffff, labels ? P.InitFlag2.SECURITY_CTX : 0)))[0]?.errno !== 0) throw new Error('INIT');
  if (slow) pfs.offLoop.markSlow(pfs.root.mntId);
  // The mount marked slow before each request: FAST_RUNS fast pool runs in a row, as a local
  // disk gives, would make it inline again.
  const deliver = (r: Buffer): Pending => {
    if (slow) pfs.offLoop.markSlow(pfs.root.mntId);
    return ch.deliver([r])[0];
  };
  return {
    pfs,
    ch,
    async later(t, r, what) {
      const p = deliver(r);
      if (t) t.equal(p.answers.length, 0, `${what}: not answered inline (on the pool)`);
      else if (p.answers.length > 0) throw new Error(`${what}: answered inline`);
      await waitFor(() => p.answers.length > 0, `${what}'s answer`, 10000);
      return outcomeOf(p.token, p.answers[0]);
    },
  };
}
