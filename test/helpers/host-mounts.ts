// Nested host mount trees for the submount acceptance tests: loop-mounted XFS and tmpfs, randomly
// nested from a printed seed, each mount point hiding a sentinel file that no client may ever see.
//
// Planning is pure (planTree: seed -> plan), so a guest script can be generated for a tree whose
// mounts do not exist yet; materializeTree makes them at whatever moment the test chooses (before
// the server starts, after it started, after the guest booted, after the guest mounted).
//
// MountSet owns every mount and loop device it makes and releases them in reverse order. It first
// bind-mounts the share onto itself and marks it shared: a server that sandboxes itself in a mount
// namespace (the C virtiofsd does, with MS_SLAVE) then still receives mounts made after it
// started, as it would on any systemd host where / is shared.

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { genBytes, sha256 } from './guest';
import { onAbnormalExit } from './reaper';
import { prng } from './faults';

export type FsType = 'xfs' | 'tmpfs';

/** mkfs.xfs (xfsprogs 6.1) refuses anything smaller: "Filesystem must be larger than 300MB".
 *  The image is sparse: about 65 MiB (mostly the log) is really written. */
export const XFS_MIN_MIB = 300;

export interface PlannedFile {
  /** Relative to the tree root. */
  rel: string;
  size: number;
  seed: number;
  sha256: string;
}

export interface PlannedMount {
  id: string;
  /** Mount point, relative to the tree root. */
  rel: string;
  fstype: FsType;
  parentId: string | null;
  /** Created in the mount point before mounting; relative to the tree root. */
  sentinel: string;
  dirs: string[];
  files: PlannedFile[];
  symlinks: { rel: string; target: string }[];
  hardlinks: { rel: string; existing: string }[];
}

export interface TreePlan {
  seed: number;
  /** Tree root, relative to the share. */
  root: string;
  baseFiles: PlannedFile[];
  mounts: PlannedMount[];
}

/** What a tree is: enough to judge what a client sees in it. */
export interface TreeManifest {
  root: string;
  seed: number;
  mounts: {
    id: string;
    rel: string;
    fstype: FsType | 'bind';
    /** Mounts with the same fsKey show the same filesystem (bind mounts). */
    fsKey: string;
    parentId: string | null;
  }[];
  /** Regular files we wrote: tree-relative path -> content. */
  files: Map<string, { sha256: string; size: number; mountId: string }>;
  /** Tree-relative paths that a mount hides: never visible through the tree. */
  hiddenSentinels: string[];
  /** Sentinel-named paths that are legitimately visible (e.g. through the other bind mount). */
  visibleSentinels: string[];
}

