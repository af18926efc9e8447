// Standalone mode: mount the export over /dev/fuse and serve it until unmounted or signalled.
import { FuseDevTransport } from '../transport/fuse-dev';
import { FuseServer } from '../server/session';
import { uringOutcome } from '../transport/fuse-uring';
import type { FuseUringStatus } from '../native/fuse-dev';
import type { FileSystem } from '../server/file-system';
import type { ServerOptions } from '../server/session';
import type { Logger } from '../log/logger';
import type { Config } from './options';
import type { Serving } from './serving';
import { MAX_WRITE } from './engine-config';

/** After a signal's unmount, how long requests in flight may take before the session is ended. */
const STOP_GRACE_MS = 1000;

export function serveFuseDev(cfg: Config, engine: ServerOptions, fs: FileSystem, log: Logger, onEnd: (code: number) => void): Serving {
  const mnt = cfg.mount!;
  // default_permissions, always: the kernel checks each access against the modes it caches. It
  // must, because much never reaches us: a path walk through cached dentries (search permission
  // of every directory on the way), the open of a FIFO or a device node. We still act as the
  // caller afterwards, so the host's own check stands behind the kernel's.
  const t = FuseDevTransport.mount(mnt, {
    maxWrite: MAX_WRITE, allowOther: cfg.allowOther, readOnly: cfg.readOnly, defaultPermissions: true,
    fsname: cfg.sharedDir!, subtype: 'vfsd', pollUs: cfg.pollUs, transport: cfg.fuseTransport,
  });
  const isRoot = process.geteuid?.() === 0;
  const server = new FuseServer(t, fs, {
    ...engine,
    announceSubmounts: false, // /dev/fuse never offers submounts
    // Under --cache never|metadata too: a passthrough open has no page cache in the client, its
    // reads and writes go straight to the host file's, as coherent as direct I/O through us and
    // without relaying every byte (file-ops.ts openFileHandle).
    passthrough: cfg.passthrough && isRoot,
    overIoUring: t.uringPrepared,
    // With default_permissions alone the kernel checks the mode bits only: an ACL entry granting
    // more than the mode shows is refused on the mount. With --xattr (as virtiofsd's --posix-acl
    // needs it) the kernel gets the ACLs by GETXATTR — not without: the GETXATTR must then work,
    // and the kernel also asks for security.capability before EVERY write (a round trip even
    // under FUSE passthrough), where ENOSYS otherwise makes it stop asking at once. Not with ids
    // translated either: ACLs carry host ids, and we refuse them then.
    posixAcl: cfg.xattr && cfg.translateUid.length === 0 && cfg.translateGid.length === 0,
  }, log);
  t.onClose(() => {
    server.stop();
    t.close();
    log.info('unmounted', { mount: mnt, requests: server.stats.counts() });
    onEnd(0);
  });
  if (cfg.fuseTransport !== 'dev') t.onTransportSettled((s) => logTransport(cfg, s, log));
  server.start();
  log.info('serving', { shared_dir: cfg.sharedDir, mount: mnt });
  return { server, stop: () => {
    try {
      t.unmount();
      // The unmount is lazy: while a process still holds a file open on the mount, the kernel
      // keeps the connection and never ends the session, so a signal alone would not stop us.
      // Give in-flight requests a moment, then end the session ourselves (the kernel aborts the
      // connection: late users get ENOTCONN, as with libfuse daemons).
      setTimeout(() => {
        if (t.closed) return;
        log.warn('mount still in use after unmount; ending the session', { mount: mnt });
        server.stop();
        t.close();
        log.info('unmounted', { mount: mnt, requests: server.stats.counts() });
        onEnd(0);
      }, STOP_GRACE_MS).unref();
    } catch (e) {
      log.warn(String((e as Error).message));
      server.stop();
      t.close();
      onEnd(0);
    }
  } };
}

/** Which transport serves the mount; a fallback from an explicit --fuse-transport uring warns. */
function logTransport(cfg: Config, status: FuseUringStatus, log: Logger): void {
  const o = uringOutcome(status);
  if (o.transport === 'io_uring') {
    log.info('fuse transport', { transport: o.transport, queues: status.queues, entries: status.entries });
  } else if (cfg.fuseTransport === 'uring') {
    log.warn('fuse transport: io_uring not available, serving with read/writev', { transport: o.transport, reason: o.reason });
  } else {
    log.info('fuse transport', { transport: o.transport, reason: o.reason });
  }
}
