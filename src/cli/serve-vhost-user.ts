// VM mode: a vhost-user-fs backend for QEMU's vhost-user-fs-pci. Like virtiofsd, one process
// serves one front end: when it disconnects (the VM stopped, or QEMU died) we save state and exit 0.
import { VhostUserTransport } from '../transport/vhost-user';
import { FuseServer } from '../server/session';
import type { FileSystem } from '../server/file-system';
import type { ServerOptions } from '../server/session';
import type { Logger } from '../log/logger';
import type { Config } from './options';
import type { Serving } from './serving';

/** Requests are gathered into the inbox except WRITE data, which stays in guest memory: the largest
 *  other request is SETXATTR with a 64 KiB value. */
const MAX_REQUEST = 256 * 1024;
const REQUEST_QUEUES = 2;

export function serveVhostUser(cfg: Config, engine: ServerOptions, fs: FileSystem, log: Logger, onEnd: (code: number) => void): Serving {
  const t = new VhostUserTransport({
    socketPath: cfg.socketPath ?? undefined,
    listenFd: cfg.fd ?? undefined,
    socketGroup: cfg.socketGroup ?? undefined,
    requestQueues: REQUEST_QUEUES,
    maxRequestSize: MAX_REQUEST,
  });
  const server = new FuseServer(t, fs, { ...engine, announceSubmounts: cfg.announceSubmounts }, log);
  let ended = false;
  const end = (why: string) => {
    if (ended) return;
    ended = true;
    log.info(why);
    server.stop();
    t.close();
    onEnd(0);
  };
  t.on('connected', () => log.info('front end connected'));
  t.on('ready', () => log.debug('virtqueue ready'));
  t.on('warning', (m: string) => log.warn(m));
  t.on('disconnected', () => end('front end disconnected'));
  t.listen();
  server.start();
  log.info('waiting for vhost-user front end', { socket: cfg.socketPath ?? `fd ${cfg.fd}`, shared_dir: cfg.sharedDir });
  return { server, stop: () => end('stopped') };
}

/**
 * The optional features of the vhost-user-fs JSON (QEMU's docs/interop/vhost-user.json), as the
 * VM manager reads them from `--print-capabilities` (libvirt runs it on a `<binary path>`) or
 * from the discovery file (data/40-vfsd.json must list the same). Only what vfsd really does:
 * - separate-options: libvirt then passes --shared-dir/--cache/--sandbox/--xattr/--log-level/
 *   --rlimit-nofile as options of their own instead of one `-o` list (both are accepted).
 * Not listed: migrate-precopy (vfsd has no vhost-user device-state migration), and
 * posix-acl-negotiation-mode / security-label-negotiation-mode (virtiofsd 1.14's
 * --posix-acl/--security-label never|auto|always) until those options take effect here.
 */
export const CAPABILITY_FEATURES: readonly string[] = ['separate-options'];

export function capabilitiesJson(): string {
  const base = JSON.parse(VhostUserTransport.capabilitiesJson()) as Record<string, unknown>;
  return JSON.stringify({ ...base, features: CAPABILITY_FEATURES }, null, 2);
}
