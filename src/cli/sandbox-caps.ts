// Which capabilities the server keeps (virtiofsd's set), and --modcaps (virtiofsd syntax:
// "+sys_admin:-mknod", names as in capabilities(7) without CAP_, any case).
import { UsageError } from './usage-error';

/** capabilities(7) numbers by lower-case name. */
export const CAPS: Readonly<Record<string, number>> = {
  chown: 0, dac_override: 1, dac_read_search: 2, fowner: 3, fsetid: 4, kill: 5, setgid: 6, setuid: 7,
  setpcap: 8, linux_immutable: 9, net_bind_service: 10, net_broadcast: 11, net_admin: 12, net_raw: 13,
  ipc_lock: 14, ipc_owner: 15, sys_module: 16, sys_rawio: 17, sys_chroot: 18, sys_ptrace: 19,
  sys_pacct: 20, sys_admin: 21, sys_boot: 22, sys_nice: 23, sys_resource: 24, sys_time: 25,
  sys_tty_config: 26, mknod: 27, lease: 28, audit_write: 29, audit_control: 30, setfcap: 31,
  mac_override: 32, mac_admin: 33, syslog: 34, wake_alarm: 35, block_suspend: 36, audit_read: 37,
  perfmon: 38, bpf: 39, checkpoint_restore: 40,
};

/** What serving needs: ownership and mode changes for any client uid (CHOWN, FOWNER, FSETID),
 *  access checks done as the client with fsuid switching (SETUID, SETGID; DAC_OVERRIDE for the
 *  daemon's own bookkeeping), device nodes (MKNOD), security.capability xattrs (SETFCAP). */
const BASE = ['chown', 'dac_override', 'fowner', 'fsetid', 'setgid', 'setuid', 'mknod', 'setfcap'];

/** Needed only while entering the sandbox and dropped right after: mount and pivot_root
 *  (SYS_ADMIN), chroot, raising the open-file hard limit (SYS_RESOURCE), and cutting the
 *  bounding set afterwards (SETPCAP). */
export const SETUP_ONLY = ['sys_admin', 'sys_chroot', 'sys_resource', 'setpcap'];

export interface CapChange { add: boolean; name: string }

/** Parses a --modcaps value; throws UsageError naming the first bad item. */
export function parseModcaps(value: string): CapChange[] {
  const out: CapChange[] = [];
  for (const item of value.split(':')) {
    const sign = item[0];
    let name = item.slice(1).toLowerCase();
    if (name.startsWith('cap_')) name = name.slice(4);
    if ((sign !== '+' && sign !== '-') || !(name in CAPS)) {
      throw new UsageError(`invalid --modcaps item '${item}' (expected +name or -name, e.g. +sys_admin:-mknod)`);
    }
    out.push({ add: sign === '+', name });
  }
  return out;
}

/** The capabilities the server keeps while serving, by name. */
export function keptCaps(modcaps: string | null, fileHandles: boolean): string[] {
  const kept = new Set(BASE);
  // open_by_handle_at(2) needs DAC_READ_SEARCH.
  if (fileHandles) kept.add('dac_read_search');
  for (const c of modcaps ? parseModcaps(modcaps) : []) {
    if (c.add) kept.add(c.name);
    else kept.delete(c.name);
  }
  return [...kept].sort((a, b) => CAPS[a]! - CAPS[b]!);
}

export function capNumbers(names: Iterable<string>): Uint32Array {
  return Uint32Array.from([...new Set(names)].map((n) => CAPS[n]!));
}
