#!/usr/bin/env node
// The vfsd command: parse the command line, build the filesystem, serve it on the chosen front
// door, and stop cleanly on SIGINT/SIGTERM. Mistakes on the command line and a missing shared
// directory are one line on stderr and a non-zero exit, never a stack trace.
import * as fs from 'node:fs';
import { parseArgs, checkConfig, Config } from './options';
import { UsageError } from './usage-error';
import { HELP, VERSION } from './help';
import { makeLogger, Logger } from '../log/logger';
import { PassthroughFs } from '../passthrough/passthrough-fs';
import { PassthroughFileSystem } from '../passthrough/file-system';
import { engineConfig } from './engine-config';
import { serveFuseDev } from './serve-fuse-dev';
import { serveVhostUser, capabilitiesJson } from './serve-vhost-user';
import { ShareStateKeeper } from './share-state';
import { presizeFdTable, raiseNofile } from './rlimit';
import type { Serving } from './serving';
import { reportStats } from './report-stats';
import { MultidevsPlacement } from '../passthrough/multidevs-placement';
import { buildIdTranslation } from '../policy/id-map';
import * as path from 'node:path';
import { DeviceMap, type AsDaemon } from '../passthrough/device-map';
import { Credentials } from '../passthrough/credentials';
import { chooseSandbox, takeEnteredMarker, launchIntoNamespaces, execIntoChroot, SandboxError, Entered } from './sandbox-launch';
import { enterNamespaceRoot, enterChroot, dropSetupCaps } from './sandbox-enter';
import { keptCaps } from './sandbox-caps';
import { HostMountView } from './sandbox-mountinfo';
import type { Sandbox } from './options';
import { installSeccomp, probeIfAsked, resolveSeccomp } from './seccomp';
import { openSyslog } from './syslog-sink';
import { workerPool } from '../native/worker-pool';

/** native/worker_pool.h kMaxThreads */
const MAX_POOL = 1024;

function fail(msg: string, code: number): never {
  process.stderr.write(`vfsd: ${msg}\n`);
  process.exit(code);
}

function checkSharedDir(dir: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    fail(`shared directory ${dir}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (e as Error).message}`, 1);
  }
  if (!st.isDirectory()) fail(`shared directory ${dir}: not a directory`, 1);
}

