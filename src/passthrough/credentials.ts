// Every operation runs with the caller's uid, gid and supplementary groups on the thread that
// does it, so the host kernel makes each permission decision and new files get the caller's
// ownership (never the daemon's root). The switch is per thread (fsuid/fsgid/setgroups as raw
// syscalls, see native/sys_creds.cc) and cached: consecutive requests of one caller cost nothing.
// Switching fsuid away from 0 also drops the filesystem capabilities (DAC override, FSETID, ...)
// from the thread, which is exactly what makes the kernel treat us like the caller.
//
// In the vfsd command the switch is sticky (ServerOptions.stickyCredentials): the JS thread stays
// the last caller between batches. So every piece of the daemon's own work on the JS thread that
// touches the filesystem (state checkpoints, reading superblocks, unmounting at stop) must run
// inside privileged() or after reset().
//
// With --translate-uid/--translate-gid the caller's ids are guest ids: they are translated to host
// ids here, before anything else looks at them, and a forbidden one refuses the request (EPERM)
// — also when the daemon is not root and never switches, so a forbid rule holds either way.
import { sys } from '../native/sys';
import { FORBIDDEN, type IdTranslation } from '../policy/id-map';
import * as fs from 'node:fs';
import { Errno } from '../protocol/errno';

const UNMAPPED = 0xffffffff;
const GROUPS_TTL_MS = 1000;
const GROUPS_CACHE_MAX = 4096;

export class Credentials {
  private uid = 0;
  private gid = 0;
  private groupsKey = '';
  private switched = false;
  private groups: Uint32Array = EMPTY;
  private groupsCache = new Map<number, { at: number; groups: Uint32Array | null }>();
  readonly enabled: boolean;
  /** false in a user namespace whose gid map was written with setgroups denied (an unprivileged
   *  map of one's own gid, src/cli/sandbox-userns.ts): nobody inside may change supplementary
   *  groups, so every request runs with the daemon's (setgroups would fail every switch). */
  private readonly groupsSettable = setgroupsAllowed();

  /**
   * @param groupsFromPid true on /dev/fuse, where the caller's pid is a host pid and its groups
   * can be read from /proc; a virtio-fs guest's pid means nothing here, so its requests run with
   * no supplementary groups.
   */
  constructor(private readonly groupsFromPid: boolean, private readonly ids: IdTranslation | null = null) {
    this.enabled = process.geteuid?.() === 0;
  }

  /** Become the caller. Returns 0 or -errno (a caller with an unmapped or forbidden id is refused). */
  become(uid: number, gid: number, pid: number): number {
    if (this.ids !== null) {
      uid = this.ids.uid.toHost(uid);
      gid = this.ids.gid.toHost(gid);
      if (uid === FORBIDDEN || gid === FORBIDDEN) return -Errno.EPERM;
    }
    if (!this.enabled) return 0;
    if (uid === UNMAPPED || gid === UNMAPPED) return -Errno.EPERM;
    // Root asking as root: the daemon's own credentials already decide exactly as the caller's
    // would (root's capabilities bypass the permission checks where groups would matter, and new
    // files get owner 0:0 either way), so the switch and its undo — ten syscalls, each replacing
    // the thread's cred struct — are skipped.
    if (uid === 0 && gid === 0) {
      this.reset();
      return 0;
    }
    const groups = this.groupsFromPid ? this.groupsOf(pid) : EMPTY;
    if (groups === null) return -Errno.EPERM;
    const key = groups.join(',');
    if (this.switched && uid === this.uid && gid === this.gid && key === this.groupsKey) return 0;
    const r = sys.setCreds(uid, gid, this.groupsSettable ? groups : null);
    if (r < 0) return r;
    this.uid = uid;
    this.gid = gid;
    this.groupsKey = key;
    this.groups = groups;
    this.switched = true;
    return 0;
  }

  /** Who the current request runs as, for work handed to another thread (a worker switches to
   *  exactly these host ids): uid -1 when it runs with the daemon's own credentials (a root
   *  caller, or a daemon that is not root and never switches). */
  caller(): { uid: number; gid: number; groups: Uint32Array | null } {
    return this.switched ? { uid: this.uid, gid: this.gid, groups: this.groupsSettable ? this.groups : null } : DAEMON;
  }

  /** Back to the daemon's own credentials (after a batch; before privileged work). */
  reset(): void {
    if (!this.switched) return;
    sys.resetCreds();
    this.switched = false;
  }

  /** Runs fn with the daemon's credentials, then returns to the caller's. */
  privileged<T>(fn: () => T): T {
    if (!this.switched) return fn();
    const { uid, gid, groupsKey, groups } = this;
    this.reset();
    try {
      return fn();
    } finally {
      if (sys.setCreds(uid, gid, this.groupsSettable ? groups : null) === 0) {
        this.uid = uid; this.gid = gid; this.groupsKey = groupsKey; this.groups = groups; this.switched = true;
      }
    }
  }

  /** The caller's supplementary groups (host gids), or null if one of them is forbidden. */
  private groupsOf(pid: number): Uint32Array | null {
    if (pid <= 0) return EMPTY;
    const now = Date.now();
    const hit = this.groupsCache.get(pid);
    if (hit && now - hit.at < GROUPS_TTL_MS) return hit.groups;
    let groups: Uint32Array | null = EMPTY;
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'latin1');
      // [ \t]*, not \s*: with no groups the line is empty and \s* would run on into the next line
      // (NStgid), handing the caller a group it does not have.
      const line = /^Groups:[ \t]*(.*)$/m.exec(status);
      if (line && line[1].trim()) groups = this.hostGroups(line[1].trim().split(/\s+/).map(Number));
    } catch {
      // the caller exited already: run with no supplementary groups
    }
    if (this.groupsCache.size >= GROUPS_CACHE_MAX) this.groupsCache.clear();
    this.groupsCache.set(pid, { at: now, groups });
    return groups;
  }

  /** The caller's supplementary groups as host gids, or null if one is forbidden: like virtiofsd
   *  with the groups it gets from the guest, the request is then refused. (Dropping the group
   *  instead could grant rights: a mode like 0604 denies the group what it allows others.) */
  private hostGroups(guest: number[]): Uint32Array | null {
    if (this.ids === null) return Uint32Array.from(guest);
    const map = this.ids.gid;
    const host = guest.map((g) => map.toHost(g));
    return host.includes(FORBIDDEN) ? null : Uint32Array.from(host);
  }
}

const EMPTY = new Uint32Array(0);
const DAEMON = { uid: -1, gid: 0, groups: EMPTY };

function setgroupsAllowed(): boolean {
  try {
    return fs.readFileSync('/proc/self/setgroups', 'utf8').trim() !== 'deny';
  } catch {
    return true; // a kernel without user namespaces: the one namespace always allows
  }
}
