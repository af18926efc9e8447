// What both transports (./fuse-dev.ts, ./vhost-user.ts) hand to their native session unchanged:
// the request buffers and the answers of the RequestChannel contract. The native side checks
// every token and argument itself (-EINVAL, -EBADF: see ../native/channel.ts), so a TypeScript
// face has nothing to add to an answer; what it adds is setup, lifetime, and errors a person can
// act on. A class has one base and VhostUserTransport's is EventEmitter, so this is a mixin: it
// puts the forwarding on top of whatever base the transport needs.
import type { RequestChannel } from '../native/channel';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the mixin form TypeScript requires
type Base = abstract new (...args: any[]) => object;

/** A class without a base of its own, for forwardsToNative(NoBase). */
export class NoBase {}

export function forwardsToNative<B extends Base>(base: B) {
  abstract class ForwardsToNative extends base {
    /** The native session that serves the channel. */
    protected abstract readonly native: RequestChannel;

    get inbox(): Buffer { return this.native.inbox; }
    get table(): Uint32Array { return this.native.table; }

    reply(token: number, buf: Uint8Array, len: number): number { return this.native.reply(token, buf, len); }
    replyError(token: number, errno: number): number { return this.native.replyError(token, errno); }
    readInto(token: number, fd: number, size: number, offset: number, path?: number): number {
      return this.native.readInto(token, fd, size, offset, path);
    }
    writeFrom(token: number, fd: number, size: number, offset: number, killPriv: boolean, path?: number): number {
      return this.native.writeFrom(token, fd, size, offset, killPriv, path);
    }
    fileJob(token: number, op: number, fd: number, fd2: number, a: number, b: number, c: number, path: number, killPriv: boolean): number {
      return this.native.fileJob(token, op, fd, fd2, a, b, c, path, killPriv);
    }
    done(token: number): void { this.native.done(token); }
  }
  return ForwardsToNative;
}
