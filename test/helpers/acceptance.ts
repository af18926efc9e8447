// Glue shared by the acceptance test files: tree sessions in phases, the seed, tap reporting and the
// side-by-side table.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { ComparisonTable } from './compare-table';
import {
  type GuestCheck,
  type GuestRun,
  repoRoot,
  guestUnavailable,
  runSession,
  type ServerLauncher,
  selectedServers,
} from './guest';
import { makeShareDir, MountSet, type TreeManifest } from './host-mounts';
import { checkGuestSubmounts, compareTree, hostScan, parseScan } from './tree-compare';

/** When a tree's mounts are made, relative to the server and the guest. */
export type Phase = 'before-server' | 'after-server' | 'after-boot' | 'after-mount';
export const PHASES: Phase[] = ['before-server', 'after-server', 'after-boot', 'after-mount'];

/** Where the guest mounts the share (scripts/guest/init default). */
export const GUEST_SHARE = '/mnt/share';

/** The scan moments of test/guest/scripts/trees.sh: after the first mount, and after umount+mount. */
export const SCAN_LABELS = ['mounted', 'remounted'] as const;

export interface TreeSpec {
  /** Tree root, relative to the share. */
  root: string;
  phase: Phase;
  /** Share-relative paths that a mount hides / that stay visible, known before the tree exists. */
  hidden: string[];
  visible: string[];
  /** Creates what lives on the share's own filesystem (before the server starts). */
  prepare?: (shareDir: string) => void;
  /** Makes the mounts, at the phase's moment. */
  make: (set: MountSet) => Promise<TreeManifest>;
}

export interface TreeSessionResult {
  checks: GuestCheck[];
  run: GuestRun;
  serverLog: string;
  manifests: Map<string, TreeManifest>;
}

/** The seed of this run: VFSD_ACCEPT_SEED, or a fresh one (printed by the caller). */
export function runSeed(): number {
  const env = process.env.VFSD_ACCEPT_SEED;
  if (env) return Number.parseInt(env, 10) >>> 0;
  return (Math.random() * 0xffffffff) >>> 0 || 1;
}

/** runSeed(), printed on the test's output with how to repeat the run. */
export function announcedSeed(t: { comment(msg: string): void }): number {
  const seed = runSeed();
  t.comment(`seed ${seed} (repeat with VFSD_ACCEPT_SEED=${seed})`);
  return seed;
}

export function guestScript(name: string): string {
  return fs.readFileSync(path.join(repoRoot(), 'test', 'guest', 'scripts', name), 'utf8');
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The header trees.sh expects: TREES and a check_sentinels function (lookups by name). */
function treesHeader(specs: TreeSpec[]): string {
  const lines = [`TREES=${shellQuote(specs.map((s) => s.root).join(' '))}`, 'check_sentinels() {'];
  for (const s of specs) {
    const hidden = s.hidden.map((p) => shellQuote(`${s.root}/${p}`)).join(' ');
    const visible = s.visible.map((p) => shellQuote(`${s.root}/${p}`)).join(' ');
    lines.push(`  _bad=`);
    if (hidden) lines.push(`  for _p in ${hidden}; do if [ -e "$VFSD_MNT/$_p" ]; then _bad="$_bad visible:$_p"; fi; done`);
    if (visible) lines.push(`  for _p in ${visible}; do if [ ! -e "$VFSD_MNT/$_p" ]; then _bad="$_bad missing:$_p"; fi; done`);
    lines.push(
      `  if [ -z "$_bad" ]; then vfsd_result ${shellQuote(`${s.root}/sentinel-lookup@`)}"$1" PASS; ` +
        `else vfsd_result ${shellQuote(`${s.root}/sentinel-lookup@`)}"$1" FAIL "$_bad"; fi`,
    );
  }
  lines.push('  :', '}', '');
  return lines.join('\n');
}

/**
 * One server, one guest boot, several trees each made in its phase. The guest (trees.sh) scans
 * every tree after mounting and again after unmount + mount; the host judges each scan against
 * its own view of the tree.
 */
export async function runTreeSession(
  launcher: ServerLauncher,
  specs: TreeSpec[],
  opts: {
    announceSubmounts: boolean;
    xattr?: boolean;
    /** More server arguments, e.g. vfsd's --no-announce-submounts --multidevs=remap. */
    serverArgs?: string[];
    /** false: the share is a private mount (see MountSet.create). Default true. */
    sharedPropagation?: boolean;
    timeoutMs?: number;
  },
): Promise<TreeSessionResult> {
  const share = makeShareDir();
  const set = await MountSet.create(share, { shared: opts.sharedPropagation });
  let cleaned = false;
  try {
    for (const s of specs) {
      fs.mkdirSync(path.join(share, s.root), { recursive: true });
      s.prepare?.(share);
    }
    const manifests = new Map<string, TreeManifest>();
    const make = async (phase: Phase) => {
      for (const s of specs) if (s.phase === phase) manifests.set(s.root, await s.make(set));
    };
    await make('before-server');
    const script = treesHeader(specs) + guestScript('trees.sh');
    const { run, serverLog } = await runSession({
      launcher,
      server: { sharedDir: share, announceSubmounts: opts.announceSubmounts, xattr: opts.xattr, extraArgs: opts.serverArgs },
      afterServerStart: () => make('after-server'),
      boot: {
        tag: 'vfsd',
        script,
        timeoutMs: opts.timeoutMs ?? 300_000,
        onSync: async (name) => {
          if (name === 'booted') await make('after-boot');
          else if (name === 'mounted') await make('after-mount');
        },
      },
    });
    const checks = [...run.results];
    for (const s of specs) {
      const m = manifests.get(s.root);
      if (!m) {
        checks.push({ name: `${s.root}/made`, ok: false, detail: `the ${s.phase} mounts were never made` });
        continue;
      }
      const host = hostScan(path.join(share, s.root));
      for (const label of SCAN_LABELS) {
        checks.push(...compareTree(m, label, parseScan(run.data.get(`scan:${label}:${s.root}`)), host));
        if (opts.announceSubmounts) {
          checks.push(checkGuestSubmounts(m, label, run.data.get(`mountinfo:${label}`), GUEST_SHARE));
        }
      }
    }
    await set.cleanup();
    cleaned = true;
    return { checks, run, serverLog, manifests };
  } finally {
    if (!cleaned) await set.cleanup();
    // Only once nothing is mounted below it any more: rm must never walk into a mounted fs.
    if (mountsUnder(share).length === 0) fs.rmSync(share, { recursive: true, force: true });
  }
}

/** Mount points at or below `dir`, from /proc/self/mountinfo. */
export function mountsUnder(dir: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p) => p !== undefined && (p === dir || p.startsWith(dir + '/')));
}

