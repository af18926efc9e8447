// multidevs in a real guest: a random nested XFS/tmpfs tree (plus a bind mount that shows one of its
// filesystems at a second path) exported WITHOUT submount announcements, so the guest sees the whole
// tree as one filesystem (one st_dev) and only the inode numbers can tell objects apart.
//
// One guest boot carries four virtio-fs devices on the same tree, one per column of the table:
//   vfsd remap   every (st_dev, st_ino) unique; one object keeps one number (hard links, the second
//                path, after drop_caches); then vfsd restarts with the same --state-dir and a second
//                boot, reaching the devices in another order, must see the same numbers;
//   vfsd forbid  ENODEV at and below every mount point of another device, names still listed, one
//                log line per device;
//   vfsd warn    host inode numbers unchanged, one log line per device naming its path;
//   virtiofsd    the C daemon (no multidevs) with announce_submounts off, judged as remap is: it
//                passes host numbers through, so the tree's filesystems collide (expected failure).
// The tree always holds a collision for a pass-through server: it has at least three mounts of two
// kinds, so two of them are the same kind, and fresh filesystems of one kind number alike.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  type ExpectedFailures,
  expectedFailureOf,
  guestScript,
  mountsUnder,
  reportChecks,
  runSeed,
} from '../helpers/acceptance';
import { ComparisonTable } from '../helpers/compare-table';
import {
  bootGuest,
  type GuestCheck,
  type GuestRun,
  guestUnavailable,
  selectedServers,
  type ServerHandle,
  type ServerLauncher,
  startVfsd,
  startVirtiofsd,
} from '../helpers/guest';
import { describePlan, makeShareDir, materializeTree, MountSet, mountOf, planTree, type TreeManifest, type TreePlan } from '../helpers/host-mounts';
import { compareTree, hostScan, parseScan, type Scan } from '../helpers/tree-compare';

const TREE = 'tree';
const ALIAS = 'alias';
const REMAP_MARKER = 1n << 63n;

type Column = 'vfsd remap' | 'vfsd forbid' | 'vfsd warn' | 'virtiofsd';

interface Share {
  column: Column;
  /** virtio-fs tag, also the prefix of the guest's result and data names. */
  tag: string;
  server: 'vfsd' | 'virtiofsd';
  launcher: ServerLauncher;
  args: string[];
}

const expected: ExpectedFailures = {
  virtiofsd: [
    {
      pattern: /\/inode-identity@/,
      reason:
        'the C virtiofsd has no multidevs: with announce_submounts off it passes host inode numbers through, so objects of different host filesystems collide in the one filesystem the guest sees',
    },
  ],
};

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function header(vars: Record<string, string[]>): string {
  return Object.entries(vars).map(([k, v]) => `${k}=${quote(v.join(' '))}\n`).join('');
}

function check(name: string, problems: string[], okDetail = ''): GuestCheck {
  const shown = problems.length <= 6 ? problems.join(', ') : `${problems.slice(0, 6).join(', ')} … (${problems.length} in all)`;
  return { name, ok: problems.length === 0, detail: problems.length ? shown : okDetail };
}

// ---------------------------------------------------------------------------------------------
// The tree

/** The plan's tree plus `alias`: a bind mount of the second mount's `sub` (nested in the first)
 *  on the share's own filesystem, so one filesystem is reachable by two paths. */
async function buildTree(set: MountSet, plan: TreePlan): Promise<TreeManifest> {
  const m = await materializeTree(set, plan);
  const target = plan.mounts[1];
  const base = path.join(set.shareDir, TREE);
  const sentinel = `${ALIAS}/.sentinel-${ALIAS}`;
  fs.mkdirSync(path.join(base, ALIAS));
  fs.writeFileSync(path.join(base, sentinel), 'sentinel: hidden by the alias bind mount\n');
  await set.bind(path.join(base, target.rel, 'sub'), path.join(base, ALIAS));
  m.mounts.push({ id: ALIAS, rel: ALIAS, fstype: 'bind', fsKey: target.id, parentId: null });
  for (const [rel, f] of [...m.files]) {
    if (rel.startsWith(`${target.rel}/sub/`)) m.files.set(`${ALIAS}/${rel.slice(target.rel.length + 5)}`, { ...f, mountId: ALIAS });
  }
  m.hiddenSentinels.push(sentinel);
  return m;
}

