// The namespace sandbox's tests (test/process/sandbox*.test.ts) played as QEMU: the sandboxed
// vfsd on a temp export, a vhost-user front end connected to it, the serving process (the
// launcher's child) and what /proc says about it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnVfsd, type LoggedRun } from './vfsd-process';
import { openRequestSession, FUSE } from './vhost-frontend';
import { waitFor } from './wait';
import { C, sys } from '../../src/native/sys';
import { CAPS } from '../../src/cli/sandbox-caps';

// As a VM manager starts it: without tap's NODE_OPTIONS loaders, which would start the libuv
// pool before main() runs, so before the capability drop. `wrapper` runs it (e.g. setpriv).
export const startVfsd = (args: string[], wrapper: string[] = []): LoggedRun => spawnVfsd(args, true, wrapper);

export function setup(t: { teardown(fn: () => void): void }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-sandbox-'));
  // The state dirs live apart from the export, so the sandbox root holds nothing of dir but share.
  const share = path.join(dir, 'export', 'share');
  fs.mkdirSync(share, { recursive: true });
  fs.writeFileSync(path.join(share, 'hello'), 'hi\n');
  fs.symlinkSync('/etc/passwd', path.join(share, 'passwd-link'));
  const p = { dir, share, sock: path.join(dir, 'vu.sock'), state: path.join(dir, 'st', 'state'), backup: path.join(dir, 'bk', 'backup') };
  t.teardown(() => {
    for (const m of mountsBelow(dir)) sys.umount2(m, C.MNT_DETACH);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return p;
}

function mountsBelow(dir: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(dir + '/')).sort((a, b) => b.length - a.length);
}

export async function connect(sock: string, run: LoggedRun) {
  // The socket file appears at bind(), a moment before listen(): wait for the server to say so.
  await waitFor(() => /waiting for vhost-user front end/.test(run.log()), 'the server', 15000);
  const { fe, request } = await openRequestSession(sock);
  const lookup = async (parent: bigint, name: string) => {
    const r = await request(FUSE.LOOKUP, parent, Buffer.from(name + '\0'));
    return { error: r.h.error, nodeid: r.h.error ? 0n : r.payload.readBigUInt64LE(0), ino: r.h.error ? 0n : r.payload.readBigUInt64LE(40) };
  };
  return { fe, request, lookup };
}

/** The serving process: the launcher's only child. */
export async function servingPid(run: LoggedRun): Promise<number> {
  let pid = 0;
  await waitFor(() => {
    try {
      pid = Number(fs.readFileSync(`/proc/${run.child.pid}/task/${run.child.pid}/children`, 'utf8').trim().split(' ')[0]);
    } catch {
      pid = 0;
    }
    return pid > 0;
  }, 'the sandboxed child', 15000);
  return pid;
}

export function status(pid: number, tid = pid): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8').split('\n')) {
    const i = l.indexOf(':');
    if (i > 0) out[l.slice(0, i)] = l.slice(i + 1).trim();
  }
  return out;
}

export function capMask(names: string[]): bigint {
  return names.reduce((m, n) => m | (1n << BigInt(CAPS[n]!)), 0n);
}
// virtiofsd's set, plus dac_read_search: the default inode mode (--inode-file-handles auto) opens
// file handles, and open_by_handle_at(2) needs it.
export const KEPT = ['chown', 'dac_override', 'dac_read_search', 'fowner', 'fsetid', 'setgid', 'setuid', 'mknod', 'setfcap'];
export const SETUP = ['sys_admin', 'sys_chroot', 'sys_resource', 'setpcap'];
