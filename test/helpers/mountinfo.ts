// What this process's mount table says (/proc/self/mountinfo, whose mount points escape space,
// tab, newline and backslash as \ooo), and evicting the kernel's dentry and inode caches.
import * as fs from 'node:fs';
import * as path from 'node:path';

interface Mount { point: string; line: string }

function mounts(): Mount[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l).map((line) => ({
    point: (line.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))),
    line,
  }));
}

/** Every mount point, in mount order (a path may appear more than once: mounts stack). */
export function mountPoints(): string[] {
  return mounts().map((m) => m.point);
}

/** The mountinfo line of the mount at `dir` (the topmost one, as a path lookup sees it), or null. */
export function mountLine(dir: string): string | null {
  const want = path.resolve(dir);
  return mounts().filter((m) => m.point === want).pop()?.line ?? null;
}

/** Is something mounted exactly at `dir` (as this process sees it)? */
export function isMounted(dir: string): boolean {
  return mountLine(dir) !== null;
}

/** Evicts unused dentries and inodes: the kernel FORGETs them, the next access LOOKUPs again. */
export function dropCaches(): void {
  fs.writeFileSync('/proc/sys/vm/drop_caches', '2');
}
