// Answering an operation that completes later (its syscalls ran on the worker pool).
import type { Req, ServerParts } from './handler';

/** An operation that completes later (on the worker pool) is answered when it does. Its answer
 *  cannot throw into the session's handler any more, so a throw there is logged and the request
 *  answered EIO here (the token is still unanswered: answering is the last thing a reply does). */
export function later<T>(s: ServerParts, r: Req, p: Promise<T>, answer: (v: T) => void): void {
  p.then(answer).catch((e: unknown) => s.failed(r, e));
}
