// --uid-map/--gid-map: the user namespace the namespace sandbox is made in (virtiofsd's options;
// libvirt 10 passes them in session mode, where the VM manager is not root).
//
// The launcher clones the server into a new user namespace that owns its new mount, pid and net
// namespaces (native/sys_sandbox.cc), writes the child's maps from out here, and only then lets
// it go on: the child becomes uid/gid 0 of the namespace and execs the server, which keeps its
// capabilities there. Those count only inside the namespace: on the host the server acts as the
// ids the maps name, so a guest's root creates files owned by the host id mapped to 0, and
// callers and owners outside the maps are refused by the kernel (EPERM / the overflow id 65534).
//
// Who writes the maps, as virtiofsd does:
//   root: /proc/PID/uid_map and gid_map directly (any map; root may). /proc/PID/setgroups stays
//     "allow", so the server drops the launcher's supplementary groups and takes each caller's.
//   anyone else: newuidmap(1)/newgidmap(1) (setuid, Debian package uidmap), which accept only the
//     ranges /etc/subuid and /etc/subgid give this user — except a map of exactly one's own id,
//     which needs no helper: it is written directly, and for the gid map the kernel demands
//     setgroups "deny" first (so that nobody inside can drop a group to gain access).
// virtiofsd refuses the maps when run as root; vfsd honours them, so a root VM manager can confine
// the server to a subordinate range too.
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import type { Config, NsIdMap } from './options';
import { UsageError } from './usage-error';

export interface UserNsMaps {
  uid: NsIdMap[];
  gid: NsIdMap[];
}

/** The maps of the user namespace to make, or null when none was asked for. A map not given is
 *  virtiofsd's default: the launching process's own id mapped to itself. */
export function userNsMaps(cfg: Config, euid: number, egid: number): UserNsMaps | null {
  if (cfg.uidMap.length === 0 && cfg.gidMap.length === 0) return null;
  return {
    uid: cfg.uidMap.length ? cfg.uidMap : [{ inside: euid, outside: euid, count: 1 }],
    gid: cfg.gidMap.length ? cfg.gidMap : [{ inside: egid, outside: egid, count: 1 }],
  };
}

/** The server runs as uid 0 of its namespace (a non-root program loses every capability at its
 *  exec), so that uid must be mapped. A gid map without 0 only leaves the gid as it is. */
export function checkUserNsMaps(m: UserNsMaps, euid: number): void {
  if (m.uid.some((r) => r.inside === 0)) return;
  throw new UsageError(`--uid-map: no range maps uid 0 inside the namespace, which the server runs as (e.g. --uid-map=:0:${euid}:1: maps you to it)`);
}

const lines = (m: NsIdMap[]) => m.map((r) => `${r.inside} ${r.outside} ${r.count}\n`).join('');

/** The kernel takes a map in ONE write(2), once per namespace. */
function writeProc(pid: number, file: string, text: string): string | null {
  try {
    fs.writeFileSync(`/proc/${pid}/${file}`, text);
    return null;
  } catch (e) {
    return `writing /proc/${pid}/${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
}

function runHelper(tool: string, pid: number, m: NsIdMap[], db: string): string | null {
  const r = spawnSync(tool, [String(pid), ...m.flatMap((x) => [x.inside, x.outside, x.count].map(String))], { encoding: 'utf8' });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `${tool} not found (Debian package uidmap); it maps the ranges ${db} gives this user` : `${tool}: ${code ?? r.error.message}`;
  }
  if (r.status === 0) return null;
  const said = (r.stderr || r.stdout).trim().split('\n').join('; ');
  return `${tool} refused the map (${said || `exit ${r.status}`}); the ranges must be this user's in ${db}`;
}

/** Writes the child's maps; returns null, or what went wrong in one line. */
export function writeUserNsMaps(pid: number, m: UserNsMaps, euid: number, egid: number): string | null {
  if (euid === 0) return writeProc(pid, 'uid_map', lines(m.uid)) ?? writeProc(pid, 'gid_map', lines(m.gid));
  const own = (x: NsIdMap[], id: number) => x.length === 1 && x[0]!.outside === id && x[0]!.count === 1;
  const uid = own(m.uid, euid) ? writeProc(pid, 'uid_map', lines(m.uid)) : runHelper('newuidmap', pid, m.uid, '/etc/subuid');
  if (uid) return uid;
  if (!own(m.gid, egid)) return runHelper('newgidmap', pid, m.gid, '/etc/subgid');
  return writeProc(pid, 'setgroups', 'deny\n') ?? writeProc(pid, 'gid_map', lines(m.gid));
}