/** The id of the mount a tree-relative path belongs to ('' = the share's own filesystem). */
export function mountOf(m: Pick<TreeManifest, 'mounts'>, rel: string): string {
  let best = '';
  let bestLen = -1;
  for (const mt of m.mounts) {
    if ((rel === mt.rel || rel.startsWith(mt.rel + '/')) && mt.rel.length > bestLen) {
      best = mt.id;
      bestLen = mt.rel.length;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Planning


const FILE_SIZES = [0, 1, 511, 4096, 4097, 65536, 200_003];

export interface PlanOptions {
  minMounts?: number;
  maxMounts?: number;
  maxDepth?: number;
  maxXfs?: number;
}

/** A random nested tree: at least one XFS and one tmpfs, at least two levels deep. */
export function planTree(seed: number, root: string, o: PlanOptions = {}): TreePlan {
  const r = prng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const minMounts = o.minMounts ?? 3;
  const maxMounts = o.maxMounts ?? 5;
  const maxDepth = o.maxDepth ?? 3;
  const maxXfs = o.maxXfs ?? 2;
  const n = minMounts + Math.floor(r() * (maxMounts - minMounts + 1));
  let fileSeed = (seed * 7919 + 1) >>> 0;
  const file = (rel: string): PlannedFile => {
    const size = pick(FILE_SIZES);
    const s = (fileSeed = (fileSeed + 0x9e3779b9) >>> 0) || 1;
    return { rel, size, seed: s, sha256: sha256(genBytes(size, s)) };
  };
  const mounts: (PlannedMount & { depth: number })[] = [];
  let xfs = 0;
  for (let i = 0; i < n; i++) {
    let parent: (typeof mounts)[number] | null;
    if (i === 0) parent = null;
    else if (i === 1) parent = mounts[0]; // guarantees nesting
    else parent = pick([null, ...mounts.filter((m) => m.depth < maxDepth)]);
    let fstype: FsType;
    if (i === 1) fstype = mounts[0].fstype === 'xfs' ? 'tmpfs' : 'xfs'; // guarantees both kinds
    else fstype = xfs < maxXfs && r() < 0.5 ? 'xfs' : 'tmpfs';
    if (fstype === 'xfs') xfs++;
    const name = `m${i}-${fstype}`;
    // Sometimes the mount point sits in a plain subdirectory of its parent filesystem.
    const via = r() < 0.3 ? `d${i}/` : '';
    const rel = parent ? `${parent.rel}/${via}${name}` : `${via}${name}`;
    const m: PlannedMount & { depth: number } = {
      id: name,
      rel,
      fstype,
      parentId: parent?.id ?? null,
      sentinel: `${rel}/.sentinel-${name}`,
      dirs: [`${rel}/sub`],
      files: [],
      symlinks: [],
      hardlinks: [],
      depth: parent ? parent.depth + 1 : 1,
    };
    const nFiles = 1 + Math.floor(r() * 3);
    for (let j = 0; j < nFiles; j++) m.files.push(file(`${rel}/f${j}.bin`));
    m.files.push(file(`${rel}/sub/g.bin`));
    m.symlinks.push({ rel: `${rel}/link`, target: 'f0.bin' });
    m.hardlinks.push({ rel: `${rel}/sub/f0.hard`, existing: `${rel}/f0.bin` });
    mounts.push(m);
  }
  return {
    seed,
    root,
    baseFiles: [file('base.bin')],
    mounts: mounts.map(({ depth: _d, ...m }) => m),
  };
}

export function describePlan(p: TreePlan): string {
  return p.mounts.map((m) => `${p.root}/${m.rel} (${m.fstype})`).join(', ');
}

// ---------------------------------------------------------------------------------------------
// Mounting

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    c.once('error', reject);
    c.once('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.trim()}`)),
    );
  });
}

type Owned = { kind: 'mount'; target: string } | { kind: 'loop'; dev: string };

export class MountSet {
  /** Where loop images and mounts outside the share live (not exported). */
  readonly privateDir: string;
  private readonly owned: Owned[] = [];
  private readonly unregister: () => void;
  private closed = false;

  private constructor(readonly shareDir: string) {
    this.privateDir = fs.mkdtempSync(path.join(process.env.VFSD_IMAGE_DIR ?? '/var/tmp', 'vfsd-mounts-'));
    this.unregister = onAbnormalExit(() => this.cleanupSync());
  }

  /**
   * Takes ownership of `shareDir` (which must exist) and bind-mounts it onto itself, shared by
   * default. `shared: false` leaves it private, as on a host without systemd: a server that
   * sandboxes itself in its own mount namespace then never sees mounts made after it did so
   * (the C virtiofsd builds that namespace when QEMU connects).
   */
  static async create(shareDir: string, opts: { shared?: boolean } = {}): Promise<MountSet> {
    const set = new MountSet(shareDir);
    try {
      await set.bind(shareDir, shareDir);
      await run('mount', [opts.shared === false ? '--make-rprivate' : '--make-rshared', shareDir]);
    } catch (e) {
      await set.cleanup();
      throw e;
    }
    return set;
  }

