// Builds answers in one reusable buffer and hands them to the channel. Everything is written
// synchronously, so a single buffer serves every reply; the channel fills in len and unique.
import * as P from '../protocol';
import type { RequestChannel } from '../native/channel';

const H = P.OUT_HEADER_SIZE;
/** Largest reply built in JS: READDIR(PLUS) pages and xattr values (64 KiB) fit with room. */
export const REPLY_BUFFER_SIZE = 256 * 1024;

export class Replier {
  readonly out = Buffer.alloc(REPLY_BUFFER_SIZE);

  constructor(private readonly channel: RequestChannel) {}

  /** The payload starts here: encoders write at this offset, then call done(). */
  readonly body = H;

  /** Sends header + out[body, end) with error 0. */
  send(token: number, end: number): void {
    P.writeOutHeader(this.out, 0, end, 0);
    this.channel.reply(token, this.out, end);
  }

  error(token: number, errno: number): void {
    this.channel.replyError(token, errno > 0 && errno <= 511 ? errno : P.Errno.EIO);
  }

  /** An operation's result: a negative number is -errno, anything else success with no payload. */
  status(token: number, r: number): void {
    if (r < 0) this.error(token, -r);
    else this.send(token, H);
  }

  entry(token: number, e: P.EntryOut): void {
    this.send(token, P.writeEntryOut(this.out, H, e));
  }

  attr(token: number, attrValid: number, a: P.Attr): void {
    this.send(token, P.writeAttrOut(this.out, H, attrValid, 0, a));
  }

  open(token: number, fh: number, openFlags: number, backingId: number): void {
    this.send(token, P.writeOpenOut(this.out, H, fh, openFlags, backingId));
  }

  create(token: number, e: P.EntryOut, fh: number, openFlags: number, backingId: number): void {
    const p = P.writeEntryOut(this.out, H, e);
    this.send(token, P.writeOpenOut(this.out, p, fh, openFlags, backingId));
  }

  written(token: number, size: number): void {
    this.send(token, P.writeWriteOut(this.out, H, size));
  }

  /** Raw bytes already placed at out[body .. body+len). */
  bytes(token: number, len: number): void {
    this.send(token, H + len);
  }
}
