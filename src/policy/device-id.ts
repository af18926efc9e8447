// Stable identities for host devices, from /proc/self/mountinfo.
//
// st_dev alone is not stable: a USB disk or a loop device gets another minor after a remount, and
// btrfs / tmpfs / overlay use anonymous device numbers handed out at mount time. The remap device
// registry is keyed by a DeviceId string built here, so that the same filesystem gets the same
// device index (and therefore the same inode numbers) after a vfsd restart or a host remount.
// docs/multidevs.md explains each rule and how stable it is.

/** A string naming one inode-number namespace (one superblock, or one btrfs subvolume). */
export type DeviceId = string;

export interface MountInfoEntry {
  mntId: number;
  parentId: number;
  major: number;
  minor: number;
  /** The directory of the filesystem this mount shows (a bind mount of a subtree has root != '/'). */
  root: string;
  mountPoint: string;
  fsType: string;
  source: string;
  superOptions: string;
}

/** Undo the kernel's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash) on raw
 *  bytes, so names that are not valid UTF-8 are decoded once, at the end, and the same way as the
 *  rest of the line. */
function unescapeField(raw: Buffer): string {
  const out = Buffer.alloc(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === 0x5c && isOctal(raw[i + 1]) && isOctal(raw[i + 2]) && isOctal(raw[i + 3])) {
      out[n++] = ((raw[i + 1]! - 0x30) * 64 + (raw[i + 2]! - 0x30) * 8 + (raw[i + 3]! - 0x30)) & 0xff;
      i += 3;
    } else {
      out[n++] = c;
    }
  }
  return out.subarray(0, n).toString('utf8');
}

function isOctal(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x37;
}

function splitBytes(buf: Buffer, sep: number): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= buf.length; i++) {
    if (i === buf.length || buf[i] === sep) {
      parts.push(buf.subarray(start, i));
      start = i + 1;
    }
  }
  return parts;
}

const DECIMAL = /^[0-9]+$/;

/** Parse the text of /proc/self/mountinfo (proc(5)). Lines that do not have the documented shape
 *  are skipped: the caller reads a kernel file, but a truncated read must not crash the server. */
export function parseMountInfo(text: string | Uint8Array): MountInfoEntry[] {
  const buf = typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text.buffer, text.byteOffset, text.byteLength);
  const entries: MountInfoEntry[] = [];
  for (const line of splitBytes(buf, 0x0a)) {
    if (line.length === 0) continue;
    const f = splitBytes(line, 0x20);
    // 6 fixed fields, 0+ optional fields, '-', fsType, source, superOptions.
    const dash = f.findIndex((p, i) => i >= 6 && p.length === 1 && p[0] === 0x2d);
    if (dash < 0 || f.length < dash + 3) continue;
    const [id, parent, dev] = [f[0]!.toString(), f[1]!.toString(), f[2]!.toString()];
    const mm = /^([0-9]+):([0-9]+)$/.exec(dev);
    if (!DECIMAL.test(id) || !DECIMAL.test(parent) || !mm) continue;
    entries.push({
      mntId: Number(id),
      parentId: Number(parent),
      major: Number(mm[1]),
      minor: Number(mm[2]),
      root: unescapeField(f[3]!),
      mountPoint: unescapeField(f[4]!),
      fsType: unescapeField(f[dash + 1]!),
      source: unescapeField(f[dash + 2]!),
      superOptions: f.length > dash + 3 ? unescapeField(f[dash + 3]!) : '',
    });
  }
  return entries;
}

/** 'major:minor', the key callers use to find a device's identity from st_dev. */
export function devKey(major: number, minor: number): string {
  return `${major}:${minor}`;
}

function superOption(entry: MountInfoEntry, name: string): string | undefined {
  for (const opt of entry.superOptions.split(',')) {
    const eq = opt.indexOf('=');
    if (eq > 0 && opt.slice(0, eq) === name) return opt.slice(eq + 1);
  }
  return undefined;
}

/** The path of `p` relative to `base` ('.' for base itself), or undefined when p is outside. */
export function relativeInside(base: string, p: string): string | undefined {
  const b = base.endsWith('/') && base !== '/' ? base.slice(0, -1) : base;
  if (p === b) return '.';
  const prefix = b === '/' ? '/' : b + '/';
  return p.startsWith(prefix) ? p.slice(prefix.length) : undefined;
}

