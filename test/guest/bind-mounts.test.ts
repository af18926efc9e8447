// Two bind mounts of one filesystem with another filesystem mounted inside only one of them: at
// every path the guest must see exactly what the host sees (the inner mount through one bind, the
// plain directory with its sentinel through the other). Once with the mounts made before the
// server starts (F on XFS), once after the guest mounted the share (F on tmpfs).
import t from 'tap';
import { eachServer, type ExpectedFailures, runSeed, runTreeSession, type TreeSpec } from '../helpers/acceptance';
import { ComparisonTable } from '../helpers/compare-table';
import { guestUnavailable } from '../helpers/guest';
import { BIND_TREE_HIDDEN, BIND_TREE_VISIBLE, buildBindTree, type FsType, prepareBindTree } from '../helpers/host-mounts';
import type { Phase } from '../helpers/acceptance';

const expected: ExpectedFailures = {};

const why = guestUnavailable();
if (why) {
  t.plan(0, why);
} else {
  const seed = runSeed();
  t.comment(`seed ${seed} (repeat with VFSD_ACCEPT_SEED=${seed})`);
  const trees: [string, Phase, FsType][] = [
    ['binds-before-server', 'before-server', 'xfs'],
    ['binds-after-mount', 'after-mount', 'tmpfs'],
  ];
  const specs: TreeSpec[] = trees.map(([root, phase, fstype], i) => ({
    root,
    phase,
    hidden: BIND_TREE_HIDDEN,
    visible: BIND_TREE_VISIBLE,
    prepare: (share: string) => prepareBindTree(share, root),
    make: (set) => buildBindTree(set, root, (seed + i * 7919) >>> 0, fstype),
  }));
  const table = new ComparisonTable('bind mounts: one filesystem bound twice, another fs inside only one bind');
  eachServer(t, table, 'bind-mounts', expected, async (_server, launcher) =>
    runTreeSession(launcher, specs, { announceSubmounts: true }),
  );
}
