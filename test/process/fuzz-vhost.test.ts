// A short, bounded fuzz run for CI through the real vfsd command in VM mode (vhost-user), driven by
// the QEMU-playing test front end. The long run is scripts/fuzz.ts (--mode vhost).
import t from 'tap';
import { runVhost } from '../fuzz/vhost';
import { isRoot } from '../fuzz/export';

const SEED = Number(process.env.VFSD_FUZZ_SEED ?? 3);
// A fixed amount of work, not a time slice: the assertions never depend on machine load.
const REQUESTS = Number(process.env.VFSD_FUZZ_REQUESTS ?? 2400);
const SECONDS = Number(process.env.VFSD_FUZZ_SECONDS ?? 300);

t.test(`vhost-user fuzz through the vfsd command, seed ${SEED}`, { skip: !isRoot && 'needs root (tmpfs export)' }, async (t) => {
  t.comment(`replay with node dist/scripts/fuzz.js --mode vhost --seed ${SEED} --requests ${REQUESTS}`);
  const r = await runVhost({ seed: SEED, requests: REQUESTS, seconds: SECONDS });
  t.ok(r.requests >= REQUESTS, `${r.requests} requests in ${r.cycles} cycles`);
  t.ok(r.cycles >= 3, 'several DESTROY cycles, each checked for vfsd fds, RSS and the canary');
  t.ok(r.fds > 0, `vfsd held ${r.fds} fds after each INIT and after each DESTROY`);
});
