// Judges what the guest saw of a host tree against what the host sees of it at the same time.
// The guest sends `vfsd-probe scan DIR` output (one line per entry: path type dev ino nlink size
// extra); the host walks the same tree with the same format. Device and inode numbers differ
// between guest and host, so they are compared as partitions: which paths share a device, which
// share an inode.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { GuestCheck } from './guest';
import { sha256File } from './guest';
import { mountOf, type TreeManifest } from './host-mounts';

export interface ScanEntry {
  path: string;
  type: string;
  dev: string;
  ino: string;
  nlink: number;
  size: number;
  /** sha256 for files, the escaped target for symlinks, '-' otherwise. */
  extra: string;
}

export interface Scan {
  entries: Map<string, ScanEntry>;
  errors: string[];
  rc: number | null;
}

/** Parses the lines of a `vfsd_data CHANNEL vfsd-probe scan DIR` channel. */
export function parseScan(lines: string[] | undefined): Scan {
  const s: Scan = { entries: new Map(), errors: [], rc: null };
  if (!lines) {
    s.errors.push('no scan data received');
    return s;
  }
  for (const l of lines) {
    if (l.startsWith('.rc ')) s.rc = Number.parseInt(l.slice(4), 10);
    else if (l.startsWith('.err ')) s.errors.push(l.slice(5));
    else if (l.startsWith('ERR ')) s.errors.push(l);
    else {
      const f = l.split(' ');
      if (f.length !== 7) {
        s.errors.push(`unparsable: ${l}`);
        continue;
      }
      s.entries.set(f[0], { path: f[0], type: f[1], dev: f[2], ino: f[3], nlink: +f[4], size: +f[5], extra: f[6] });
    }
  }
  return s;
}

function escapeName(p: string): string {
  let out = '';
  for (const b of Buffer.from(p)) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9._/+-]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function typeChar(st: fs.BigIntStats): string {
  if (st.isFile()) return 'f';
  if (st.isDirectory()) return 'd';
  if (st.isSymbolicLink()) return 'l';
  if (st.isFIFO()) return 'p';
  if (st.isSocket()) return 's';
  if (st.isCharacterDevice()) return 'c';
  if (st.isBlockDevice()) return 'b';
  return '?';
}

/** The host's view of `dir`, in the guest scan's format. */
export function hostScan(dir: string): Scan {
  const s: Scan = { entries: new Map(), errors: [], rc: 0 };
  const walk = (abs: string, rel: string) => {
    for (const name of fs.readdirSync(abs)) {
      const a = path.join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(a, { bigint: true });
      const t = typeChar(st);
      const extra = t === 'f' ? sha256File(a) : t === 'l' ? escapeName(fs.readlinkSync(a)) : '-';
      const key = escapeName(r);
      s.entries.set(key, {
        path: key,
        type: t,
        dev: String(st.dev),
        ino: String(st.ino),
        nlink: Number(st.nlink),
        size: Number(st.size),
        extra,
      });
      if (t === 'd') walk(a, r);
    }
  };
  walk(dir, '');
  return s;
}

const SENTINEL = /(^|\/)\.sentinel-[^/]*$/;

function listSome(xs: string[], n = 6): string {
  return xs.length <= n ? xs.join(', ') : `${xs.slice(0, n).join(', ')} … (${xs.length} in all)`;
}

function check(name: string, problems: string[], okDetail = ''): GuestCheck {
  return { name, ok: problems.length === 0, detail: problems.length ? listSome(problems) : okDetail };
}

/**
 * Every check of one tree at one moment. `label` names the moment (e.g. "mounted", "remounted");
 * check names are `<tree root>/<check>@<label>`.
 */
