// vfsd as a library: the engine and its two front doors, for a TypeScript program that wants to
// serve a directory itself (see README "Library use"). The `vfsd` command (src/cli) is built from
// exactly these pieces.
export { PassthroughFs } from './passthrough/passthrough-fs';
export { Credentials } from './passthrough/credentials';
export { DeviceMap } from './passthrough/device-map';
export { defaultPassthroughConfig, type PassthroughConfig, type CacheMode, type InodeFileHandles } from './passthrough/config';
export { MultidevsPlacement } from './passthrough/multidevs-placement';
export { passThroughPolicy, type InodePolicy } from './passthrough/inode-policy';
export { FuseServer, type ServerOptions } from './server/session';
export { makeLogger, silentLogger, type Logger } from './log/logger';
export { FuseDevTransport, FuseDevError } from './transport/fuse-dev';
export { VhostUserTransport } from './transport/vhost-user';
export type { RequestChannel } from './native/channel';
export { DeviceRegistry } from './state/device-registry';
export { openShareStateStore, type ShareState } from './state/share-state';