export function main(argv: string[]): void {
  let cfg: Config;
  let mode: Sandbox = 'none';
  let seccompMode: ReturnType<typeof resolveSeccomp> = { mode: 'none' };
  try {
    cfg = parseArgs(argv);
    const problem = checkConfig(cfg);
    if (problem) throw new UsageError(problem);
    if (!cfg.help && !cfg.version && !cfg.printCapabilities) mode = chooseSandbox(cfg);
    seccompMode = resolveSeccomp(cfg.seccomp, cfg.mount !== null && process.geteuid?.() !== 0);
    if ('error' in seccompMode) throw new UsageError(seccompMode.error);
  } catch (e) {
    if (e instanceof UsageError) fail(`${e.message}\nTry 'vfsd --help' for more information.`, 2);
    if (e instanceof SandboxError) fail(e.message, 1);
    throw e;
  }
  if (cfg.help) return void process.stdout.write(HELP);
  if (cfg.version) return void process.stdout.write(`vfsd ${VERSION}\n`);
  if (cfg.printCapabilities) return void process.stdout.write(capabilitiesJson() + '\n');

  const log = startLogger(cfg);
  checkSharedDir(cfg.sharedDir!);
  let entered: Entered | null = null;
  try {
    entered = takeEnteredMarker();
    if (!entered && mode === 'namespace') return launchIntoNamespaces(cfg, log);
    if (!entered && mode === 'chroot') execIntoChroot(cfg);
  } catch (e) {
    fail((e as Error).message, 1);
  }
  const sharedDir = path.resolve(cfg.sharedDir!);
  // Raised before the sandbox drops CAP_SYS_RESOURCE.
  raiseNofile(cfg.rlimitNofile, log);
  presizeFdTable(log);
  // The per-thread caller credentials, made first: the device map and the state keeper do the
  // daemon's own filesystem work on the serving thread, so they run it through creds.privileged.
  const ids = buildIdTranslation(cfg.translateUid, cfg.translateGid); // checked by parseArgs already
  const creds = new Credentials(cfg.mount !== null, ids);
  const asDaemon: AsDaemon = (fn) => creds.privileged(fn);
  let devices: DeviceMap | undefined;
  let view: HostMountView | null = null;
  if (entered) {
    // The vhost-user socket was made outside; its path is not reachable from in here.
    cfg.fd = entered.listenFd;
    cfg.socketPath = null;
    try {
      view = new HostMountView(sharedDir);
      // Built while /dev is still reachable: it reads the fs UUIDs of the mounted filesystems.
      devices = new DeviceMap(sharedDir, { readMountInfo: view.read, asDaemon });
      if (entered.mode === 'namespace') {
        enterNamespaceRoot(sharedDir, [cfg.stateDir, cfg.stateBackupDir]);
        view.enteredAt(sharedDir);
      }
    } catch (e) {
      fail((e as Error).message, 1);
    }
  }
  log.info('starting', { config: { ...effective(cfg), sandbox: mode, sandbox_entered: entered !== null } });
  if (cfg.ignored.length) log.warn('accepted but not yet effective', { options: cfg.ignored });

  let keeper: ShareStateKeeper;
  try {
    keeper = new ShareStateKeeper(cfg.stateDir, cfg.stateBackupDir, log, asDaemon);
  } catch (e) {
    fail(`state: ${(e as Error).message}`, 1);
  }
  const placement = new MultidevsPlacement(cfg.multidevs, keeper.state.deviceRegistry, log, devices ?? new DeviceMap(sharedDir, { asDaemon }));
  const engine = engineConfig(cfg, sharedDir, ids);
  const pfs = new PassthroughFs(engine.fs, creds, placement, log);
  if (entered?.mode === 'chroot') {
    // Only now: the engine holds its fds on the export root and /proc/self/fd, which it reopens
    // inodes through; /proc is not reachable from inside the export.
    try {
      view!.keepOpenForChroot();
      enterChroot(sharedDir);
      view!.enteredAt('/');
      // xattrs and truncate name inodes by /proc/self/fd paths: resolve them from the fd held.
      const r = pfs.useProcCwd();
      if (r < 0) throw new Error(`fchdir /proc/self/fd: errno ${-r}`);
    } catch (e) {
      fail((e as Error).message, 1);
    }
  }
  keeper.watch();

  if (entered) {
    // Capabilities are per thread, and threads inherit their creator's: drop what was needed only
    // to enter BEFORE the libuv pool exists (it starts just below). Threads node made before any
    // JS ran (V8's platform workers, the inspector/signal threads) keep the launch bounding set,
    // which is the kept set plus SYS_ADMIN/SYS_CHROOT/SYS_RESOURCE/SETPCAP: they run only V8
    // tasks (GC, compilation), never a syscall on a client's behalf, and being inside the
    // namespaces with no_new_privs they can reach nothing outside the new root either.
    const kept = keptCaps(cfg.modcaps, cfg.inodeFileHandles !== 'never');
    try {
      dropSetupCaps(kept);
    } catch (e) {
      fail((e as Error).message, 1);
    }
    log.info('sandbox entered', { mode: entered.mode, root: entered.mode === 'namespace' ? 'new root with the export only' : sharedDir, capabilities: kept });
  }

  // Threads inherit the credentials of the thread that creates them. libuv starts its pool on
  // first use: make that happen now, as root, before any request switches the JS thread to a
  // caller's fsuid — or the pool would run as that caller forever.
  fs.stat('/', () => {});
  // The same for our own worker pool (blocking file I/O off the event loop): its threads are made
  // here, as the daemon, with the sandbox's setup capabilities already dropped.
  startPool(cfg.threadPoolSize, log);

  let serving: Serving;
  const end = (code: number) => {
    keeper.saveAtStop();
    reportStats(serving.server.stats, cfg.statsFile, log, pfs);
    process.exit(code);
  };
  try {
    const served = new PassthroughFileSystem(pfs);
    serving = cfg.mount ? serveFuseDev(cfg, engine.server, served, log, end) : serveVhostUser(cfg, engine.server, served, log, end);
  } catch (e) {
    fail((e as Error).message, 1);
  }
  process.on('SIGUSR1', () => reportStats(serving.server.stats, cfg.statsFile, log, pfs));
  let stopping = false;
  const onSignal = (sig: string) => {
    // A terminal's Ctrl-C reaches every process of the group (npm, its child): stop once.
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal: sig });
    pfs.creds.reset();
    serving.stop();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  // Last of the startup work: the sandbox is entered, the mount made or the socket listening,
  // the libuv pool started, the
  // signal handlers set. From here on only the allowlisted syscalls exist (src/cli/seccomp.ts).
  try {
    if ('mode' in seccompMode) {
      if (seccompMode.why) log.info('no seccomp filter', { why: seccompMode.why });
      installSeccomp(seccompMode.mode, log, cfg.mount !== null && cfg.fuseTransport === 'uring');
    }
  } catch (e) {
    fail((e as Error).message, 1);
  }
  probeIfAsked(log);
}

/** --thread-pool-size N: N workers (0: every request is served inline on the event loop). */
function startPool(n: number, log: Logger): void {
  const size = Math.min(n, MAX_POOL);
  if (size !== n) log.warn('--thread-pool-size capped', { requested: n, threads: size });
  const r = workerPool.startWorkerPool(size);
  if (r < 0) log.warn('no worker pool: serving every request inline', { errno: -r });
  else log.debug('worker pool', { threads: size });
}

function effective(c: Config): Record<string, unknown> {
  const { help, version, printCapabilities, ignored, translateUid, translateGid, xattrMap, ...rest } = c;
  return { ...rest, xattrMap: xattrMap?.text ?? null, translateUid: translateUid.map((r) => r.text), translateGid: translateGid.map((r) => r.text) };
}

/** stderr (JSON unless a terminal), or with --syslog the syslog socket, stderr staying quiet;
 *  if syslog cannot be reached, stderr with a warning, as virtiofsd does. */
function startLogger(cfg: Config): Logger {
  if (!cfg.syslog) return makeLogger(cfg.logLevel, !process.stderr.isTTY);
  const sink = openSyslog();
  if (typeof sink === 'string') {
    const log = makeLogger(cfg.logLevel, !process.stderr.isTTY);
    log.warn(`can't enable syslog: ${sink}`);
    return log;
  }
  return makeLogger(cfg.logLevel, false, (line, level) => sink.write(line, level));
}

export type { Logger };

if (require.main === module) main(process.argv.slice(2));
