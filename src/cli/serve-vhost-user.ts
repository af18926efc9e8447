// VM mode: a vhost-user-fs backend for QEMU's vhost-user-fs-pci. Like virtiofsd, one process
// serves one front end: when it disconnects (the VM stopped, or QEMU died) we save state and exit 0.
import { VhostUserTransport } from '../transport/vhost-user';
import { FuseServer } from '../server/session';
import type { PassthroughFs } from '../passthrough/passthrough-fs';
import type { Logger } from '../log/logger';
import type { Config } from './options';
import type { Serving } from './serving';

/** The guest's virtio-fs driver caps it further by its queue size; 1 MiB is what we accept. */
const MAX_WRITE = 1024 * 1024;
/** Requests are gathered into the inbox except WRITE data, which stays in guest memory: the largest
 *  other request is SETXATTR with a 64 KiB value. */
const MAX_REQUEST = 256 * 1024;
const REQUEST_QUEUES = 2;

export function serveVhostUser(cfg: Config, fs: PassthroughFs, log: Logger, onEnd: (code: number) => void): Serving {
  const t = new VhostUserTransport({
    socketPath: cfg.socketPath ?? undefined,
    listenFd: cfg.fd ?? undefined,
    socketGroup: cfg.socketGroup ?? undefined,
    requestQueues: REQUEST_QUEUES,
    maxRequestSize: MAX_REQUEST,
  });
  const server = new FuseServer(t, fs, {
    readOnly: cfg.readOnly, stickyCredentials: true, maxWrite: MAX_WRITE, announceSubmounts: cfg.announceSubmounts,
    posixLocks: cfg.posixLock, flock: cfg.flock, cacheAlways: cfg.cache === 'always', passthrough: false,
    killprivV2: cfg.killprivV2,
  }, log);
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

export function capabilitiesJson(): string {
  return VhostUserTransport.capabilitiesJson();
}
