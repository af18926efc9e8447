// OPENDIR, READDIR, READDIRPLUS, RELEASEDIR, FSYNCDIR. Entries are produced into a DirSink the
// server provides (it owns the wire encoding and the reply's room). READDIRPLUS looks each entry
// up, so it counts as a lookup for the client: we ask the sink for room BEFORE the lookup, so an
// entry that would not fit never takes a lookup the kernel will not know about.
import { C, sys } from '../native/sys';
import type { InoValue } from '../protocol/wire';
import { Errno } from '../protocol/errno';
import type { Entry, PassthroughFs } from './passthrough-fs';
import { DirStream } from './dir-stream';
import type { DirHandle } from './handles';

export interface DirSink {
  /** whether an entry with this name length still fits in the reply */
  fits(nameLen: number): boolean;
  /** adds the stream's current entry */
  add(d: DirStream, clientIno: InoValue, entry: Entry | null): void;
}

export function opendir(fs: PassthroughFs, nodeid: number): number {
  const inode = fs.known(nodeid);
  if (typeof inode === 'number') return inode;
  // A directory moved out of the export is not listed (its names are outside; see withFdInExport).
  const fd = fs.withFdInExport(inode, () => fs.reopen(inode, C.O_RDONLY | C.O_DIRECTORY | C.O_CLOEXEC));
  if (fd < 0) return fd;
  const h: DirHandle = { kind: 'dir', fd, inode, stream: new DirStream(fd) };
  return fs.handles.add(h);
}

export function readdir(fs: PassthroughFs, fh: number, offset: number, plus: boolean, sink: DirSink): number {
  const h = fs.handles.dir(fh);
  if (!h) return -Errno.EBADF;
  const s = h.stream;
  const r = s.seek(offset);
  if (r < 0) return r;
  let count = 0;
  for (;;) {
    const more = s.next();
    if (more === false) break;
    if (more !== true) return count > 0 ? count : more;
    if (!sink.fits(s.nameLength)) break;
    let entry: Entry | null = null;
    if (plus && !s.isDotOrDotDot()) {
      const found = fs.lookupChild(h.inode, s.name());
      if (typeof found !== 'number') {
        entry = fs.entryOf(found.inode, found.st, h.inode);
      } else if (found === -Errno.ENOENT) {
        // Vanished between getdents and the lookup: gone, as a fresh listing would show.
        s.advance();
        continue;
      }
      // Any other failure (EMFILE when one fd per inode meets RLIMIT_NOFILE, EACCES, ENODEV from
      // multidevs=forbid...) still lists the name, without attributes (nodeid 0): the listing
      // stays complete and a later LOOKUP reports the error for that one entry.
    }
    sink.add(s, entry ? entry.attr.ino : fs.policy.direntIno(h.inode, s.ino), entry);
    s.advance();
    count++;
  }
  return count;
}

export function releasedir(fs: PassthroughFs, fh: number): number {
  // Only a directory's fh: a file's fh sent to RELEASEDIR stays open (see file-ops release).
  const h = fs.handles.dir(fh);
  if (!h) return -Errno.EBADF;
  fs.handles.remove(fh);
  return sys.close(h.fd);
}

export function fsyncdir(fs: PassthroughFs, fh: number, datasync: boolean): number {
  const h = fs.handles.dir(fh);
  return h ? sys.fsync(h.fd, datasync) : -Errno.EBADF;
}
