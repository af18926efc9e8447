// Choosing the sandbox and starting the process that lives in it.
//
// namespace: the process that serves must be BORN in its mount, pid and net namespaces (node is
// multithreaded before any JS runs, and unshare() moves only the calling thread), so this process
// makes the vhost-user listening socket (its path is outside the sandbox), clones a child into
// new namespaces that execs node again on the same script and arguments, and then only waits:
// it forwards SIGTERM/SIGINT/SIGUSR1/SIGHUP and exits with the child's status. The child dies with
// it (PR_SET_PDEATHSIG). The child finds the listening fd and the mode in VFSD_SANDBOX.
// chroot: no namespaces and no second process: the listening socket is made, then this process
// execs itself in place (same pid) with the reduced bounding set, and the new image chroots.
// With --uid-map/--gid-map the namespaces belong to a new user namespace (sandbox-userns.ts).
// Both: the bounding set is cut before the exec, so every thread of the new node starts with at
// most the kept capabilities plus the few needed to enter (sandbox-enter.ts drops those).
import * as fs from 'node:fs';
import { sandbox } from '../native/sandbox';
import type { Config, Sandbox } from './options';
import { UsageError } from './usage-error';
import { keptCaps, SETUP_ONLY, capNumbers } from './sandbox-caps';
import type { Logger } from '../log/logger';
import { errnoName } from '../log/errno-name';
import { userNsMaps, checkUserNsMaps, writeUserNsMaps } from './sandbox-userns';

export const MARKER = 'VFSD_SANDBOX';

/** What the process inside learns from the one that launched it. */
export interface Entered {
  mode: 'namespace' | 'chroot';
  listenFd: number;
}

/** The marker, if this process was launched into a sandbox; removed from the environment so
 *  nothing started later inherits it. */
export function takeEnteredMarker(): Entered | null {
  const v = process.env[MARKER];
  if (v === undefined) return null;
  delete process.env[MARKER];
  const m = /^(namespace|chroot):(\d+)$/.exec(v);
  if (!m) throw new Error(`${MARKER}: malformed ('${v}')`);
  const e: Entered = { mode: m[1] as Entered['mode'], listenFd: Number(m[2]) };
  // Only the launcher sets this; pid 1 proves a new pid namespace was really made.
  if (e.mode === 'namespace' && process.pid !== 1) throw new Error(`${MARKER}: not in a new pid namespace`);
  return e;
}

/** The sandbox this run gets. Like virtiofsd: namespace by default for root serving vhost-user;
 *  none for other users and for --mount (a FUSE mount made inside a private mount namespace would
 *  be invisible to the host). Asking for what cannot be had is an error, never a silent none. */
export function chooseSandbox(cfg: Config): Sandbox {
  const root = process.geteuid?.() === 0;
  if (cfg.uidMap.length || cfg.gidMap.length) return withIdMaps(cfg);
  if (cfg.sandbox === null) return root && !cfg.mount ? 'namespace' : 'none';
  if (cfg.sandbox === 'none') return 'none';
  if (cfg.mount) throw new UsageError(`--sandbox ${cfg.sandbox} works with --socket-path/--fd only (a local --mount needs --sandbox none)`);
  if (cfg.sandbox === 'chroot' && (cfg.stateDir || cfg.stateBackupDir)) {
    // After chroot(2) into the export nothing outside it is reachable: state could not be saved.
    throw new UsageError('--sandbox chroot cannot reach --state-dir/--state-backup-dir outside the export (use --sandbox namespace)');
  }
  if (!root && cfg.sandbox === 'namespace') {
    throw new SandboxError('--sandbox namespace needs root, or --uid-map/--gid-map to make it in a user namespace (or use --sandbox none)');
  }
  if (!root) throw new SandboxError(`--sandbox ${cfg.sandbox} needs root (use --sandbox none)`);
  return cfg.sandbox;
}

