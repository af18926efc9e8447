// What an opcode handler receives: one request (Req) and the parts of the server it may use
// (ServerParts, which FuseServer has). A module of its own so that the handlers (dispatch.ts,
// readdir-reply.ts) and the session that calls them import these types, not each other.
import type * as P from '../protocol';
import type { RequestChannel } from '../native/channel';
import type { FileSystem } from './file-system';
import type { Replier } from './replier';
import type { BlockingLocks } from './blocking-locks';
import type { NegotiatedInit, ServerWants } from './init';

export interface Req {
  buf: Buffer;
  /** start of the body (after fuse_in_header) */
  off: number;
  /** end of the body (extensions excluded) */
  end: number;
  token: number;
  h: P.InHeader;
}

export interface ServerParts {
  readonly channel: RequestChannel;
  readonly fs: FileSystem;
  readonly opts: ServerWants;
  readonly replier: Replier;
  readonly locks: BlockingLocks;
  readonly init: NegotiatedInit | null;
  /** DESTROY: the session ends. */
  stop(): void;
  /** A request that completed later failed with an exception: logged, answered EIO. */
  failed(r: Req, e: unknown): void;
}

export type Handler = (s: ServerParts, r: Req) => void;