/** Known gaps of a server, shown as TODO instead of FAIL: server name -> check name patterns. */
export type ExpectedFailures = Record<string, { pattern: RegExp; reason: string }[]>;

export function expectedFailureOf(expected: ExpectedFailures, server: string) {
  return (check: string) => expected[server]?.find((e) => e.pattern.test(check));
}

type Tap = {
  ok(v: boolean, msg: string, extra?: Record<string, unknown>): void;
  comment(...m: unknown[]): void;
};

/** One tap assertion per check; expected failures become todo. Dumps logs when the boot failed. */
export function reportChecks(t: Tap, server: string, checks: GuestCheck[], expected: ExpectedFailures, logs: { run: GuestRun; serverLog: string }): void {
  const known = expectedFailureOf(expected, server);
  for (const c of checks) {
    const k = c.ok ? undefined : known(c.name);
    t.ok(c.ok, c.name, k ? { todo: k.reason, detail: c.detail } : c.ok ? {} : { detail: c.detail });
  }
  const done = checks.find((c) => c.name === 'guest/completed');
  t.comment(`${server}: ${done?.detail ?? ''}`);
  if (!done?.ok || checks.some((c) => !c.ok && !known(c.name))) {
    t.comment(`--- guest console (tail) ---\n${logs.run.console.slice(-4000)}`);
    t.comment(`--- ${server} log (tail) ---\n${logs.serverLog.slice(-3000)}`);
  }
}

interface TapLike {
  test(name: string, opts: { timeout: number }, fn: (t: any) => Promise<void>): Promise<unknown>;
  comment(...m: unknown[]): void;
  setTimeout(ms: number): void;
  plan(n: number, why?: string): void;
}
type ServerRun = { checks: GuestCheck[]; run: GuestRun; serverLog: string };

/** Runs `body` once per selected server as one tap subtest each, then prints the table. */
export function eachServer(
  t: Omit<TapLike, 'plan'>,
  table: ComparisonTable,
  fileStem: string,
  expected: ExpectedFailures,
  body: (server: string, launcher: ServerLauncher) => Promise<ServerRun>,
): void {
  // The whole file, when run directly with node (the runner gives tap --timeout itself).
  t.setTimeout(1_800_000);
  const runs = selectedServers().map(([server, launcher]) =>
    // One boot under TCG takes a minute or two on a busy machine; tap's own default is 30 s.
    t.test(server, { timeout: 900_000 }, async (st) => {
      const r = await body(server, launcher);
      table.record(server, r.checks, (c) => !!expectedFailureOf(expected, server)(c));
      reportChecks(st, server, r.checks, expected, r);
    }),
  );
  void Promise.all(runs).then(() => {
    t.comment(`\n${table.render()}`);
    table.save(fileStem);
  });
}

/** A whole guest comparison file: skipped with the reason where no guest can run; else eachServer
 *  with a table titled `title`, each server on a fresh share directory removed after its run. */
export function eachServerOnShare(t: TapLike, title: string, fileStem: string, expected: ExpectedFailures,
  body: (server: string, launcher: ServerLauncher, share: string) => Promise<ServerRun>): void {
  const why = guestUnavailable();
  if (why) return t.plan(0, why);
  eachServer(t, new ComparisonTable(title), fileStem, expected, async (server, launcher) => {
    const share = makeShareDir();
    try {
      return await body(server, launcher, share);
    } finally {
      fs.rmSync(share, { recursive: true, force: true });
    }
  });
}