  async mountTmpfs(target: string, sizeMiB = 16): Promise<void> {
    fs.mkdirSync(target, { recursive: true });
    await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, 'tmpfs', target]);
    this.owned.push({ kind: 'mount', target });
  }

  async mountXfs(target: string, sizeMiB = XFS_MIN_MIB): Promise<void> {
    fs.mkdirSync(target, { recursive: true });
    const img = fs.mkdtempSync(path.join(this.privateDir, 'xfs-')) + '/fs.img';
    fs.writeFileSync(img, '');
    fs.truncateSync(img, sizeMiB * 1024 * 1024);
    await run('mkfs.xfs', ['-q', img]);
    const dev = (await run('losetup', ['--find', '--show', img])).trim();
    this.owned.push({ kind: 'loop', dev });
    await run('mount', ['-t', 'xfs', dev, target]);
    this.owned.push({ kind: 'mount', target });
  }

  async bind(source: string, target: string): Promise<void> {
    fs.mkdirSync(target, { recursive: true });
    await run('mount', ['--bind', source, target]);
    this.owned.push({ kind: 'mount', target });
  }

  async makePrivate(target: string): Promise<void> {
    await run('mount', ['--make-private', target]);
  }

  /** Unmounts in reverse order, detaches loop devices, removes the images. */
  async cleanup(): Promise<void> {
    if (this.closed) return;
    const errors: string[] = [];
    while (this.owned.length) {
      const o = this.owned.pop()!;
      try {
        if (o.kind === 'mount') await this.umount(o.target);
        else await run('losetup', ['-d', o.dev]);
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    fs.rmSync(this.privateDir, { recursive: true, force: true });
    this.closed = true;
    this.unregister();
    if (errors.length) throw new Error(`MountSet cleanup: ${errors.join('; ')}`);
  }

  private async umount(target: string): Promise<void> {
    for (let i = 0; ; i++) {
      try {
        await run('umount', [target]);
        return;
      } catch (e) {
        // EBUSY right after a server exits (its last fds close asynchronously): retry, then lazy.
        if (i >= 10) {
          await run('umount', ['-l', target]);
          return;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  private cleanupSync(): void {
    while (this.owned.length) {
      const o = this.owned.pop()!;
      if (o.kind === 'mount') spawnSync('umount', ['-l', o.target], { stdio: 'ignore' });
      else spawnSync('losetup', ['-d', o.dev], { stdio: 'ignore' });
    }
    fs.rmSync(this.privateDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Trees

function writePlanned(base: string, f: PlannedFile): void {
  const p = path.join(base, f.rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, genBytes(f.size, f.seed));
}

function writeSentinel(base: string, rel: string): void {
  const p = path.join(base, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, `sentinel ${rel}: hidden by a mount, must never be visible through it\n`);
}

/** Creates what lives on the share's own filesystem: the tree root, its files, the top-level
 *  mount points and their sentinels. Idempotent; a client may look at these before any mount. */
export function prepareTree(shareDir: string, plan: TreePlan): void {
  const base = path.join(shareDir, plan.root);
  fs.mkdirSync(base, { recursive: true });
  for (const f of plan.baseFiles) writePlanned(base, f);
  for (const m of plan.mounts) if (m.parentId === null) writeSentinel(base, m.sentinel);
}

/** Makes every mount of the plan (parents first) and fills it. Returns the manifest. */
export async function materializeTree(set: MountSet, plan: TreePlan): Promise<TreeManifest> {
  prepareTree(set.shareDir, plan);
  const base = path.join(set.shareDir, plan.root);
  for (const m of plan.mounts) {
    writeSentinel(base, m.sentinel); // on the parent filesystem, inside the mount point
    const target = path.join(base, m.rel);
    if (m.fstype === 'xfs') await set.mountXfs(target);
    else await set.mountTmpfs(target);
    for (const d of m.dirs) fs.mkdirSync(path.join(base, d), { recursive: true });
    for (const f of m.files) writePlanned(base, f);
    for (const s of m.symlinks) fs.symlinkSync(s.target, path.join(base, s.rel));
    for (const h of m.hardlinks) fs.linkSync(path.join(base, h.existing), path.join(base, h.rel));
    if (fs.existsSync(path.join(base, m.sentinel))) {
      throw new Error(`sentinel ${m.sentinel} still visible after mounting ${m.rel}`);
    }
  }
  return planManifest(plan);
}

/** The manifest of a plan (valid once the plan is materialized). */
export function planManifest(plan: TreePlan): TreeManifest {
  const mounts = plan.mounts.map((m) => ({ id: m.id, rel: m.rel, fstype: m.fstype, fsKey: m.id, parentId: m.parentId }));
  const files = new Map<string, { sha256: string; size: number; mountId: string }>();
  const all = [...plan.baseFiles, ...plan.mounts.flatMap((m) => m.files)];
  for (const f of all) files.set(f.rel, { sha256: f.sha256, size: f.size, mountId: mountOf({ mounts }, f.rel) });
  for (const m of plan.mounts) {
    for (const h of m.hardlinks) files.set(h.rel, { ...files.get(h.existing)!, mountId: m.id });
  }
  return {
    root: plan.root,
    seed: plan.seed,
    mounts,
    files,
    hiddenSentinels: plan.mounts.map((m) => m.sentinel),
    visibleSentinels: [],
  };
}

/**
 * Two bind mounts (a, b) of one filesystem F, and a tmpfs G mounted inside only a (at a/inner).
 * F's own inner/.sentinel-inner is hidden at a/inner but legitimately visible at b/inner: a server
 * that confuses the two binds (same st_dev and st_ino) shows the wrong one.
 */
export async function buildBindTree(set: MountSet, root: string, seed: number, fFsType: FsType): Promise<TreeManifest> {
  prepareBindTree(set.shareDir, root);
  const base = path.join(set.shareDir, root);
  const fRoot = path.join(set.privateDir, `bindsrc-${seed}`);
  if (fFsType === 'xfs') await set.mountXfs(fRoot);
  else await set.mountTmpfs(fRoot);
  // F must be private: binds of a shared mount would be peers, and a mount made inside one bind
  // would then propagate into the other.
  await set.makePrivate(fRoot);
  const files = new Map<string, { sha256: string; size: number; mountId: string }>();
  const put = (dirOnDisk: string, relOnDisk: string, size: number, s: number) => {
    const data = genBytes(size, s);
    fs.mkdirSync(path.dirname(path.join(dirOnDisk, relOnDisk)), { recursive: true });
    fs.writeFileSync(path.join(dirOnDisk, relOnDisk), data);
    return { sha256: sha256(data), size };
  };
  const fFiles = [
    ['top.bin', 4097],
    ['inner/under.bin', 1000],
    ['other/o.bin', 65536],
  ] as const;
  const fContent = fFiles.map(([rel, size], i) => [rel, put(fRoot, rel, size, seed + i + 1)] as const);
  writeSentinel(fRoot, 'inner/.sentinel-inner');
  await set.bind(fRoot, path.join(base, 'a'));
  await set.bind(fRoot, path.join(base, 'b'));
  await set.mountTmpfs(path.join(base, 'a', 'inner'));
  const gContent = put(path.join(base, 'a', 'inner'), 'g.bin', 12345, seed + 100);
  for (const [rel, c] of fContent) {
    if (!rel.startsWith('inner/')) files.set(`a/${rel}`, { ...c, mountId: 'a' });
    files.set(`b/${rel}`, { ...c, mountId: 'b' });
  }
  files.set('a/inner/g.bin', { ...gContent, mountId: 'a-inner' });
  return {
    root,
    seed,
    mounts: [
      { id: 'a', rel: 'a', fstype: 'bind', fsKey: 'F', parentId: null },
      { id: 'b', rel: 'b', fstype: 'bind', fsKey: 'F', parentId: null },
      { id: 'a-inner', rel: 'a/inner', fstype: 'tmpfs', fsKey: 'G', parentId: 'a' },
    ],
    files,
    hiddenSentinels: BIND_TREE_HIDDEN,
    visibleSentinels: BIND_TREE_VISIBLE,
  };
}

/** The part of a bind tree on the share's own filesystem: the mount points and their sentinels. */
export function prepareBindTree(shareDir: string, root: string): void {
  const base = path.join(shareDir, root);
  writeSentinel(base, 'a/.sentinel-a');
  writeSentinel(base, 'b/.sentinel-b');
}

export const BIND_TREE_HIDDEN = ['a/.sentinel-a', 'b/.sentinel-b', 'a/inner/.sentinel-inner'];
export const BIND_TREE_VISIBLE = ['b/inner/.sentinel-inner'];

/** A fresh share directory under the system temp dir. */
export function makeShareDir(prefix = 'vfsd-share-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
