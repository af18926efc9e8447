// Reading what a test checks of a FUSE answer's payload (after the out header): fuse_entry_out,
// fuse_attr_out, fuse_open_out. Offsets written down from fuse.h (7.45).

/** fuse_entry_out: the node id and the attributes we check. */
export function entryOf(data: Buffer): { nodeid: number; ino: number; mode: number; size: number; nlink: number; uid: number; gid: number } {
  const attr = 40; // nodeid, generation, entry_valid, attr_valid (u64 each), two u32 nsecs
  return {
    nodeid: Number(data.readBigUInt64LE(0)),
    ino: Number(data.readBigUInt64LE(attr)),
    size: Number(data.readBigUInt64LE(attr + 8)),
    mode: data.readUInt32LE(attr + 60),
    nlink: data.readUInt32LE(attr + 64),
    uid: data.readUInt32LE(attr + 68),
    gid: data.readUInt32LE(attr + 72),
  };
}

/** fuse_attr_out: the attributes we check. */
export function attrOf(data: Buffer): { ino: number; mode: number; size: number } {
  const attr = 16; // attr_valid u64, attr_valid_nsec u32, dummy u32
  return { ino: Number(data.readBigUInt64LE(attr)), size: Number(data.readBigUInt64LE(attr + 8)), mode: data.readUInt32LE(attr + 60) };
}

/** fuse_open_out's fh. */
export const fhOf = (data: Buffer): bigint => data.readBigUInt64LE(0);
