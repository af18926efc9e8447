// Faults through a real /dev/fuse mount of the vfsd command: SIGKILL in the middle of heavy writes
// (everything the writer fsynced must be on the host, byte-exact, with and without passthrough),
// and SIGTERM under a writer mid-stream (the writer ends with success or a clean errno, never a
// hang; state saved; exit 0). The kill moment is seeded: a failure names the seed to replay.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startVfsd, isMounted } from '../helpers/vfsd-process';
import { checkFsynced, fsynced, prng, startWriter, waitFor, sleep, hangAfter } from '../helpers/faults';

const root = process.getuid?.() === 0;
const SEEDS = (process.env.VFSD_FAULT_SEEDS ?? '1,2').split(',').map(Number);

for (const mode of [[], ['--no-passthrough']]) {
  for (const seed of SEEDS) {
    t.test(`SIGKILL during writes ${mode.join(' ') || '(passthrough)'} seed ${seed}: fsynced data is on the host`,
      { skip: !root && 'needs root', timeout: 60000 }, async (t) => {
        const rnd = prng(seed);
        const v = await startVfsd(t, { args: mode });
        const log = path.join(v.base, 'fsync.log'); // outside the mount: survives the server
        const w = startWriter(v.mnt, log);
        t.teardown(() => { w.child.kill('SIGKILL'); });
        const wantLines = 1 + Math.floor(rnd() * 16);
        const reached = await waitFor(() => [...fsynced(log).values()].reduce((a, b) => a + b, 0) / 4 >= wantLines, 20000);
        t.ok(reached, `the writer got ${wantLines} fsyncs through before the kill`);
        await sleep(Math.floor(rnd() * 40));
        v.child.kill('SIGKILL');
        // The connection dies with the server: the writer's next request fails, it must not hang.
        const ended = await Promise.race([w.result, hangAfter(20000)]);
        t.match(ended, /^(error E[A-Z]+|done)$/, `the writer ended cleanly: ${ended}`);
        const record = fsynced(log);
        t.ok(record.size > 0, 'something was fsynced');
        t.same(checkFsynced(v.src, record), [], `fsynced blocks byte-exact on the host (${[...record].map(([f, n]) => `w${f}:${n}`).join(' ')})`);
        await v.stop();
        t.notOk(isMounted(v.mnt), 'the dead mount is gone after teardown');
        // A new server on the same export serves the same bytes.
        const again = await startVfsd(t, { sharedDir: v.src, args: mode });
        t.same(checkFsynced(again.mnt, record), [], 'a restarted vfsd serves the fsynced blocks');
        t.equal(await again.stop(), 0, 'and stops cleanly');
      });
  }
}

t.test('SIGTERM under a writer mid-stream: the writer ends cleanly, state saved, exit 0',
  { skip: !root && 'needs root', timeout: 60000 }, async (t) => {
    for (const mode of [[], ['--no-passthrough']]) {
      const state = fs.mkdtempSync('/tmp/vfsd-faults-state-');
      t.teardown(() => fs.rmSync(state, { recursive: true, force: true }));
      const v = await startVfsd(t, { args: [...mode, '--state-dir', state] });
      const log = path.join(v.base, 'fsync.log');
      // Held open across the signal, so the lazy unmount cannot end the session by itself:
      // vfsd has to end it (the grace path), and the writer must still not hang.
      const w = startWriter(v.mnt, log, 2, 8, 1_000_000);
      t.teardown(() => { w.child.kill('SIGKILL'); });
      t.ok(await waitFor(() => fsynced(log).size > 0, 20000), `${mode.join(" ") || "passthrough"}: writer is streaming`);
      const exited = new Promise<number | null>((r) => v.child.on('exit', r));
      v.child.kill('SIGTERM');
      const code = await Promise.race([exited, hangAfter(20000)]);
      t.equal(code, 0, `${mode.join(" ") || "passthrough"}: vfsd exits 0`);
      const ended = await Promise.race([w.result, hangAfter(20000)]);
      t.match(ended, /^(error E[A-Z]+|done)$/, `${mode.join(" ") || "passthrough"}: the writer ended with success or an errno: ${ended}`);
      t.ok(fs.existsSync(path.join(state, 'state.json')), `${mode.join(" ") || "passthrough"}: state saved to --state-dir`);
      t.same(checkFsynced(v.src, fsynced(log)), [], `${mode.join(" ") || "passthrough"}: what was fsynced before the signal is on the host`);
      t.notOk(isMounted(v.mnt), `${mode.join(" ") || "passthrough"}: unmounted`);
      await v.stop();
    }
  });
