// The playground a fuzz run serves: an export on its own small tmpfs (so a hostile FALLOCATE or
// WRITE can fill 64 MiB at most, never the host's disk), a canary file next to it (outside the
// export) whose content, times and neighbours are checked after the run, and the export's seed
// content: files, a directory, a FIFO, a /dev/null node, symlinks pointing in and out.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { onAbnormalExit } from '../helpers/reaper';

export const isRoot = process.geteuid?.() === 0;
const CANARY_TEXT = 'canary: must never be read or written\n';

export interface CanaryState { atimeMs: number; mtimeMs: number; ctimeMs: number; siblings: string[] }

export class FuzzExport {
  readonly base: string;
  readonly dir: string;
  readonly canary: string;
  /** for sockets and other run files (its content is not watched, only the canary's neighbours) */
  readonly runDir: string;
  private mounted = false;
  private canaryState: CanaryState;

  constructor(prefix = 'vfsd-fuzz-', tmpfsMiB = 64) {
    this.base = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    this.dir = path.join(this.base, 'export');
    fs.mkdirSync(this.dir);
    if (isRoot) {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${tmpfsMiB}m,mode=0755`, 'vfsd-fuzz', this.dir]);
      this.mounted = true;
    }
    // A run stopped by a signal (a timeout, Ctrl-C) still unmounts and removes its export.
    this.unregister = onAbnormalExit(() => {
      if (this.mounted) spawnSync('umount', ['-l', this.dir]);
      fs.rmSync(this.base, { recursive: true, force: true });
    });
    this.runDir = path.join(this.base, 'run');
    fs.mkdirSync(this.runDir);
    this.canary = path.join(this.base, 'canary');
    fs.writeFileSync(this.canary, CANARY_TEXT);
    // atime older than mtime: any read of the canary updates its atime even under relatime.
    fs.utimesSync(this.canary, new Date('2001-01-01T00:00:00Z'), new Date());
    this.populate();
    this.canaryState = this.canaryNow();
  }

  populate(): void {
    const d = this.dir;
    fs.writeFileSync(path.join(d, 'a'), 'content of a\n');
    fs.writeFileSync(path.join(d, 'b'), Buffer.alloc(10000, 0x62));
    fs.mkdirSync(path.join(d, 'dir'));
    fs.writeFileSync(path.join(d, 'dir', 'f1'), 'f1\n');
    fs.mkdirSync(path.join(d, 'dir', 'sub'));
    fs.symlinkSync('a', path.join(d, 'lnk'));
    fs.symlinkSync('../canary', path.join(d, 'c'));
    fs.symlinkSync(this.canary, path.join(d, 'd'));
    execFileSync('mkfifo', [path.join(d, 'fifo')]);
    if (isRoot) execFileSync('mknod', [path.join(d, 'x.y'), 'c', '1', '3']);
  }

  /** Stat only: reading the canary here would itself update its atime. */
  canaryNow(): CanaryState {
    const st = fs.statSync(this.canary);
    return { atimeMs: st.atimeMs, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, siblings: fs.readdirSync(this.base).sort() };
  }

  /** null if nothing outside the export changed. Checked by stat only, which reads nothing. */
  canaryProblem(): string | null {
    const st = fs.statSync(this.canary);
    const now = { atimeMs: st.atimeMs, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, siblings: fs.readdirSync(this.base).sort() };
    const was = this.canaryState;
    if (now.atimeMs !== was.atimeMs) return `canary outside the export was read (atime ${was.atimeMs} -> ${now.atimeMs})`;
    if (now.mtimeMs !== was.mtimeMs || now.ctimeMs !== was.ctimeMs) return 'canary outside the export was modified';
    if (now.siblings.join('/') !== was.siblings.join('/')) return `files appeared/disappeared outside the export: ${was.siblings} -> ${now.siblings}`;
    return null;
  }

  /** The canary's content (read last: it updates the atime). */
  canaryContentProblem(): string | null {
    return fs.readFileSync(this.canary, 'utf8') === CANARY_TEXT ? null : 'canary content changed';
  }

  private unregister: () => void;

  remove(): void {
    this.unregister();
    if (this.mounted) {
      try {
        execFileSync('umount', ['-l', this.dir]);
      } catch {
        // already gone
      }
      this.mounted = false;
    }
    fs.rmSync(this.base, { recursive: true, force: true });
  }
}

/** Open fds of a process (the fd table's size). */
export function countFds(pid: number | 'self' = 'self'): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** What each fd of a process points to (for the report when the count grew). */
export function fdTargets(pid: number | 'self' = 'self'): Map<string, string> {
  const out = new Map<string, string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.set(fd, fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // closed meanwhile (readdir's own fd)
    }
  }
  return out;
}

export function rssMiB(pid: number | 'self' = 'self'): number {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(s);
  return m ? Number(m[1]) / 1024 : 0;
}
