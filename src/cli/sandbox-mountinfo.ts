// /proc/self/mountinfo as the host shows it, for the multidevs device identities
// (passthrough/device-map.ts), read from inside the sandbox.
//
// Device ids of filesystems without a UUID or block device name are built from mount points
// relative to the export root, and from the export's own mount. Inside the sandbox the export is
// a bind mount (namespace: at the same absolute path; chroot: at '/'), so its own entry shows
// another root and mount point than on the host, and under chroot every mount point is relative
// to the export. Read raw, that would give a device another id (and so other remapped inode
// numbers) than an unsandboxed run of the same share. So: the export's own entry is the one
// captured before entering, mount points are put back to host paths, and only mounts at or below
// the export are kept (nothing else is reachable anyway).
import * as fs from 'node:fs';
import { statAt } from '../passthrough/host-stat';
import { AT_FDCWD } from '../native/sys';
import { relativeInside } from '../policy/device-id';

function mountIdOf(dir: string): number {
  const st = statAt(AT_FDCWD, dir);
  if (typeof st === 'number') throw new Error(`${dir}: statx: errno ${-st}`);
  return st.mntId;
}

const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
const escape = (s: string) => s.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);

export class HostMountView {
  private exportLine: string[];
  private exportMntId = -1;
  /** chroot: mount points are relative to the export; namespace: already host paths */
  private prefix = '';
  private fd = -1;
  private entered = false;

  /** Call before entering: the export's own mount as the host sees it. */
  constructor(private readonly sharedDir: string) {
    const id = mountIdOf(sharedDir);
    const line = fs.readFileSync('/proc/self/mountinfo', 'latin1').split('\n').find((l) => l.split(' ')[0] === String(id));
    if (!line) throw new Error(`${sharedDir}: its mount (id ${id}) is not in /proc/self/mountinfo`);
    this.exportLine = line.split(' ');
  }

  /** Before chroot: /proc will not be reachable afterwards, so keep mountinfo open. */
  keepOpenForChroot(): void {
    this.fd = fs.openSync('/proc/self/mountinfo', 'r');
    this.prefix = this.sharedDir;
  }

  /** After entering: where the export is now (its path inside the sandbox). */
  enteredAt(exportPath: string): void {
    this.exportMntId = mountIdOf(exportPath);
    this.entered = true;
  }

  private readRaw(): string {
    if (this.fd < 0) return fs.readFileSync('/proc/self/mountinfo', 'latin1');
    const chunks: Buffer[] = [];
    let pos = 0;
    for (;;) {
      const b = Buffer.alloc(65536);
      const n = fs.readSync(this.fd, b, 0, b.length, pos);
      if (n <= 0) break;
      chunks.push(b.subarray(0, n));
      pos += n;
    }
    return Buffer.concat(chunks).toString('latin1');
  }

  /** The reader DeviceMap takes: raw before entering, the host's view afterwards. */
  readonly read = (): string => {
    const raw = this.readRaw();
    if (!this.entered) return raw;
    const out: string[] = [];
    let sawExport = false;
    for (const line of raw.split('\n')) {
      const f = line.split(' ');
      if (f.length < 10) continue;
      if (f[0] === String(this.exportMntId)) {
        sawExport = true;
        out.push([String(this.exportMntId), ...this.exportLine.slice(1)].join(' '));
        continue;
      }
      const mp = unescape(f[4]!);
      const host = this.prefix === '' ? mp : mp === '/' ? this.prefix : this.prefix + mp;
      if (relativeInside(this.sharedDir, host) === undefined) continue;
      f[4] = escape(host);
      out.push(f.join(' '));
    }
    // chroot: the export's own mount usually lies above the new root and is not listed at all.
    if (!sawExport) out.unshift([String(this.exportMntId), ...this.exportLine.slice(1)].join(' '));
    return out.join('\n') + '\n';
  };
}