export function compareTree(manifest: TreeManifest, label: string, guest: Scan, host: Scan): GuestCheck[] {
  const at = (c: string) => `${manifest.root}/${c}@${label}`;
  const out: GuestCheck[] = [];
  out.push(check(at('scan'), [...guest.errors, ...(guest.rc === 0 ? [] : [`scan rc=${guest.rc}`])], `${guest.entries.size} entries`));

  const gPaths = [...guest.entries.keys()];
  const hPaths = [...host.entries.keys()];
  const missing = hPaths.filter((p) => !guest.entries.has(p)).map((p) => `missing ${p}`);
  const extra = gPaths.filter((p) => !host.entries.has(p)).map((p) => `extra ${p}`);
  out.push(check(at('paths'), [...missing, ...extra], `${hPaths.length} paths`));

  const contents: string[] = [];
  const nlinks: string[] = [];
  for (const [p, h] of host.entries) {
    const g = guest.entries.get(p);
    if (!g) continue;
    if (g.type !== h.type) contents.push(`${p}: type ${g.type} vs host ${h.type}`);
    else if (h.type === 'f' && (g.size !== h.size || g.extra !== h.extra)) contents.push(`${p}: content differs (size ${g.size} vs ${h.size})`);
    else if (h.type === 'l' && g.extra !== h.extra) contents.push(`${p}: link target ${g.extra} vs ${h.extra}`);
    if (h.type === 'f' && g.nlink !== h.nlink) nlinks.push(`${p}: nlink ${g.nlink} vs host ${h.nlink}`);
  }
  // The host itself must hold what we wrote, or the comparison above proves nothing.
  for (const [p, f] of manifest.files) {
    const h = host.entries.get(p);
    if (!h || h.extra !== f.sha256) contents.push(`host ${p} does not hold the planned content`);
  }
  out.push(check(at('contents'), contents, `${manifest.files.size} planned files, all entries equal`));
  out.push(check(at('nlink'), nlinks));

  const sentinels: string[] = [];
  for (const p of gPaths) {
    if (SENTINEL.test(p) && !manifest.visibleSentinels.includes(p)) sentinels.push(`visible ${p}`);
  }
  for (const p of manifest.hiddenSentinels) if (host.entries.has(p)) sentinels.push(`host shows ${p}`);
  for (const p of manifest.visibleSentinels) if (!guest.entries.has(p)) sentinels.push(`should be visible: ${p}`);
  out.push(check(at('sentinels-hidden'), sentinels, `${manifest.hiddenSentinels.length} hidden`));

  // Group entries by the mount they belong to.
  const groups = new Map<string, { gDevs: Set<string>; hDevs: Set<string>; paths: string[] }>();
  for (const [p, g] of guest.entries) {
    const h = host.entries.get(p);
    if (!h) continue;
    const id = mountOf(manifest, p);
    if (!groups.has(id)) groups.set(id, { gDevs: new Set(), hDevs: new Set(), paths: [] });
    const gr = groups.get(id)!;
    gr.gDevs.add(g.dev);
    gr.hDevs.add(h.dev);
    gr.paths.push(p);
  }
  const within: string[] = [];
  for (const [id, gr] of groups) {
    if (gr.hDevs.size !== 1) within.push(`host mount '${id || '(share)'}' itself shows ${gr.hDevs.size} devices`);
    if (gr.gDevs.size !== 1) within.push(`mount '${id || '(share)'}' shows st_dev ${[...gr.gDevs].join('/')} in the guest`);
  }
  out.push(check(at('st_dev-within-mount'), within, `${groups.size} mounts`));

  const across: string[] = [];
  const notes: string[] = [];
  const ids = [...groups.keys()];
  for (let i = 0; i < ids.length; i++) {
    for (let j = i + 1; j < ids.length; j++) {
      const a = groups.get(ids[i])!;
      const b = groups.get(ids[j])!;
      const hostSame = [...a.hDevs].some((d) => b.hDevs.has(d));
      const guestSame = [...a.gDevs].some((d) => b.gDevs.has(d));
      const names = `'${ids[i] || '(share)'}' and '${ids[j] || '(share)'}'`;
      if (!hostSame && guestSame) across.push(`${names} share a st_dev in the guest`);
      if (hostSame) notes.push(`${names} are one host fs (guest: ${guestSame ? 'same' : 'distinct'} st_dev)`);
    }
  }
  out.push(check(at('st_dev-across-mounts'), across, notes.join('; ') || `${ids.length} distinct`));

  // (st_dev, st_ino) as an identity: two guest paths may share one only if the host's do too
  // (otherwise a guest program would take two files for one), and hard links within one mount
  // must keep sharing it.
  const identity: string[] = [];
  const byGuestId = new Map<string, string>();
  const byHostId = new Map<string, string>();
  for (const [p, g] of guest.entries) {
    const h = host.entries.get(p);
    if (!h) continue;
    const gid = `${g.dev}:${g.ino}`;
    const hid = `${h.dev}:${h.ino}`;
    const other = byGuestId.get(gid);
    if (other !== undefined) {
      const oh = host.entries.get(other)!;
      if (`${oh.dev}:${oh.ino}` !== hid) identity.push(`${p} and ${other} collide as ${gid} in the guest`);
    } else byGuestId.set(gid, p);
    const sameHost = byHostId.get(hid);
    if (sameHost !== undefined && mountOf(manifest, sameHost) === mountOf(manifest, p)) {
      const og = guest.entries.get(sameHost)!;
      if (`${og.dev}:${og.ino}` !== gid) identity.push(`${p} and ${sameHost} are one host inode but two in the guest`);
    } else if (sameHost === undefined) byHostId.set(hid, p);
  }
  out.push(check(at('inode-identity'), identity));
  return out;
}

/** Every mount of the tree must appear as its own mount in the guest (announced submount). */
export function checkGuestSubmounts(manifest: TreeManifest, label: string, mountinfo: string[] | undefined, guestShare: string): GuestCheck {
  const name = `${manifest.root}/guest-submounts@${label}`;
  if (!mountinfo) return { name, ok: false, detail: 'no mountinfo received' };
  const points = new Set(mountinfo.map((l) => l.split(' ')[4]));
  const missing = manifest.mounts
    .map((m) => `${guestShare}/${manifest.root}/${m.rel}`)
    .filter((p) => !points.has(p));
  return check(name, missing.map((p) => `no guest mount at ${p}`), `${manifest.mounts.length} submounts`);
}
