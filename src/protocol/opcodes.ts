// FUSE request opcodes (enum fuse_opcode) and notification codes (enum fuse_notify_code) of
// kernel protocol 7.45, plus opName() for logs.
//
// Exports: Op (const object of opcode numbers), OpCode (its value type), NotifyCode, opName(op).
// A hostile or newer peer can send any u32 as an opcode: opName() answers "UNKNOWN(n)" for it and
// the dispatcher answers ENOSYS; nothing here assumes the number is one we know.

export const Op = {
  LOOKUP: 1,
  FORGET: 2, // no reply
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  GETLK: 31,
  SETLK: 32,
  SETLKW: 33,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  BMAP: 37,
  DESTROY: 38,
  IOCTL: 39,
  POLL: 40,
  NOTIFY_REPLY: 41, // the answer to our FUSE_NOTIFY_RETRIEVE; no reply
  BATCH_FORGET: 42, // no reply
  FALLOCATE: 43,
  READDIRPLUS: 44,
  RENAME2: 45,
  LSEEK: 46,
  COPY_FILE_RANGE: 47,
  SETUPMAPPING: 48, // virtio-fs DAX window
  REMOVEMAPPING: 49, // virtio-fs DAX window
  SYNCFS: 50, // 7.34
  TMPFILE: 51, // 7.37
  STATX: 52, // 7.39
  COPY_FILE_RANGE_64: 53, // 7.45: like COPY_FILE_RANGE, answered with fuse_copy_file_range_out

  CUSE_INIT: 4096,
  // Reserved so a byte-swapped INIT (wrong endianness peer) is recognisable.
  CUSE_INIT_BSWAP_RESERVED: 1048576,
  FUSE_INIT_BSWAP_RESERVED: 436207616,
} as const;

export type OpCode = (typeof Op)[keyof typeof Op];

/** Codes carried in fuse_out_header.error of a notification (unique = 0). */
export const NotifyCode = {
  POLL: 1,
  INVAL_INODE: 2,
  INVAL_ENTRY: 3,
  STORE: 4,
  RETRIEVE: 5,
  DELETE: 6,
  RESEND: 7, // 7.40
  INC_EPOCH: 8, // 7.44
  PRUNE: 9, // 7.45
} as const;

const names = new Map<number, string>(Object.entries(Op).map(([name, num]) => [num, name]));

/** The opcode's name as in fuse.h without the FUSE_ prefix, or "UNKNOWN(n)". */
export function opName(op: number): string {
  return names.get(op) ?? `UNKNOWN(${op})`;
}