/** --uid-map/--gid-map describe the user namespace the namespace sandbox is made in
 *  (sandbox-userns.ts), for root and for anyone else: with them the sandbox is namespace unless
 *  another is asked for, and asking for another is an error (as in virtiofsd: chroot and none
 *  make no namespace, so the maps could only be ignored, serving other owners than asked). */
function withIdMaps(cfg: Config): Sandbox {
  const given = cfg.uidMap.length ? '--uid-map' : '--gid-map';
  if (cfg.sandbox === 'chroot' || cfg.sandbox === 'none') {
    throw new UsageError(`${given} takes effect only with --sandbox namespace (it describes the user namespace that sandbox is made in; --sandbox ${cfg.sandbox} makes none)`);
  }
  if (cfg.mount) throw new UsageError(`${given} needs --sandbox namespace, which serves --socket-path/--fd only (a local --mount is made in the host's namespaces)`);
  if (cfg.inodeFileHandles === 'prefer' || cfg.inodeFileHandles === 'mandatory') {
    // open_by_handle_at(2) wants CAP_DAC_READ_SEARCH in the initial namespace (or CAP_SYS_ADMIN
    // over the mount, not kept): inside, every OPEN by handle would fail with EPERM.
    throw new UsageError(`--inode-file-handles ${cfg.inodeFileHandles} cannot work in the user namespace of ${given} (opening by file handle needs a capability of the initial namespace); use auto or never`);
  }
  const euid = process.geteuid?.() ?? 0;
  checkUserNsMaps(userNsMaps(cfg, euid, process.getegid?.() ?? 0)!, euid);
  return 'namespace';
}

/** A sandbox that cannot be set up: one line, exit 1. */
export class SandboxError extends Error {}

/** The same words VhostUserTransport.listen() uses when it makes the socket itself. */
function socketProblem(cfg: Config, rc: number): string {
  const name = errnoName(-rc);
  if (name === 'EADDRINUSE') return 'another process is listening on it';
  if (name === 'EEXIST') return 'a file that is not a socket is in the way';
  if (name === 'ENAMETOOLONG') return 'the path is too long for a unix socket';
  if (name === 'ENOENT' && cfg.socketGroup) return `no such group '${cfg.socketGroup}' (or no such directory)`;
  return name;
}

/** Capabilities the exec keeps in its bounding set: the serving set plus the setup-only ones. */
function boundingFor(cfg: Config): Uint32Array {
  return capNumbers([...keptCaps(cfg.modcaps, cfg.inodeFileHandles !== 'never'), ...SETUP_ONLY]);
}

/** The listening socket, made here, outside the sandbox. */
function listener(cfg: Config): number {
  if (cfg.fd !== null) return cfg.fd;
  const fd = sandbox.listenUnix(cfg.socketPath!, cfg.socketGroup ?? '');
  if (fd < 0) throw new SandboxError(`vhost-user socket ${cfg.socketPath}: ${socketProblem(cfg, fd)}`);
  return fd;
}

function childArgv(): { file: string; argv: string[] } {
  return { file: process.execPath, argv: [process.execPath, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)] };
}

function childEnv(mode: Sandbox, fd: number): string[] {
  const env: string[] = [];
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== MARKER) env.push(`${k}=${v}`);
  env.push(`${MARKER}=${mode}:${fd}`);
  return env;
}

/**
 * The fds this process was started with besides stdio, e.g. the fcntl-locked pid file libvirt
 * leaves open in each daemon it starts: it judges the daemon alive by that lock, and stops only
 * a daemon whose lock is held. Node marks every fd close-on-exec at startup, so the chroot exec
 * would silently close them. Node's own fds at this point are anonymous inodes (epoll, eventfd)
 * and self-pipes (both ends held here); everything else came from the parent.
 */
