// multidevs for the passthrough: which device each object is on, which device the client sees it
// in, and what policy/multidevs.ts decides from that. The client sees an object in the export
// root's filesystem, unless it lies below an announced submount, which is a filesystem of its own
// for the client. Decisions are logged the first time per device, with a path.
import type { InoValue } from '../protocol/wire';
import { MultidevsPolicy, MultidevsMode } from '../policy/multidevs';
import { devKey } from '../policy/device-id';
import type { RemapTables } from '../policy/remap';
import type { Logger } from '../log/logger';
import { DeviceMap } from './device-map';
import { fdPath } from './proc-fd';
import type { HostStat } from './host-stat';
import type { Inode } from './inode';
import type { InodePolicy, Placement } from './inode-policy';
import type { DirentInoRule } from './dir-stream';

const toBig = (v: InoValue) => (typeof v === 'bigint' ? v : BigInt(v));
/** Remapped numbers are >= 2^63: bigints. Numbers that fit exactly go back to plain numbers. */
const toIno = (v: bigint): InoValue => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);

export class MultidevsPlacement implements InodePolicy {
  private readonly policy: MultidevsPolicy;
  readonly devices: DeviceMap;
  private readonly linkBuf = Buffer.alloc(4096);

  constructor(mode: MultidevsMode, tables: RemapTables | undefined, private readonly log: Logger, devices: DeviceMap) {
    this.policy = new MultidevsPolicy(mode, tables);
    this.devices = devices;
  }

  root(st: HostStat, fd: number): Placement {
    const device = this.deviceOf(st, null, fd);
    return { clientIno: st.ino, device, visibleDevice: device };
  }

  classify(st: HostStat, parent: Inode, fd: number, name: Uint8Array | null, announced: boolean): Placement | number {
    const device = this.deviceOf(st, parent, fd);
    const visibleDevice = announced ? device : parent.visibleDevice;
    if (device === visibleDevice && typeof st.ino === 'number' && st.ino < 2 ** 53) {
      // Fast path for the common case: nothing to decide, no bigint.
      return { clientIno: st.ino, device, visibleDevice };
    }
    const d = this.policy.decide({
      device, visibleDevice, hostIno: toBig(st.ino),
      path: device !== visibleDevice ? this.pathOf(fd) : '',
      describe: this.describe(st),
    });
    if (d.log) this.emit(d.log.level, d.log.message);
    if (d.action === 'forbid') return -d.errno;
    return { clientIno: toIno(d.ino), device, visibleDevice };
  }

  direntIno(dir: Inode, ino: InoValue): InoValue {
    // An entry is on its directory's device (a mount point's d_ino is the covered directory's,
    // which is on that device too), and is seen where the directory is seen.
    if (dir.device === dir.visibleDevice && typeof ino === 'number' && ino < 2 ** 53) return ino;
    const d = this.policy.decide({ device: dir.device, visibleDevice: dir.visibleDevice, hostIno: toBig(ino), path: '' });
    return d.action === 'forbid' ? ino : toIno(d.ino);
  }

  direntRule(dir: Inode): DirentInoRule | null {
    return this.policy.direntRule(dir.device, dir.visibleDevice);
  }

  private deviceOf(st: HostStat, parent: Inode | null, fd: number): string {
    // The same st_dev as its parent: the same device (the parent is pinned by its fd, so its st_dev
    // cannot have been handed to another filesystem meanwhile). Only where st_dev changes (a mount
    // point, a btrfs subvolume, a bind-mounted file) is the device identified anew: an identity
    // derived per object (from its name, say) would give one object two numbers through two paths.
    if (parent && parent.devMajor === st.devMajor && parent.devMinor === st.devMinor) return parent.device;
    return this.devices.identify(st, fd).id;
  }

  private describe(st: HostStat) {
    const info = this.devices.describe(st);
    return { label: devKey(st.devMajor, st.devMinor), source: info?.source ?? '?', fsType: info?.fsType ?? '?' };
  }

  private pathOf(fd: number): string {
    return fdPath(fd, this.linkBuf) || `fd ${fd}`;
  }

  private emit(level: 'warn' | 'info', message: string): void {
    if (level === 'warn') this.log.warn(message);
    else this.log.info(message);
  }
}

