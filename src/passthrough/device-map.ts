// Host object -> stable DeviceId (policy/device-id.ts), from /proc/self/mountinfo and, for btrfs,
// the object's subvolume id. Asked only where an object's st_dev differs from its parent's (mount
// points, subvolume roots, bind-mounted files; the caller gives every other object its parent's
// device), so mountinfo is read afresh each time: host mounts come and go while we serve, and
// anonymous device numbers and mount ids are reused by the kernel, so a cached answer could name a
// filesystem that is no longer there.
import * as fs from 'node:fs';
import { AT_FDCWD, C, sys } from '../native/sys';
import { devKey, nestedDeviceId, parseMountInfo, relativeInside, resolveDeviceIds, stableDeviceId, MountInfoEntry, DeviceId } from '../policy/device-id';
import { readFsUuid } from './fs-uuid';
import { fdPath } from './proc-fd';

export interface DeviceInfo {
  id: DeviceId;
  source: string;
  fsType: string;
}

/** What identify() needs of an object: its st_dev and the id of the mount it was reached through. */
export interface DeviceQuery {
  devMajor: number;
  devMinor: number;
  mntId: number;
}

const STATX_SUBVOL = 0x8000;
const STX_SUBVOL_OFFSET = 0xa0;

/** Runs fn with the daemon's own credentials (see Credentials.privileged). */
export type AsDaemon = <T>(fn: () => T) => T;

export class DeviceMap {
  private entries: MountInfoEntry[] = [];
  private ids = new Map<string, DeviceId>();
  /** fs UUIDs by `devKey source`: read once per mounted filesystem, forgotten once it is gone. */
  private uuids = new Map<string, string | undefined>();
  private readonly statxBuf = Buffer.alloc(256);
  private readonly linkBuf = Buffer.alloc(4096);

  private readonly readMountInfo: () => string;
  private readonly asDaemon: AsDaemon;

  /**
   * @param opts.readMountInfo the host's mountinfo (the sandbox reads it through a held fd)
   * @param opts.asDaemon runs fn with the daemon's own credentials: the serving thread may be
   *   switched to a caller's, who may not read the block devices' superblocks (Credentials.privileged)
   */
  constructor(private readonly exportRoot: string, opts: { readMountInfo?: () => string; asDaemon?: AsDaemon } = {}) {
    this.readMountInfo = opts.readMountInfo ?? (() => fs.readFileSync('/proc/self/mountinfo', 'latin1'));
    this.asDaemon = opts.asDaemon ?? ((fn) => fn());
    this.refresh();
  }

  /**
   * The identity of the device the object behind `fd` (an O_PATH fd) lies on.
   * - btrfs: every subvolume has its own st_dev, and on current kernels even the mounted one's
   *   differs from the st_dev mountinfo shows, so st_dev cannot be looked up there. The mount tells
   *   the filesystem (UUID), statx(STATX_SUBVOL) the subvolume: `btrfs:uuid=U:subvolid=N`, the id
   *   a mount of that subvolume gets, whether it is reached as a mount or as a plain directory, on
   *   whichever loop device the filesystem is today.
   * - a st_dev that mountinfo shows: that mount's id.
   * - otherwise (a nested subvolume on a kernel without STATX_SUBVOL): named after the mount and
   *   the object's place below its mount point.
   */
  identify(q: DeviceQuery, fd: number): DeviceInfo {
    this.refresh();
    const mount = this.entries.find((e) => e.mntId === q.mntId);
    if (mount && mount.fsType === 'btrfs') {
      const subvol = this.btrfsSubvol(fd);
      if (subvol !== undefined) {
        const id = stableDeviceId({ ...mount, superOptions: `subvolid=${subvol}` }, this.uuidOf(mount), this.exportRoot);
        return { id, source: mount.source, fsType: mount.fsType };
      }
    }
    const k = devKey(q.devMajor, q.devMinor);
    const known = this.ids.get(k);
    if (known) {
      const e = this.entries.find((x) => devKey(x.major, x.minor) === k)!;
      return { id: known, source: e.source, fsType: e.fsType };
    }
    if (mount) {
      const mountId = this.ids.get(devKey(mount.major, mount.minor));
      const rel = relativeInside(mount.mountPoint, this.pathOf(fd));
      if (mountId && rel !== undefined) return { id: nestedDeviceId(mountId, rel), source: mount.source, fsType: mount.fsType };
    }
    return { id: `dev:${k}`, source: mount?.source ?? '?', fsType: mount?.fsType ?? '?' };
  }

  /** Source and fs type of the filesystem an object is on, for the log (mountinfo as last read). */
  describe(q: DeviceQuery): { source: string; fsType: string } | undefined {
    const k = devKey(q.devMajor, q.devMinor);
    const e = this.entries.find((x) => devKey(x.major, x.minor) === k) ?? this.entries.find((x) => x.mntId === q.mntId);
    return e && { source: e.source, fsType: e.fsType };
  }

  private btrfsSubvol(fd: number): bigint | undefined {
    const r = sys.statx(fd, '', C.AT_EMPTY_PATH | C.AT_SYMLINK_NOFOLLOW, STATX_SUBVOL, this.statxBuf);
    if (r < 0 || (this.statxBuf.readUInt32LE(0) & STATX_SUBVOL) === 0) return undefined;
    return this.statxBuf.readBigUInt64LE(STX_SUBVOL_OFFSET);
  }

  private pathOf(fd: number): string {
    return fdPath(fd, this.linkBuf);
  }

  private uuidOf(e: MountInfoEntry): string | undefined {
    const k = `${devKey(e.major, e.minor)} ${e.source}`;
    // Reading a superblock needs the daemon's own credentials, whoever's request we serve: the
    // identity of a device must never depend on which client happened to look it up first.
    if (!this.uuids.has(k)) this.uuids.set(k, this.asDaemon(() => readFsUuid(e.fsType, e.source)));
    return this.uuids.get(k);
  }

  private refresh(): void {
    let entries: MountInfoEntry[];
    try {
      entries = parseMountInfo(Buffer.from(this.readMountInfo(), 'latin1'));
    } catch {
      return;
    }
    const uuidByDev = new Map<string, string>();
    const live = new Set<string>();
    for (const e of entries) {
      live.add(`${devKey(e.major, e.minor)} ${e.source}`);
      const u = this.uuidOf(e);
      if (u) uuidByDev.set(devKey(e.major, e.minor), u);
    }
    // A filesystem gone from mountinfo may come back under the same anonymous st_dev as another.
    for (const k of this.uuids.keys()) if (!live.has(k)) this.uuids.delete(k);
    this.entries = entries;
    this.ids = resolveDeviceIds(entries, { exportRoot: this.exportRoot, uuidByDev });
  }
}
