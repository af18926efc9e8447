// One soak client (a child process forked by scripts/soak.ts): runs its seeded op stream on the
// vfsd mount and, op by op, the identical op on the native twin, and compares what each returned.
// Talks to the parent over the IPC channel: pause/resume around the parent's full-tree compares,
// stop at the end; reports a divergence and exits 1 at the first one.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, execute, OpGenerator, type Outcome } from './ops';

export interface ClientArgs {
  client: number;
  seed: number;
  mount: string;
  twin: string;
  /** 0: until stopped */
  maxOps: number;
  xattrs: boolean;
  /** test hook: at this op number, create a file in the twin only (the soak must notice) */
  injectAt: number;
}

export type ToParent =
  | { type: 'paused'; ops: number }
  | { type: 'done'; ops: number }
  | { type: 'divergence'; client: number; opNumber: number; op: string; mount: Outcome; twin: Outcome; recent: string[] };

export type ToClient = { type: 'pause' } | { type: 'resume' } | { type: 'stop' };

/** Ops run between two looks at the IPC channel (a pause waits at most one batch). */
const BATCH = 25;
/** Ops kept for the divergence report: what led up to it. */
const HISTORY = 40;

function send(m: ToParent): Promise<void> {
  return new Promise((r) => process.send!(m, () => r()));
}

async function main(a: ClientArgs): Promise<void> {
  process.umask(0o022);
  const gen = new OpGenerator(a.seed, a.client, a.xattrs);
  let pauseRequested = false;
  let stopRequested = false;
  let resume: (() => void) | null = null;
  process.on('message', (m: ToClient) => {
    if (m.type === 'pause') pauseRequested = true;
    else if (m.type === 'stop') stopRequested = true;
    else if (m.type === 'resume') resume?.();
  });
  // The parent going away (killed, crashed) ends us too: never an orphan working on the mount.
  process.on('disconnect', () => process.exit(3));

  let n = 0;
  const recent: string[] = [];
  const max = a.maxOps > 0 ? a.maxOps : Infinity;
  while (n < max && !stopRequested) {
    for (let k = 0; k < BATCH && n < max; k++) {
      n++;
      if (n === a.injectAt) fs.writeFileSync(path.join(a.twin, `c${a.client}`, 'injected-divergence'), 'twin only\n');
      const op = gen.next();
      const onMount = execute(a.mount, op, a.client);
      const onTwin = execute(a.twin, op, a.client);
      const same = JSON.stringify(onMount) === JSON.stringify(onTwin);
      recent.push(`#${n} ${describe(op)} -> ${JSON.stringify(onTwin)}`);
      if (recent.length > HISTORY) recent.shift();
      if (!same) {
        await send({ type: 'divergence', client: a.client, opNumber: n, op: describe(op), mount: onMount, twin: onTwin, recent });
        process.exit(1);
      }
    }
    await new Promise((r) => setImmediate(r));
    if (pauseRequested && !stopRequested) {
      pauseRequested = false;
      const resumed = new Promise<void>((r) => (resume = r));
      await send({ type: 'paused', ops: n });
      await resumed;
      resume = null;
    }
  }
  await send({ type: 'done', ops: n });
  process.disconnect();
}

main(JSON.parse(process.argv[2]) as ClientArgs).catch((e) => {
  process.stderr.write(`soak client: ${(e as Error).stack ?? e}\n`);
  process.exit(2);
});