/** The filesystem a mount shows (a bind shows its source's). */
function fsKeyOf(m: TreeManifest, id: string): string {
  return m.mounts.find((x) => x.id === id)?.fsKey ?? id;
}

// ---------------------------------------------------------------------------------------------
// Judging one scan

const at = (c: string, label: string) => `${TREE}/${c}@${label}`;

/** Paths that are one host object (same host dev and ino) must be one object in the guest too,
 *  across mounts as well (the alias); counts the cross-mount groups so the check cannot pass empty. */
function samePathsSameIno(m: TreeManifest, label: string, guest: Scan, host: Scan): GuestCheck {
  const groups = new Map<string, string[]>();
  for (const [p, h] of host.entries) {
    if (!guest.entries.has(p)) continue;
    const k = `${h.dev}:${h.ino}`;
    groups.set(k, [...(groups.get(k) ?? []), p]);
  }
  const problems: string[] = [];
  let links = 0;
  let crossMount = 0;
  for (const paths of groups.values()) {
    if (paths.length < 2) continue;
    links++;
    if (new Set(paths.map((p) => mountOf(m, p))).size > 1) crossMount++;
    const ids = new Set(paths.map((p) => `${guest.entries.get(p)!.dev}:${guest.entries.get(p)!.ino}`));
    if (ids.size > 1) problems.push(`${paths.join(' = ')} show ${[...ids].join(' / ')}`);
  }
  if (crossMount === 0) problems.push('the tree has no object reachable through two mounts: nothing proven');
  return check(at('one-object-one-number', label), problems, `${links} objects with several paths, ${crossMount} of them through two mounts`);
}

/** Nothing is announced, so the guest sees one filesystem: one st_dev for the whole tree. */
function oneStDev(label: string, guest: Scan): GuestCheck {
  const devs = new Set([...guest.entries.values()].map((e) => e.dev));
  return check(at('st_dev-single', label), devs.size === 1 ? [] : [`${devs.size} st_dev values: ${[...devs].join(', ')}`], `st_dev ${[...devs][0] ?? '?'}`);
}

/** The tree must hold two host objects with one st_ino on different devices, or a uniqueness
 *  check proves nothing. */
function hostCollides(host: Scan): GuestCheck {
  const devsByIno = new Map<string, Set<string>>();
  for (const e of host.entries.values()) devsByIno.set(e.ino, (devsByIno.get(e.ino) ?? new Set()).add(e.dev));
  const shared = [...devsByIno].filter(([, d]) => d.size > 1).map(([ino]) => ino);
  return check(`${TREE}/host-has-ino-collisions`, shared.length ? [] : ['no st_ino is used on two host devices'], `${shared.length} host inode numbers used on several devices`);
}

/** The remap numbering: the root device's objects keep their host numbers, the others carry the
 *  remap marker (>= 2^63). */
function remapInEffect(m: TreeManifest, label: string, guest: Scan, host: Scan): GuestCheck {
  const problems: string[] = [];
  let remapped = 0;
  for (const [p, g] of guest.entries) {
    const h = host.entries.get(p);
    if (!h) continue;
    const foreign = mountOf(m, p) !== '';
    if (foreign && BigInt(g.ino) < REMAP_MARKER) problems.push(`${p}: ${g.ino} not remapped`);
    if (!foreign && g.ino !== h.ino) problems.push(`${p}: ${g.ino} instead of host ${h.ino}`);
    if (foreign) remapped++;
  }
  return check(at('remapped-numbers', label), problems, `${remapped} objects on other devices remapped`);
}

function inoEqualsHost(label: string, guest: Scan, host: Scan): GuestCheck {
  const problems: string[] = [];
  for (const [p, g] of guest.entries) {
    const h = host.entries.get(p);
    if (h && g.ino !== h.ino) problems.push(`${p}: ${g.ino} vs host ${h.ino}`);
  }
  return check(at('ino-equals-host', label), problems, `${guest.entries.size} entries`);
}

