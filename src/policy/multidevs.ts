// --multidevs=remap|forbid|warn|default: what the client sees of objects that live on another
// device than the filesystem it sees them in (the export root, or the nearest announced submount).
// Same values and meanings as QEMU 9p and libvirt's <filesystem multidevs=...>; `default` is
// `remap` (QEMU's default since 10.0). Pure: the caller asks per object and caches the answer per
// inode; logging is returned, not done, so the caller's logger decides where it goes.

import type { DeviceId } from './device-id';
import { HOST_INO_BITS, isReserved, remapIno, type RemapTables } from './remap';
import { Errno } from '../protocol/errno';

export type MultidevsMode = 'remap' | 'forbid' | 'warn';

const VALID = ['remap', 'forbid', 'warn', 'default'] as const;

export function parseMultidevs(value: string): MultidevsMode {
  switch (value) {
    case 'remap':
    case 'default':
      return 'remap';
    case 'forbid':
      return 'forbid';
    case 'warn':
      return 'warn';
    default:
      throw new Error(`unknown multidevs '${value}' (valid: ${VALID.join(', ')})`);
  }
}

export interface DeviceDescription {
  /** How the log names the device, e.g. st_dev as 'major:minor'. The DeviceId when absent. */
  label?: string;
  source: string;
  fsType: string;
}

export interface MultidevsQuestion {
  /** The device of the object itself. */
  device: DeviceId;
  /** The device of the filesystem the client sees the object in. */
  visibleDevice: DeviceId;
  /** The object's host inode number (u64). */
  hostIno: bigint;
  /** A host path of the object, for the log only. */
  path: string;
  describe?: DeviceDescription;
}

export type MultidevsAction =
  /** Use the host inode number unchanged. */
  | { action: 'pass'; ino: bigint }
  /** Answer this errno (ENODEV under forbid; EOVERFLOW when remap has no number left). */
  | { action: 'forbid'; errno: number }
  /** Show this inode number instead of the host's, in attrs, READDIR d_ino and STATX alike. */
  | { action: 'remap'; ino: bigint };

export type MultidevsDecision = MultidevsAction & { log?: { level: 'warn' | 'info'; message: string } };

export class MultidevsPolicy {
  /** Devices already logged, so each is logged once per process. */
  private readonly logged = new Set<string>();

  /** `tables` is needed in remap mode only (the persistent DeviceRegistry). */
  constructor(
    readonly mode: MultidevsMode,
    private readonly tables?: RemapTables,
  ) {
    if (mode === 'remap' && !tables) throw new Error('multidevs remap needs a device registry');
  }

  decide(q: MultidevsQuestion): MultidevsDecision {
    const foreign = q.device !== q.visibleDevice;
    switch (this.mode) {
      case 'warn':
        if (!foreign) return { action: 'pass', ino: q.hostIno };
        return this.withLog({ action: 'pass', ino: q.hostIno }, q, 'warn',
          `${this.where(q)}: inode numbers may collide with the export's; --multidevs=remap avoids this`);
      case 'forbid':
        if (!foreign) return { action: 'pass', ino: q.hostIno };
        return this.withLog({ action: 'forbid', errno: Errno.ENODEV }, q, 'warn',
          `${this.where(q)}: objects there answer ENODEV (--multidevs=forbid)`);
      case 'remap':
        return this.remap(q, foreign);
    }
  }

  /**
   * The numbering of a whole directory listing in one rule, so READDIR can encode its d_ino
   * natively: every host ino below 2^inoBits of an object on `device`, seen in `visibleDevice`,
   * gets `ino | prefixHi << 32`, exactly as decide() would number it (forbid lists names with
   * their host numbers). Numbers outside the rule, and devices without a direct index (fallback
   * numbering), are left to decide(), one by one (null: all of them).
   */
  direntRule(device: DeviceId, visibleDevice: DeviceId): { prefixHi: number; inoBits: number } | null {
    // Unchanged below 2^63 in every mode (at or above, remap would renumber a reserved number).
    if (device === visibleDevice) return { prefixHi: 0, inoBits: 63 };
    if (this.mode !== 'remap') return { prefixHi: 0, inoBits: 64 };
    const d = this.tables!.deviceIndex(device);
    if (d < 1) return null;
    // REMAP_MARKER | d << HOST_INO_BITS, as its high 32 bits (see encodeDirect).
    return { prefixHi: (0x80000000 + d * 2 ** (HOST_INO_BITS - 32)) >>> 0, inoBits: HOST_INO_BITS };
  }

  private remap(q: MultidevsQuestion, foreign: boolean): MultidevsDecision {
    // The visible filesystem's own objects keep their host numbers, except the few in the range
    // remapped numbers use (host ino >= 2^63): passing those through could equal a remapped number.
    if (!foreign && !isReserved(q.hostIno)) return { action: 'pass', ino: q.hostIno };
    const r = remapIno(this.tables!, q.device, q.hostIno);
    if (r.via === 'exhausted') {
      return this.withLog({ action: 'forbid', errno: Errno.EOVERFLOW }, q, 'warn',
        `${this.where(q)}: the remap fallback table is full; objects that need it answer EOVERFLOW`);
    }
    if (r.via === 'fallback') {
      return this.withLog({ action: 'remap', ino: r.ino }, q, 'info',
        `${this.where(q)}: inode numbers too large to encode directly; numbering them through the persistent fallback table`);
    }
    return { action: 'remap', ino: r.ino };
  }

  private where(q: MultidevsQuestion): string {
    const d = q.describe;
    return d ? `path ${q.path} on device ${d.label ?? q.device} (${d.source}, ${d.fsType})` : `path ${q.path} on device ${q.device}`;
  }

  private withLog(a: MultidevsAction, q: MultidevsQuestion, level: 'warn' | 'info', message: string): MultidevsDecision {
    // Keyed by what is said as well: a device first logged for its fallback use must still get the
    // warning when the fallback table later runs full.
    const key = `${a.action}:${level}:${q.device}`;
    if (this.logged.has(key)) return a;
    this.logged.add(key);
    return { ...a, log: { level, message } };
  }
}
