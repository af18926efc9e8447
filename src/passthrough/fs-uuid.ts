// A filesystem's UUID read from its superblock, so a device keeps its identity (and its remapped
// inode numbers) when the host remounts it under another device name (loop0 -> loop3) — without
// depending on udev's /dev/disk/by-uuid, which containers and minimal hosts lack. Only the
// filesystems whose superblock layout we know; anything else has no UUID (undefined).
import * as fs from 'node:fs';

interface SuperblockUuid {
  /** byte offset of the UUID on the device */
  offset: number;
  /** where to check the magic that proves it is this filesystem */
  magicOffset: number;
  magic: Buffer;
}

const LAYOUTS: Record<string, SuperblockUuid> = {
  // XFS: superblock at 0, magic "XFSB", sb_uuid at 32
  xfs: { offset: 32, magicOffset: 0, magic: Buffer.from('XFSB') },
  // ext2/3/4: superblock at 1024, s_magic 0xEF53 at +56 (LE), s_uuid at +104
  ext2: { offset: 1024 + 104, magicOffset: 1024 + 56, magic: Buffer.from([0x53, 0xef]) },
  ext3: { offset: 1024 + 104, magicOffset: 1024 + 56, magic: Buffer.from([0x53, 0xef]) },
  ext4: { offset: 1024 + 104, magicOffset: 1024 + 56, magic: Buffer.from([0x53, 0xef]) },
  // btrfs: superblock at 64 KiB, fsid at +32, magic "_BHRfS_M" at +64
  btrfs: { offset: 65536 + 32, magicOffset: 65536 + 64, magic: Buffer.from('_BHRfS_M') },
};

const formatUuid = (b: Buffer) => {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

export function readFsUuid(fsType: string, source: string): string | undefined {
  const layout = LAYOUTS[fsType];
  if (!layout || !source.startsWith('/dev/')) return undefined;
  let fd = -1;
  try {
    fd = fs.openSync(source, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const magic = Buffer.alloc(layout.magic.length);
    if (fs.readSync(fd, magic, 0, magic.length, layout.magicOffset) !== magic.length || !magic.equals(layout.magic)) return undefined;
    const uuid = Buffer.alloc(16);
    if (fs.readSync(fd, uuid, 0, 16, layout.offset) !== 16 || uuid.every((x) => x === 0)) return undefined;
    return formatUuid(uuid);
  } catch {
    return undefined;
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}