/** The same path has the same number at another moment (after drop_caches, after a restart). */
function sameNumbers(name: string, now: Scan, before: Scan | undefined): GuestCheck {
  if (!before) return check(name, ['no earlier scan']);
  const problems: string[] = [];
  let n = 0;
  for (const [p, e] of now.entries) {
    const b = before.entries.get(p);
    if (!b) continue;
    n++;
    if (b.ino !== e.ino) problems.push(`${p}: ${b.ino} then ${e.ino}`);
  }
  if (n === 0) problems.push('no path in common');
  return check(name, problems, `${n} paths`);
}

/** compareTree without its submount criteria: nothing is announced, so the guest rightly shows one
 *  st_dev across mounts (replaced by st_dev-single); `identity: false` also drops the uniqueness
 *  criterion (warn passes colliding host numbers through by design). */
function judgeScan(m: TreeManifest, label: string, guest: Scan, host: Scan, identity: boolean): GuestCheck[] {
  const drop = [at('st_dev-across-mounts', label), ...(identity ? [] : [at('inode-identity', label)])];
  return [...compareTree(m, label, guest, host).filter((c) => !drop.includes(c.name)), oneStDev(label, guest)];
}

// ---------------------------------------------------------------------------------------------
// forbid

interface Forbidden {
  /** Tree-relative mount point (on the share's own filesystem). */
  rel: string;
  /** A file inside it, relative to the mount point. */
  file: string;
  fsKey: string;
}

function forbiddenOf(m: TreeManifest): Forbidden[] {
  return m.mounts
    .filter((x) => x.parentId === null)
    .map((x) => ({ rel: x.rel, file: x.id === ALIAS ? 'g.bin' : 'f0.bin', fsKey: x.fsKey }));
}

const ENODEV = 19;
const ENODEV_TEXT = 'No such device';

function judgeForbidScan(m: TreeManifest, label: string, guest: Scan, host: Scan): GuestCheck[] {
  const forbidden = forbiddenOf(m);
  const under = (p: string) => forbidden.find((f) => p === f.rel || p.startsWith(f.rel + '/'));
  const errs = new Map<string, number>();
  const other: string[] = [];
  for (const e of guest.errors) {
    const x = /^ERR (\S+) stat (\d+)$/.exec(e);
    if (x) errs.set(x[1], Number(x[2]));
    else other.push(e);
  }
  const listed: string[] = [];
  for (const f of forbidden) {
    if (!errs.has(f.rel)) listed.push(`${f.rel} not listed (or not refused)`);
    else if (errs.get(f.rel) !== ENODEV) listed.push(`${f.rel}: errno ${errs.get(f.rel)}`);
  }
  for (const [p, e] of errs) if (!forbidden.some((f) => f.rel === p)) listed.push(`${p}: unexpected errno ${e}`);
  listed.push(...other.map((o) => `scan: ${o}`));
  const below = [...guest.entries.keys()].filter((p) => under(p)).map((p) => `visible ${p}`);
  // Everything of the export root's own device is served as usual, with host numbers.
  const root: string[] = [];
  let served = 0;
  for (const [p, h] of host.entries) {
    if (under(p)) continue;
    const g = guest.entries.get(p);
    served++;
    if (!g) root.push(`missing ${p}`);
    else if (g.type !== h.type || g.extra !== h.extra || g.size !== h.size) root.push(`${p} differs`);
    else if (g.ino !== h.ino) root.push(`${p}: ino ${g.ino} vs host ${h.ino}`);
  }
  return [
    check(at('forbid-listed-and-enodev', label), listed, `${forbidden.length} mount points listed, each ENODEV`),
    check(at('forbid-nothing-below', label), below),
    check(at('forbid-root-device-served', label), root, `${served} entries equal to the host's`),
  ];
}

