// What "answered as the protocol says" means, checked for one request and its answers: exactly one
// answer (none — the channel's done() — for FORGET, BATCH_FORGET, INTERRUPT, NOTIFY_REPLY), an
// error is a real errno (1..4095 and known to this system), and a success carries the payload
// size fuse.h gives for the opcode.
import * as os from 'node:os';
import type { Answer } from '../helpers/memory-channel';
import { NO_ANSWER, OP } from './requests';

const KNOWN_ERRNOS = new Set<number>(Object.values(os.constants.errno as Record<string, number>));

export function validErrno(e: number): boolean {
  return Number.isInteger(e) && e > 0 && e < 4096 && KNOWN_ERRNOS.has(e);
}

/** Payload size of a successful answer, exact; or a predicate for variable ones. */
const EXACT: Record<number, number | ((n: number, req: Buffer) => boolean)> = {
  [OP.LOOKUP]: 128, [OP.MKNOD]: 128, [OP.MKDIR]: 128, [OP.SYMLINK]: 128, [OP.LINK]: 128,
  [OP.GETATTR]: 104, [OP.SETATTR]: 104,
  [OP.READLINK]: (n) => n > 0 && n <= 4096,
  [OP.OPEN]: 16, [OP.OPENDIR]: 16,
  [OP.CREATE]: 144, [OP.TMPFILE]: 144,
  [OP.STATFS]: 80, [OP.STATX]: 288, [OP.GETLK]: 24, [OP.LSEEK]: 8,
  [OP.COPY_FILE_RANGE]: 8, [OP.COPY_FILE_RANGE_64]: 8,
  [OP.INIT]: (n) => n === 64 || n === 24 || n === 8,
  [OP.GETXATTR]: (n, req) => (u32(req, 40) === 0 ? n === 8 : n <= u32(req, 40)),
  [OP.LISTXATTR]: (n, req) => (u32(req, 40) === 0 ? n === 8 : n <= u32(req, 40)),
  [OP.READDIR]: (n, req) => n <= u32(req, 56) && n % 8 === 0,
  [OP.READDIRPLUS]: (n, req) => n <= u32(req, 56) && n % 8 === 0,
};
for (const op of [OP.RELEASE, OP.FSYNC, OP.FLUSH, OP.SETXATTR, OP.REMOVEXATTR, OP.RELEASEDIR, OP.FSYNCDIR,
  OP.SETLK, OP.SETLKW, OP.ACCESS, OP.UNLINK, OP.RMDIR, OP.RENAME, OP.RENAME2, OP.FALLOCATE, OP.SYNCFS, OP.DESTROY]) {
  EXACT[op] = 0;
}

const u32 = (b: Buffer, off: number) => (b.length >= off + 4 ? b.readUInt32LE(off) : 0);

/** The opcode the server sees (null when the request is too short to carry one). */
export function opcodeOf(req: Buffer): number | null {
  return req.length >= 40 ? req.readUInt32LE(4) : null;
}

/** null when the answers are right for the request, else what is wrong. `final`: no more
 *  answers can come (a missing one is a failure, not a request still waiting). */
export function checkAnswers(req: Buffer, answers: Answer[], final: boolean): string | null {
  const op = opcodeOf(req);
  if (answers.length > 1) return `${answers.length} answers (${answers.map((a) => a.kind).join(', ')})`;
  if (answers.length === 0) return final ? 'no answer' : null;
  const a = answers[0];
  const silent = op !== null && NO_ANSWER.has(op);
  if (silent) return a.kind === 'done' ? null : `a ${a.kind} answer for a request that must get none`;
  switch (a.kind) {
    case 'done': return 'no answer (done) for a request that needs one';
    case 'error': return validErrno(a.errno) ? null : `invalid errno ${a.errno}`;
    case 'read':
      if (op !== OP.READ) return `a READ answer for opcode ${op}`;
      return a.errno ? (validErrno(a.errno) ? null : `invalid errno ${a.errno}`) : a.bytes <= u32(req, 56) ? null : `read ${a.bytes} > size`;
    case 'write':
      if (op !== OP.WRITE) return `a WRITE answer for opcode ${op}`;
      return a.errno ? (validErrno(a.errno) ? null : `invalid errno ${a.errno}`) : null;
    case 'reply': {
      if (a.error !== 0) return validErrno(-a.error) ? null : `reply with header error ${a.error}`;
      const want = op === null ? undefined : EXACT[op];
      if (want === undefined) return `a success answer for opcode ${op} (only errors expected)`;
      const ok = typeof want === 'number' ? a.payload.length === want : want(a.payload.length, req);
      return ok ? null : `payload of ${a.payload.length} bytes for opcode ${op}`;
    }
  }
}
