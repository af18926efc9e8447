// Whether an entry reply announces a submount (FUSE_ATTR_SUBMOUNT in fuse_attr.flags).
//
// The guest then creates its own superblock (its own st_dev) for that directory, so inode numbers
// below it can never collide with the parent's: no multidevs handling is needed there. Only the
// virtio-fs guest kernel offers FUSE_SUBMOUNTS; /dev/fuse never does, and announcing to a client
// that did not offer it would be a protocol violation, so the offer gates everything.

/** Where an inode lives on the host: the mount id from statx(STATX_MNT_ID) and st_dev. */
export interface HostPlacement {
  mntId: number;
  devMajor: number;
  devMinor: number;
}

export interface SubmountQuestion {
  /** The client set FUSE_SUBMOUNTS in its INIT flags. */
  clientOfferedSubmounts: boolean;
  /** --announce-submounts (default on). */
  announceEnabled: boolean;
  /** The entry is a directory (S_ISDIR of its mode). Only directories can be submount roots. */
  isDir: boolean;
  child: HostPlacement;
  /** The directory the entry was found in. */
  parent: HostPlacement;
}

export function shouldAnnounceSubmount(q: SubmountQuestion): boolean {
  if (!q.clientOfferedSubmounts || !q.announceEnabled || !q.isDir) return false;
  // A bind mount of a directory of the same filesystem changes the mount id but not st_dev; it is
  // still a mount point on the host, and announcing it keeps the guest's view of mounts the host's.
  return (
    q.child.mntId !== q.parent.mntId ||
    q.child.devMajor !== q.parent.devMajor ||
    q.child.devMinor !== q.parent.devMinor
  );
}