/** The explicit probes of the first moment: stat, open inside, ls inside, ls of the parent. */
function judgeForbidProbes(m: TreeManifest, tag: string, run: GuestRun): GuestCheck[] {
  const problems = { stat: [] as string[], open: [] as string[], ls: [] as string[], parent: [] as string[] };
  const lines = (kind: string, rel: string) => run.data.get(`${tag}:${kind}:${rel}`);
  const rc = (l: string[]) => Number(l.find((x) => x.startsWith('.rc '))?.slice(4) ?? NaN);
  const errText = (l: string[]) => l.filter((x) => x.startsWith('.err ')).join(' ');
  const forbidden = forbiddenOf(m);
  for (const f of forbidden) {
    const st = lines('stat', f.rel);
    if (!st) problems.stat.push(`${f.rel}: no data`);
    else if (!st.some((x) => x.endsWith(` ERR ${ENODEV}`))) problems.stat.push(`${f.rel}: ${st.join(' ')}`);
    for (const [kind, bucket] of [['open', problems.open], ['ls', problems.ls]] as const) {
      const l = lines(kind, f.rel);
      if (!l) bucket.push(`${f.rel}: no data`);
      else if (rc(l) === 0 || !errText(l).includes(ENODEV_TEXT)) bucket.push(`${f.rel}: rc ${rc(l)} ${errText(l) || l.join(' ')}`);
    }
    // The parent still lists the name. busybox ls lstat()s each entry it lists and reports a
    // refused one as "ls: DIR/NAME: No such device": the name came from the listing all the same.
    const name = path.basename(f.rel);
    const par = lines('ls-parent', f.rel);
    if (!par) problems.parent.push(`${f.rel}: ls: no data`);
    else if (!par.includes(name) && !par.some((x) => x.startsWith('.err ') && x.endsWith(`/${name}: ${ENODEV_TEXT}`))) {
      problems.parent.push(`ls: ${name} not in: ${par.join(' ')}`);
    }
    const glob = lines('glob-parent', f.rel);
    if (!glob) problems.parent.push(`${f.rel}: glob: no data`);
    else if (rc(glob) !== 0 || !glob.includes(name)) problems.parent.push(`glob: ${name} not in: ${glob.join(' ')}`);
  }
  const n = `${forbidden.length} mount points`;
  return [
    check(`${TREE}/forbid-stat-enodev`, problems.stat, n),
    check(`${TREE}/forbid-open-inside-enodev`, problems.open, n),
    check(`${TREE}/forbid-ls-inside-enodev`, problems.ls, n),
    check(`${TREE}/forbid-ls-parent-lists-name`, problems.parent, n),
  ];
}

// ---------------------------------------------------------------------------------------------
// Logs

function logMessages(serverLog: string): string[] {
  const out: string[] = [];
  for (const l of serverLog.split('\n')) {
    try {
      const j = JSON.parse(l) as { msg?: unknown };
      if (typeof j.msg === 'string') out.push(j.msg);
    } catch {
      // not a JSON line
    }
  }
  return out;
}

/**
 * One line per device the guest reached, naming one of that device's mount points. `reachable`
 * are the ids of the tree's mounts the guest could reach (a bind counts as its source's device).
 */
function oneLinePerDevice(name: string, messages: string[], marker: string, shareReal: string, m: TreeManifest, reachable: string[]): GuestCheck {
  const lines = messages.filter((x) => x.includes(marker));
  const byFs = new Map<string, string[]>();
  for (const id of reachable) {
    const mt = m.mounts.find((x) => x.id === id)!;
    byFs.set(mt.fsKey, [...(byFs.get(mt.fsKey) ?? []), path.join(shareReal, TREE, mt.rel)]);
  }
  const problems: string[] = [];
  for (const [fsKey, points] of byFs) {
    const mine = lines.filter((x) => points.some((p) => x.includes(`path ${p} on device `)));
    if (mine.length !== 1) problems.push(`${fsKey}: ${mine.length} lines naming ${points.join(' or ')}`);
  }
  if (lines.length !== byFs.size) problems.push(`${lines.length} lines for ${byFs.size} devices: ${JSON.stringify(lines)}`);
  return check(name, problems, `${byFs.size} devices, one line each`);
}

// ---------------------------------------------------------------------------------------------
// Servers and boots

interface Started {
  share: Share;
  handle: ServerHandle;
  socketPath: string;
}

async function startAll(shares: Share[], shareDir: string, sockDir: string): Promise<Started[]> {
  const started: Started[] = [];
  try {
    for (const s of shares) {
      const socketPath = path.join(sockDir, `${s.tag}.sock`);
      const handle = await s.launcher({ sharedDir: shareDir, socketPath, announceSubmounts: false, extraArgs: s.args });
      started.push({ share: s, handle, socketPath });
    }
  } catch (e) {
    for (const x of started) await x.handle.stop();
    throw e;
  }
  return started;
}

