// Full-tree comparison of the soak: names, types, sizes (not of directories), permission bits,
// content hashes, symlink targets and link counts. Never inode numbers or times: those legitimately
// differ between the vfsd mount and the native twin.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sha256File } from '../../test/helpers/guest';

export interface Entry {
  type: string;
  mode: string;
  nlink: number;
  size: number | null;
  /** sha256 prefix of a file's content, a symlink's target */
  content: string | null;
}


export function snapshot(root: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const abs = path.join(root, r);
      const st = fs.lstatSync(abs);
      const type = st.isFile() ? 'f' : st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : '?';
      let content: string | null = null;
      if (type === 'f') {
        // A file without read permission is still ours to compare (we run as root, or not: then
        // a mode without r for the owner hides the content on both sides alike).
        try { content = sha256File(abs).slice(0, 16); } catch (e) { content = `unreadable ${(e as NodeJS.ErrnoException).code}`; }
      } else if (type === 'l') {
        content = fs.readlinkSync(abs);
      }
      out.set(r, { type, mode: (st.mode & 0o7777).toString(8), nlink: st.nlink, size: type === 'd' ? null : st.size, content });
      if (type === 'd') walk(r);
    }
  };
  walk('');
  return out;
}

/** Differences between the mount's tree and the twin's (empty: identical). */
export function compareTrees(mount: string, twin: string): string[] {
  const a = snapshot(mount);
  const b = snapshot(twin);
  const diffs: string[] = [];
  for (const [p, e] of a) {
    const f = b.get(p);
    if (!f) diffs.push(`${p}: only on the mount (${JSON.stringify(e)})`);
    else if (JSON.stringify(e) !== JSON.stringify(f)) diffs.push(`${p}: mount ${JSON.stringify(e)} twin ${JSON.stringify(f)}`);
  }
  for (const [p, f] of b) if (!a.has(p)) diffs.push(`${p}: only on the twin (${JSON.stringify(f)})`);
  return diffs;
}
