// st_dev -> stable DeviceId (policy/device-id.ts), from /proc/self/mountinfo. Host mounts come and
// go while we serve, so a device we have not seen makes us read mountinfo again (once per unknown
// device per refresh, never per request for known ones).
import * as fs from 'node:fs';
import { devKey, parseMountInfo, resolveDeviceIds, MountInfoEntry, DeviceId } from '../policy/device-id';
import { readFsUuid } from './fs-uuid';

export interface DeviceInfo {
  id: DeviceId;
  source: string;
  fsType: string;
}

export class DeviceMap {
  private ids = new Map<string, DeviceInfo>();
  private uuids = new Map<string, string | undefined>();

  constructor(private readonly exportRoot: string, private readonly readMountInfo: () => string = () => fs.readFileSync('/proc/self/mountinfo', 'latin1')) {
    this.refresh();
  }

  /** The device's identity, or undefined when no mount shows it (e.g. a nested btrfs subvolume). */
  lookup(major: number, minor: number): DeviceInfo | undefined {
    const k = devKey(major, minor);
    const hit = this.ids.get(k);
    if (hit) return hit;
    this.refresh();
    return this.ids.get(k);
  }

  private refresh(): void {
    let entries: MountInfoEntry[];
    try {
      entries = parseMountInfo(Buffer.from(this.readMountInfo(), 'latin1'));
    } catch {
      return;
    }
    const uuidByDev = new Map<string, string>();
    const byDev = new Map<string, MountInfoEntry>();
    for (const e of entries) {
      const k = devKey(e.major, e.minor);
      byDev.set(k, e);
      if (!this.uuids.has(k)) this.uuids.set(k, readFsUuid(e.fsType, e.source));
      const u = this.uuids.get(k);
      if (u) uuidByDev.set(k, u);
    }
    const ids = resolveDeviceIds(entries, { exportRoot: this.exportRoot, uuidByDev });
    this.ids.clear();
    for (const [k, id] of ids) {
      const e = byDev.get(k)!;
      this.ids.set(k, { id, source: e.source, fsType: e.fsType });
    }
  }
}
