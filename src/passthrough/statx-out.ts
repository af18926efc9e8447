// The fuse_statx answer from a host statx: what the client asked for, with the inode number
// it sees (remapped or not) in place of the host's, and the owner it sees (--translate-*).
import type * as P from '../protocol';
import type { HostStat } from './host-stat';

/** uid/gid: the owner as the client sees it (PassthroughFs.guestUid/guestGid, applied by the caller). */
export function statxOf(st: HostStat, clientIno: P.InoValue, askedMask: number, uid: number, gid: number): P.FuseStatx {
  return {
    mask: st.mask & (askedMask | 0x7ff) & 0xfff,
    blksize: st.blksize, attributes: st.attributes, nlink: st.nlink,
    uid, gid,
    mode: st.mode, ino: clientIno, size: st.size, blocks: st.blocks, attributesMask: 0,
    atime: { sec: st.atime, nsec: st.atimeNsec }, btime: { sec: st.btime, nsec: st.btimeNsec },
    ctime: { sec: st.ctime, nsec: st.ctimeNsec }, mtime: { sec: st.mtime, nsec: st.mtimeNsec },
    rdevMajor: st.rdevMajor, rdevMinor: st.rdevMinor, devMajor: st.devMajor, devMinor: st.devMinor,
  };
}
