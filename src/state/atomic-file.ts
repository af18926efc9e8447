// Durable file replacement with Node's fs only: a reader (or a restart after SIGKILL or power loss)
// sees either the old file or the new one, never a mix. Temp file in the same directory (rename is
// atomic only within a filesystem), fsync it, rename over the target, fsync the directory so the
// rename itself is on disk.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

export function tempPrefix(fileName: string): string {
  return `.${fileName}.tmp-`;
}

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** mkdir -p that also makes the new directory entries durable (fsync of each parent).
 *  Not fs.mkdirSync({recursive}): that loops forever when an ancestor still resolves but was
 *  deleted (a bind-mounted state dir parent a VM manager removed under the sandbox): mkdir of the
 *  child says ENOENT, the parent says EEXIST, again and again. Here that is one ENOENT thrown. */
export function ensureDir(dir: string): void {
  const missing: string[] = [];
  for (let d = path.resolve(dir); !isDir(d); d = path.dirname(d)) {
    missing.push(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      continue;
    }
    fsyncDir(path.dirname(d));
  }
}

function isDir(d: string): boolean {
  try {
    return fs.statSync(d).isDirectory();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

export function writeFileAtomic(dir: string, fileName: string, data: string | Uint8Array): void {
  ensureDir(dir);
  const tmp = path.join(dir, tempPrefix(fileName) + `${process.pid}-${randomBytes(6).toString('hex')}`);
  let renamed = false;
  try {
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      let off = 0;
      while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path.join(dir, fileName));
    renamed = true;
    fsyncDir(dir);
  } finally {
    if (!renamed) fs.rmSync(tmp, { force: true });
  }
}

/** Remove temp files a killed writer left behind (only ours: the prefix of this file name). */
export function removeStaleTemps(dir: string, fileName: string): number {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return 0;
  }
  let n = 0;
  for (const name of names) {
    if (name.startsWith(tempPrefix(fileName))) {
      fs.rmSync(path.join(dir, name), { force: true });
      n++;
    }
  }
  return n;
}
