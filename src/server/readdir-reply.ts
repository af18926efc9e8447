// READDIR and READDIRPLUS answers: entries are encoded straight into the reply buffer, up to the
// size the client asked for (never more: the kernel rejects an overlong reply).
import * as P from '../protocol';
import type { Req, ServerParts } from './handler';
import { later } from './later';

export function readdirInto(s: ServerParts, r: Req, plus: boolean): void {
  const a = P.decodeRead(r.buf, r.off, r.end);
  answer(s, r, plus, a.fh, a.offset, a.size);
}

/** One try at the answer. Entries read on the worker pool come back as a Promise: null means
 *  the filesystem is ready now, and the answer is built afresh in the reply buffer (the request
 *  itself is not read again: its inbox slot is only valid during its batch). */
function answer(s: ServerParts, r: Req, plus: boolean, fh: number, offset: number, size: number): void {
  const out = s.replier.out;
  const start = s.replier.body;
  const limit = start + Math.min(size, out.length - start);
  // Entries are mostly encoded natively into room (dir-ops readdirNative / readdirPlusNative),
  // the rest one by one through add().
  const room = { out, pos: start, limit };
  const n = s.fs.readdir(fh, offset, plus, {
    room,
    fits: (nameLen) => room.pos + (plus ? P.direntplusSize(nameLen) : P.direntSize(nameLen)) <= limit,
    add: (d, ino, entry) => {
      let pos = room.pos;
      if (plus) pos = P.writeEntryOut(out, pos, entry ?? NO_ENTRY);
      room.pos = P.writeDirentFrom(out, pos, ino, d.nextOffset, d.type, d.buf, d.nameStart, d.nameEnd);
    },
    complete: (rec, nodeid, ino, attrFlags, uid, gid) => {
      P.completeDirentplus(out, rec, nodeid, ino, attrFlags);
      // The owner as the client sees it (the filesystem translated the host's ids already).
      P.writeDirentplusIds(out, rec, uid, gid);
    },
    rewrite: (rec, entry) => P.rewriteDirentplus(out, rec, entry ?? NO_ENTRY, entry ? entry.attr.ino : null),
  });
  if (n instanceof Promise) return later(s, r, n, (v) => (v === null ? answer(s, r, plus, fh, offset, size) : s.replier.error(r.token, -v)));
  if (n < 0) return s.replier.error(r.token, -n);
  s.replier.send(r.token, room.pos);
}

/** "." and ".." in READDIRPLUS carry no entry: nodeid 0 tells the kernel to take no reference. */
const NO_ENTRY: P.EntryOut = {
  nodeid: 0, generation: 0, entryValid: 0, entryValidNsec: 0, attrValid: 0, attrValidNsec: 0,
  attr: { ino: 0, size: 0, blocks: 0, atime: 0, mtime: 0, ctime: 0, atimensec: 0, mtimensec: 0, ctimensec: 0, mode: 0, nlink: 0, uid: 0, gid: 0, rdev: 0, blksize: 0, flags: 0 },
};