async function bootWith(started: Started[], script: string): Promise<GuestRun> {
  const [first, ...rest] = started;
  try {
    return await bootGuest({
      socketPath: first.socketPath,
      tag: first.share.tag,
      extraShares: rest.map((x) => ({ socketPath: x.socketPath, tag: x.share.tag })),
      script,
      timeoutMs: 300_000,
    });
  } finally {
    // vfsd exits by itself when QEMU goes away (and saves its state); stop() waits for that.
    for (const x of started) await x.handle.stop();
  }
}

/** Splits the guest's results by tag prefix; unprefixed ones (guest/completed) go to everyone. */
function resultsOf(run: GuestRun, tag: string): GuestCheck[] {
  const out: GuestCheck[] = [];
  for (const r of run.results) {
    const i = r.name.indexOf(':');
    if (i < 0) out.push(r);
    else if (r.name.slice(0, i) === tag) out.push({ ...r, name: r.name.slice(i + 1) });
  }
  return out;
}

interface Outcome {
  checks: GuestCheck[];
  run: GuestRun;
  serverLog: string;
}

async function runAll(shares: Share[], plan: TreePlan): Promise<Map<Column, Outcome>> {
  const shareDir = makeShareDir();
  const shareReal = fs.realpathSync(shareDir);
  const sockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-sock-'));
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-state-'));
  const remap = shares.find((s) => s.column === 'vfsd remap');
  if (remap) remap.args = [...remap.args, `--state-dir=${stateDir}`];
  const set = await MountSet.create(shareDir);
  let cleaned = false;
  try {
    const m = await buildTree(set, plan);
    const host = hostScan(path.join(shareDir, TREE));
    const labels = ['mounted', 'dropped'];
    const base = {
      TREE: [TREE],
      HIDDEN: m.hiddenSentinels,
      FORBIDDEN: forbiddenOf(m).map((f) => `${f.rel}:${f.file}`),
    };
    const first = await startAll(shares, shareDir, sockDir);
    const run1 = await bootWith(first, header({ ...base, SHARES: shares.map((s) => s.tag), LABELS: labels, REVISIT: [] }) + guestScript('multidevs.sh'));
    const logs = new Map(first.map((x) => [x.share.column, x.handle.log()]));

    // Second boot: vfsd remap again on the same state dir. The guest first reaches the foreign
    // mount points in the reverse of the order the first boot met them, so numbers handed out in
    // first-seen order (a registry that was not kept) would differ.
    let run2: GuestRun | undefined;
    let log2 = '';
    const scanOf = (run: GuestRun, tag: string, label: string) => parseScan(run.data.get(`${tag}:scan:${label}`));
    if (remap) {
      const seen = [...scanOf(run1, remap.tag, 'mounted').entries.keys()];
      const order = m.mounts
        .filter((x) => x.parentId === null)
        .map((x) => x.rel)
        .sort((a, b) => seen.indexOf(a) - seen.indexOf(b))
        .reverse();
      t.comment(`restart boot reaches the top-level mounts in this order: ${order.join(', ')}`);
      const again = await startAll([remap], shareDir, sockDir);
      run2 = await bootWith(again, header({ ...base, SHARES: [remap.tag], LABELS: ['restart'], REVISIT: order }) + guestScript('multidevs.sh'));
      log2 = again[0].handle.log();
    }

    const out = new Map<Column, Outcome>();
    for (const s of shares) {
      const checks = resultsOf(run1, s.tag);
      const scans = labels.map((l) => scanOf(run1, s.tag, l));
      const messages = logMessages(logs.get(s.column) ?? '');
      switch (s.column) {
        case 'vfsd remap':
        case 'virtiofsd':
          checks.push(hostCollides(host));
          labels.forEach((l, i) => {
            checks.push(...judgeScan(m, l, scans[i], host, true), samePathsSameIno(m, l, scans[i], host));
            if (s.column === 'vfsd remap') checks.push(remapInEffect(m, l, scans[i], host));
            else checks.push(inoEqualsHost(l, scans[i], host));
          });
          checks.push(sameNumbers(at('same-numbers-after-drop-caches', 'dropped'), scans[1], scans[0]));
          break;
        case 'vfsd warn':
          labels.forEach((l, i) => checks.push(...judgeScan(m, l, scans[i], host, false), samePathsSameIno(m, l, scans[i], host), inoEqualsHost(l, scans[i], host)));
          checks.push(oneLinePerDevice(`${TREE}/warn-one-log-line-per-device`, messages, 'inode numbers may collide', shareReal, m, m.mounts.map((x) => x.id)));
          break;
        case 'vfsd forbid':
          labels.forEach((l, i) => checks.push(...judgeForbidScan(m, l, scans[i], host)));
          checks.push(...judgeForbidProbes(m, s.tag, run1));
          checks.push(oneLinePerDevice(`${TREE}/forbid-one-log-line-per-device`, messages, '(--multidevs=forbid)', shareReal, m,
            m.mounts.filter((x) => x.parentId === null).map((x) => x.id)));
          break;
      }
      let run = run1;
      let serverLog = logs.get(s.column) ?? '';
      if (s.column === 'vfsd remap' && run2) {
        const restart = scanOf(run2, s.tag, 'restart');
        const guest2 = resultsOf(run2, s.tag).map((c) => ({ ...c, name: `restart/${c.name}` }));
        checks.push(...guest2);
        checks.push(...judgeScan(m, 'restart', restart, host, true), samePathsSameIno(m, 'restart', restart, host), remapInEffect(m, 'restart', restart, host));
        checks.push(sameNumbers(at('same-numbers-after-restart', 'restart'), restart, scans[0]));
        // The console shown on failure: the boot that went wrong.
        if (run2.results.some((c) => !c.ok)) run = run2;
        serverLog = `${serverLog}\n--- restarted ---\n${log2}`;
      }
      out.set(s.column, { checks, run, serverLog });
    }
    t.comment(`boot 1 (${shares.length} devices): ${run1.durationMs} ms${run2 ? `; boot 2 (restart): ${run2.durationMs} ms` : ''}`);
    await set.cleanup();
    cleaned = true;
    return out;
  } finally {
    if (!cleaned) await set.cleanup().catch(() => {});
    if (mountsUnder(shareDir).length === 0) fs.rmSync(shareDir, { recursive: true, force: true });
    fs.rmSync(sockDir, { recursive: true, force: true });
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

const why = guestUnavailable();
if (why) {
  t.plan(0, why);
} else {
  t.setTimeout(1_800_000);
  const seed = runSeed();
  t.comment(`seed ${seed} (repeat with VFSD_ACCEPT_SEED=${seed})`);
  const plan = planTree(seed, TREE);
  t.comment(`${TREE}: ${describePlan(plan)}, ${TREE}/${ALIAS} = bind of ${TREE}/${plan.mounts[1].rel}/sub`);
  const chosen = new Set(selectedServers().map(([name]) => name));
  const shares: Share[] = [
    { column: 'vfsd remap' as const, tag: 'remap', server: 'vfsd' as const, launcher: startVfsd, args: ['--multidevs=remap'] },
    { column: 'vfsd forbid' as const, tag: 'forbid', server: 'vfsd' as const, launcher: startVfsd, args: ['--multidevs=forbid'] },
    { column: 'vfsd warn' as const, tag: 'warn', server: 'vfsd' as const, launcher: startVfsd, args: ['--multidevs=warn'] },
    { column: 'virtiofsd' as const, tag: 'virtiofsd', server: 'virtiofsd' as const, launcher: startVirtiofsd, args: [] },
  ].filter((s) => chosen.has(s.server));
  const table = new ComparisonTable(`multidevs (seed ${seed}): the nested tree without submount announcements`);
  let outcomes: Map<Column, Outcome> | undefined;
  t.before(async () => {
    outcomes = await runAll(shares, plan);
  });
  const runs = shares.map((s) =>
    t.test(s.column, async (st) => {
      const o = outcomes?.get(s.column);
      if (!o) {
        st.fail('no outcome (the boots failed before judging)');
        return;
      }
      const known = expectedFailureOf(expected, s.server);
      table.record(s.column, o.checks, (c) => !!known(c));
      reportChecks(st as unknown as Parameters<typeof reportChecks>[0], s.server, o.checks, expected, o);
    }),
  );
  void Promise.all(runs).then(() => {
    t.comment(`\n${table.render()}`);
    table.save('multidevs');
  });
}
