// READDIR and READDIRPLUS answers: entries are encoded straight into the reply buffer, up to the
// size the client asked for (never more: the kernel rejects an overlong reply).
import * as P from '../protocol';
import * as dirOps from '../passthrough/dir-ops';
import type { FuseServer } from './session';
import type { Req } from './dispatch';

export function readdirInto(s: FuseServer, r: Req, plus: boolean): void {
  const a = P.decodeRead(r.buf, r.off, r.end);
  const out = s.replier.out;
  const start = s.replier.body;
  const limit = start + Math.min(a.size, out.length - start);
  let pos = start;
  const n = dirOps.readdir(s.fs, a.fh, a.offset, plus, {
    fits: (nameLen) => pos + (plus ? P.direntplusSize(nameLen) : P.direntSize(nameLen)) <= limit,
    add: (d, ino, entry) => {
      if (plus) pos = P.writeEntryOut(out, pos, entry ?? NO_ENTRY);
      pos = P.writeDirentFrom(out, pos, ino, d.nextOffset, d.type, d.buf, d.nameStart, d.nameEnd);
    },
  });
  if (n < 0) return s.replier.error(r.token, -n);
  s.replier.send(r.token, pos);
}

/** "." and ".." in READDIRPLUS carry no entry: nodeid 0 tells the kernel to take no reference. */
const NO_ENTRY: P.EntryOut = {
  nodeid: 0, generation: 0, entryValid: 0, entryValidNsec: 0, attrValid: 0, attrValidNsec: 0,
  attr: { ino: 0, size: 0, blocks: 0, atime: 0, mtime: 0, ctime: 0, atimensec: 0, mtimensec: 0, ctimensec: 0, mode: 0, nlink: 0, uid: 0, gid: 0, rdev: 0, blksize: 0, flags: 0 },
};