/**
 * A DeviceId for the filesystem a mountinfo entry shows. In order of preference:
 * - btrfs: each subvolume has its own st_dev and its own inode numbers (every subvolume starts at
 *   256), while all share one fs UUID: `btrfs:uuid=U|src=S:subvolid=N` (subvolid from the super
 *   options; `root=` the mount root on kernels that do not show it).
 * - a known fs UUID: `FSTYPE:uuid=U`. Survives every remount and a changed device name.
 * - a block device source (/dev/...): `FSTYPE:SOURCE`. Bind mounts of subtrees share the device's
 *   inode numbers, so the mount root is not part of the id; a renamed device (loop0 -> loop1)
 *   changes it (new numbers, never colliding ones).
 * - anything else (tmpfs, overlay, nfs, fuse, ...): the source alone does not tell two instances
 *   apart (every tmpfs is "tmpfs"), so the mount point joins the id, relative to the export root
 *   when it is inside: `FSTYPE:SOURCE:ROOT@MOUNTPOINT`. Stable while the mount stays where it is.
 */
export function stableDeviceId(entry: MountInfoEntry, fsUuid?: string, exportRoot?: string): DeviceId {
  const who = fsUuid ? `uuid=${fsUuid}` : `src=${entry.source}`;
  if (entry.fsType === 'btrfs') {
    const subvolid = superOption(entry, 'subvolid');
    return subvolid !== undefined ? `btrfs:${who}:subvolid=${subvolid}` : `btrfs:${who}:root=${entry.root}`;
  }
  if (fsUuid) return `${entry.fsType}:uuid=${fsUuid}`;
  if (entry.source.startsWith('/dev/')) return `${entry.fsType}:${entry.source}`;
  const rel = exportRoot !== undefined ? relativeInside(exportRoot, entry.mountPoint) : undefined;
  const where = rel !== undefined ? `export:${rel}` : entry.mountPoint;
  return `${entry.fsType}:${entry.source}:${entry.root}@${where}`;
}

/**
 * A DeviceId for a device that has no mountinfo entry of its own: a btrfs subvolume reached as a
 * plain directory inside a mounted one has its own st_dev (and its own inode numbers) but shares
 * the parent mount. `relPath` is its top directory relative to the mount's mount point.
 */
export function nestedDeviceId(mountDevice: DeviceId, relPath: string): DeviceId {
  return `${mountDevice}+nested:${relPath}`;
}

export interface ResolveOptions {
  exportRoot?: string;
  /** fs UUIDs by devKey(major, minor), when the caller knows them (e.g. /dev/disk/by-uuid). */
  uuidByDev?: ReadonlyMap<string, string>;
}

/**
 * One DeviceId per st_dev. A filesystem mounted twice (bind mounts) has one st_dev and one set of
 * inode numbers, so it must get one id, or one host object would get two numbers. For ids that
 * depend on the mount point, the canonical entry is the one inside the export with the shortest,
 * then smallest, mount point (outside mounts only when none is inside).
 */
export function resolveDeviceIds(entries: readonly MountInfoEntry[], opts: ResolveOptions = {}): Map<string, DeviceId> {
  const best = new Map<string, MountInfoEntry>();
  const rank = (e: MountInfoEntry): [number, number, string] => {
    const inside = opts.exportRoot !== undefined && relativeInside(opts.exportRoot, e.mountPoint) !== undefined;
    return [inside ? 0 : 1, e.mountPoint.length, e.mountPoint];
  };
  const less = (a: [number, number, string], b: [number, number, string]) =>
    a[0] !== b[0] ? a[0] < b[0] : a[1] !== b[1] ? a[1] < b[1] : a[2] < b[2];
  for (const e of entries) {
    const k = devKey(e.major, e.minor);
    const cur = best.get(k);
    if (!cur || less(rank(e), rank(cur))) best.set(k, e);
  }
  const ids = new Map<string, DeviceId>();
  for (const [k, e] of best) ids.set(k, stableDeviceId(e, opts.uuidByDev?.get(k), opts.exportRoot));
  return ids;
}
