// OPENDIR, READDIR, READDIRPLUS, RELEASEDIR, FSYNCDIR. Entries are produced into a DirSink the
// server provides (it owns the wire encoding and the reply's room). READDIRPLUS looks each entry
// up, so it counts as a lookup for the client: we ask the sink for room BEFORE the lookup, so an
// entry that would not fit never takes a lookup the kernel will not know about.
import { C, sys } from '../native/sys';
import type { InoValue } from '../protocol/wire';
import { Errno } from '../protocol/errno';
import type { Entry, PassthroughFs } from './passthrough-fs';
import { DirStream, RawDirent } from './dir-stream';
import { isDot, isDotDot } from './names';
import type { DirHandle } from './handles';

export interface DirSink {
  /** whether an entry with this name length still fits in the reply */
  fits(nameLen: number): boolean;
  add(d: RawDirent, clientIno: InoValue, entry: Entry | null): void;
}

export function opendir(fs: PassthroughFs, nodeid: number): number {
  const inode = fs.inode(nodeid);
  if (!inode) return -Errno.ENOENT;
  if (inode.forbidden) return -Errno.ENODEV;
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
    const d = s.peek();
    if (d === null) break;
    if (typeof d === 'number') return count > 0 ? count : d;
    if (!sink.fits(d.name.length)) break;
    const clientIno = fs.policy.direntIno(h.inode, d.ino);
    let entry: Entry | null = null;
    if (plus && !isDot(d.name) && !isDotDot(d.name)) {
      const found = fs.lookupChild(h.inode, d.name);
      if (typeof found !== 'number') {
        entry = fs.entryOf(found.inode, found.st, h.inode);
      } else if (found !== -Errno.ENODEV) {
        // Gone between getdents and lookup: not listed, as a later READDIR would not list it.
        s.advance(d);
        continue;
      }
      // Refused (multidevs forbid): still listed, without an entry, as plain READDIR lists it.
    }
    sink.add(d, entry ? entry.attr.ino : clientIno, entry);
    s.advance(d);
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
