// The engine's options, built once from the command line: what the passthrough needs
// (PassthroughConfig) and what the server offers in INIT (ServerOptions), with the names each
// layer uses. The two front doors add only what differs between them (serve-fuse-dev.ts,
// serve-vhost-user.ts): submount announcement, FUSE passthrough, io_uring, ACLs on /dev/fuse.
import type { IdTranslation } from '../policy/id-map';
import type { PassthroughConfig } from '../passthrough/config';
import type { ServerOptions } from '../server/session';
import type { Config } from './options';

/** 1 MiB writes (256 pages, FUSE_MAX_PAGES): fewer, larger requests for sequential I/O. A
 *  virtio-fs guest's driver caps it further by its queue size. */
export const MAX_WRITE = 1024 * 1024;

export interface EngineConfig {
  fs: PassthroughConfig;
  /** the INIT offer common to both front doors */
  server: ServerOptions;
}

export function engineConfig(cfg: Config, sharedDir: string, ids: IdTranslation | null): EngineConfig {
  return {
    fs: {
      sharedDir, cache: cfg.cache, xattr: cfg.xattr, readOnly: cfg.readOnly,
      inodeFileHandles: cfg.inodeFileHandles, posixLocks: cfg.posixLock, flock: cfg.flock,
      ids, xattrMap: cfg.xattrMap, preserveNoatime: cfg.preserveNoatime, allowDirectIo: cfg.allowDirectIo,
    },
    server: {
      readOnly: cfg.readOnly, stickyCredentials: true, maxWrite: MAX_WRITE,
      announceSubmounts: false, passthrough: false,
      posixLocks: cfg.posixLock, flock: cfg.flock, cacheAlways: cfg.cache === 'always',
      readdirplus: cfg.readdirplus, killprivV2: cfg.killprivV2,
      // virtiofsd's --posix-acl, --writeback, --allow-mmap: what they ask of INIT
      aclMode: cfg.posixAcl, writeback: cfg.writeback, allowMmap: cfg.allowMmap,
    },
  };
}
