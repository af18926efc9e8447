// Submounts in a real guest: four random nested XFS/tmpfs trees, one made in each phase (before the
// server starts, after it started, after the guest booted, after the guest mounted), all checked in
// one boot after the first mount and again after the guest unmounts and remounts.
import t from 'tap';
import { eachServer, type ExpectedFailures, PHASES, runSeed, runTreeSession, type TreeSpec } from '../helpers/acceptance';
import { ComparisonTable } from '../helpers/compare-table';
import { guestUnavailable } from '../helpers/guest';
import { describePlan, materializeTree, planTree, prepareTree } from '../helpers/host-mounts';

const expected: ExpectedFailures = {};

const why = guestUnavailable();
if (why) {
  t.plan(0, why);
} else {
  const seed = runSeed();
  t.comment(`seed ${seed} (repeat with VFSD_ACCEPT_SEED=${seed})`);
  const specs: TreeSpec[] = PHASES.map((phase, i) => {
    const plan = planTree((seed + i * 1000003) >>> 0, `tree-${phase}`);
    t.comment(`${phase}: ${describePlan(plan)}`);
    return {
      root: plan.root,
      phase,
      hidden: plan.mounts.map((m) => m.sentinel),
      visible: [],
      prepare: (share: string) => prepareTree(share, plan),
      make: (set) => materializeTree(set, plan),
    };
  });
  const table = new ComparisonTable(`submounts (seed ${seed}): nested XFS/tmpfs trees made in four phases`);
  eachServer(t, table, 'submounts', expected, async (_server, launcher) =>
    runTreeSession(launcher, specs, { announceSubmounts: true }),
  );
}
