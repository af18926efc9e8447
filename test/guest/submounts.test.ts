// Submounts in a real guest: four random nested XFS/tmpfs trees, one made in each phase (before the
// server starts, after it started, after the guest booted, after the guest mounted), all checked in
// one boot after the first mount and again after the guest unmounts and remounts.
// A second boot repeats the late phases on a host whose share is a private mount (no systemd-style
// shared propagation): a server that sandboxes itself in a mount namespace misses those mounts.
import t from 'tap';
import {
  eachServer,
  type ExpectedFailures,
  PHASES,
  type Phase,
  runSeed,
  runTreeSession,
  type TreeSpec,
} from '../helpers/acceptance';
import { ComparisonTable } from '../helpers/compare-table';
import { guestUnavailable } from '../helpers/guest';
import { describePlan, materializeTree, planTree, prepareTree } from '../helpers/host-mounts';

const expected: ExpectedFailures = {
  virtiofsd: [
    {
      pattern: /^private-/,
      reason:
        'the C virtiofsd pivots into its own mount namespace when QEMU connects; with private propagation it never sees mounts made later',
    },
  ],
};

function treeSpec(seed: number, root: string, phase: Phase): TreeSpec {
  const plan = planTree(seed, root);
  t.comment(`${root}: ${describePlan(plan)}`);
  return {
    root,
    phase,
    hidden: plan.mounts.map((m) => m.sentinel),
    visible: [],
    prepare: (share: string) => prepareTree(share, plan),
    make: (set) => materializeTree(set, plan),
  };
}

const why = guestUnavailable();
if (why) {
  t.plan(0, why);
} else {
  const seed = runSeed();
  t.comment(`seed ${seed} (repeat with VFSD_ACCEPT_SEED=${seed})`);
  const shared = PHASES.map((phase, i) => treeSpec((seed + i * 1000003) >>> 0, `tree-${phase}`, phase));
  const late: Phase[] = ['after-boot', 'after-mount'];
  const priv = late.map((phase, i) => treeSpec((seed + (i + 7) * 1000003) >>> 0, `private-${phase}`, phase));
  const table = new ComparisonTable(`submounts (seed ${seed}): nested XFS/tmpfs trees made in four phases`);
  eachServer(t, table, 'submounts', expected, async (server, launcher) => {
    const a = await runTreeSession(launcher, shared, { announceSubmounts: true });
    // A private host mount made after the server entered its own mount namespace cannot reach it
    // (nothing propagates from a private mount), sandboxed vfsd included: the private boot runs
    // vfsd unsandboxed, where it does see them. The shared boot above runs it sandboxed (the
    // default as root), where slave propagation brings the late mounts in.
    const b = await runTreeSession(launcher, priv, { announceSubmounts: true, sharedPropagation: false, serverArgs: server === 'vfsd' ? ['--sandbox=none'] : undefined });
    const tag = (c: { name: string }) => c.name.startsWith('guest/') || c.name.startsWith('share/');
    return {
      // The second boot's own guest/share checks get a prefix so both boots show in the table.
      checks: [...a.checks, ...b.checks.map((c) => (tag(c) ? { ...c, name: `private-host/${c.name}` } : c))],
      run: a.run.results.some((c) => !c.ok) ? a.run : b.run,
      serverLog: `${a.serverLog}\n--- second boot ---\n${b.serverLog}`,
    };
  });
}
