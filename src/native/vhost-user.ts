// Typed face of native/vhost_user.cc: a vhost-user-fs backend (the QEMU side connects to it).
import { addon } from './addon';
import type { RequestChannel } from './channel';

export interface VhostUserOptions {
  /** listen on this unix socket path (created; an existing stale socket file is replaced) */
  socketPath?: string;
  /** or accept on this already listening socket fd (VM manager's --fd) */
  listenFd?: number;
  /** group owning the socket file, as virtiofsd's --socket-group */
  socketGroup?: string;
  /** request queues besides hiprio (virtio-fs num_request_queues) */
  requestQueues: number;
  /** largest request we accept (bytes), to size the inbox */
  maxRequestSize: number;
}

export type VhostUserEvent =
  | { type: 'connected' }
  | { type: 'ready' }           // rings enabled, requests may arrive
  | { type: 'disconnected' }    // the front end closed the socket: save state and exit 0
  | { type: 'error'; message: string };

export interface VhostUserNative {
  VhostUserBackend: new (opts: VhostUserOptions) => VhostUserBackend;
  /** The JSON that --print-capabilities prints. */
  capabilitiesJson(): string;
}

export interface VhostUserBackend extends RequestChannel {
  /** Begin listening (before start()); returns 0 or -errno. */
  listen(): number;
  onEvent(cb: (ev: VhostUserEvent) => void): void;
}

export const vhostUser: VhostUserNative = addon as VhostUserNative;
