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

/** mkdir -p that also makes the new directory entries durable (fsync of each parent). */
export function ensureDir(dir: string): void {
  const first = fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (first === undefined) return;
  // Every directory from `first` down to `dir` is new: fsync the parent of each.
  let d = path.resolve(dir);
  const stop = path.dirname(path.resolve(first));
  while (true) {
    const parent = path.dirname(d);
    fsyncDir(parent);
    if (parent === stop || parent === d) break;
    d = parent;
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