export function inheritedFds(): number[] {
  const targets = new Map<number, string>();
  for (const name of fs.readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    if (fd <= 2) continue;
    try {
      targets.set(fd, fs.readlinkSync(`/proc/self/fd/${name}`));
    } catch {
      // the directory fd readdirSync used, closed by now
    }
  }
  const pipeEnds = new Map<string, number>();
  for (const t of targets.values()) if (t.startsWith('pipe:')) pipeEnds.set(t, (pipeEnds.get(t) ?? 0) + 1);
  return [...targets].filter(([, t]) => !t.startsWith('anon_inode:') && !(t.startsWith('pipe:') && pipeEnds.get(t)! > 1)).map(([fd]) => fd);
}

/** chroot: exec in place; returns only by throwing. */
export function execIntoChroot(cfg: Config): never {
  const inherited = inheritedFds();
  const fd = listener(cfg);
  const { file, argv } = childArgv();
  const keep = Uint32Array.from(new Set([fd, ...inherited]));
  const rc = sandbox.sandboxExec(file, argv, childEnv('chroot', fd), boundingFor(cfg), keep);
  throw new SandboxError(`sandbox: exec: ${errnoName(-rc)}`);
}

const FORWARDED = ['SIGTERM', 'SIGINT', 'SIGUSR1', 'SIGHUP'] as const;

/** The socket file is ours (made by listener()): gone with the server, as without the sandbox. */
function removeSocket(cfg: Config): void {
  if (cfg.fd !== null) return;
  try {
    fs.unlinkSync(cfg.socketPath!);
  } catch {
    // already removed
  }
}

/** namespace: start the child and wait for it; this process exits with the child's status. */
export function launchIntoNamespaces(cfg: Config, log: Logger): void {
  const fd = listener(cfg);
  const { file, argv } = childArgv();
  const euid = process.geteuid?.() ?? 0;
  const egid = process.getegid?.() ?? 0;
  const maps = userNsMaps(cfg, euid, egid);
  const r = sandbox.sandboxSpawn(file, argv, childEnv('namespace', fd), boundingFor(cfg), true, Uint32Array.of(fd), maps !== null);
  if (typeof r === 'number') throw new SandboxError(`sandbox: cannot create namespaces${maps ? ' (with a user namespace)' : ''}: ${errnoName(-r)}`);
  const [pid, pidfd, go] = r;
  if (maps) {
    // The child waits for this byte; closing without it makes it exit.
    const problem = writeUserNsMaps(pid, maps, euid, egid);
    if (problem) {
      fs.closeSync(go);
      removeSocket(cfg);
      throw new SandboxError(`sandbox: user namespace: ${problem}`);
    }
    fs.writeSync(go, Buffer.of(1));
    fs.closeSync(go);
    log.debug('user namespace mapped', { pid, uid_map: maps.uid, gid_map: maps.gid });
  }
  // The child has its own copy of the listening socket; ours would only keep it open.
  if (cfg.fd === null) fs.closeSync(fd);
  log.debug('sandboxed server started', { pid });
  const send = (sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone: watchChild is about to report it
    }
  };
  let resend: NodeJS.Timeout | null = null;
  for (const sig of FORWARDED) {
    process.on(sig, () => {
      send(sig);
      // The server is pid 1 of its namespace: a signal it has no handler for yet (it is still
      // starting) is dropped, not fatal. So a stop request is repeated until it exits; the
      // server stops once however often it is asked.
      if ((sig === 'SIGTERM' || sig === 'SIGINT') && !resend) resend = setInterval(() => send(sig), 1000);
    });
  }
  const rc = sandbox.watchChild(pidfd, (code, signal) => {
    removeSocket(cfg);
    // A clean stop (exit 0) must stay 0: VM managers rely on it. A child killed by a signal is
    // reported the way a shell would.
    process.exit(code >= 0 ? code : 128 + signal);
  });
  if (rc < 0) {
    process.kill(pid, 'SIGKILL');
    throw new SandboxError(`sandbox: cannot watch the child: ${errnoName(-rc)}`);
  }
}
