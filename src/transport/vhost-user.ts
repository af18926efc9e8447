// VhostUserTransport: the TypeScript face of the native vhost-user-fs backend. It listens for
// the VM manager's QEMU, turns native -errno results into clear errors where a caller must
// react (listen), and forwards everything else of the RequestChannel contract unchanged
// (./forwards-to-native.ts), so the engine serves virtio-fs exactly as it serves /dev/fuse.
//
// Events:
//  'connected'            a front end connected (one at a time; others are refused)
//  'ready'                a virtqueue is running: requests may arrive
//  'disconnected'         the front end went away (QEMU quit or died, or sent a malformed
//                         message): like virtiofsd, the caller should save its state and exit 0
//  'warning' (message)    something went wrong that the backend survived (unsupported message,
//                         a queue the guest corrupted, a refused second front end, ...)
import { EventEmitter } from 'node:events';
import type { RequestChannel } from '../native/channel';
import { errnoName } from '../log/errno-name';
import { vhostUser, type VhostUserBackend, type VhostUserEvent, type VhostUserOptions } from '../native/vhost-user';
import { forwardsToNative } from './forwards-to-native';

export class VhostUserTransport extends forwardsToNative(EventEmitter) implements RequestChannel {
  protected readonly native: VhostUserBackend;
  private closed = false;

  constructor(readonly options: VhostUserOptions) {
    super();
    this.native = new vhostUser.VhostUserBackend(options);
    this.native.onEvent((ev: VhostUserEvent) => {
      if (ev.type === 'error') this.emit('warning', ev.message);
      else this.emit(ev.type);
    });
  }

  /** The JSON that `--print-capabilities` prints (same as the C virtiofsd). */
  static capabilitiesJson(): string {
    return vhostUser.capabilitiesJson();
  }

  /** Starts listening; throws an Error that says what is wrong with the socket. */
  listen(): void {
    const rc = this.native.listen();
    if (rc === 0) return;
    const where = this.options.socketPath ?? `fd ${this.options.listenFd}`;
    const name = errnoName(-rc);
    let why: string;
    if (name === 'EADDRINUSE') why = 'another process is listening on it';
    else if (name === 'EEXIST') why = 'a file that is not a socket is in the way';
    else if (name === 'ENAMETOOLONG') why = 'the path is too long for a unix socket';
    else if (name === 'ENOENT' && this.options.socketGroup) why = `no such group '${this.options.socketGroup}' (or no such directory)`;
    else if (name === 'EINVAL' && this.options.listenFd !== undefined) why = 'it is not a listening socket';
    else why = name;
    const err = new Error(`vhost-user socket ${where}: ${why}`) as NodeJS.ErrnoException;
    err.code = name;
    err.errno = rc;
    throw err;
  }

  start(onBatch: (count: number) => void): void {
    this.native.start(onBatch);
  }

  /** Stops listening, drops the front end, releases every fd and mapping. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
  }
}
