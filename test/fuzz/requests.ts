// Request generation for the fuzz harness: for every FUSE opcode a "valid-ish" request built from
// the fuse.h layout (field by field, independently of src/protocol's decoders), with hostile field
// values mixed in (node ids and fhs we issued and ones we never did, names with '/', '..', NUL,
// 300 bytes, huge sizes and counts), then optionally mutated as raw bytes (bit flips, truncation,
// appended garbage, a lying length, a random opcode or extension length).
import { Rng } from './rng';
import { sys } from '../../src/native/sys';
import { Op } from '../../src/protocol/opcodes';
import { name as nameIn, req } from '../helpers/fuse-requests';

// The opcode numbers are src/protocol's, which test/unit/protocol-wire.test.ts checks against
// fuse.h written down independently.
export const OP = Op;

/** Opcodes that never get an answer (the channel's done()). */
export const NO_ANSWER = new Set<number>([OP.FORGET, OP.BATCH_FORGET, OP.INTERRUPT, OP.NOTIFY_REPLY]);

/** What the harness knows of the server's state: ids it was given back, to reuse them. */
export class FuzzState {
  nodeids: bigint[] = [1n];
  fhs: bigint[] = [];
  dirFhs: bigint[] = [];
  uniques: bigint[] = [];
  private nextUnique = 1n;

  unique(): bigint {
    const u = this.nextUnique++;
    this.uniques.push(u);
    if (this.uniques.length > 64) this.uniques.shift();
    return u;
  }

  remember(list: bigint[], v: bigint): void {
    list.push(v);
    if (list.length > 48) list.splice(1, 1);
  }
}

export interface Generated {
  bytes: Buffer;
  /** the opcode the generator meant (before mutation), for the report */
  intended: number;
  /** how it was mutated, for the report */
  how: string[];
}

// ---- little-endian field writers -------------------------------------------------------------
class W {
  private parts: Buffer[] = [];
  u32(v: number): this { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); this.parts.push(b); return this; }
  u64(v: bigint): this { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt.asUintN(64, v)); this.parts.push(b); return this; }
  raw(b: Uint8Array): this { this.parts.push(Buffer.from(b)); return this; }
  pad(n: number): this { this.parts.push(Buffer.alloc(n)); return this; }
  done(): Buffer { return Buffer.concat(this.parts); }
}

/** A complete request (header len = its exact length), as the harness sends them: pid 1. */
export function request(opcode: number, unique: bigint, nodeid: bigint, body: Buffer, uid = 0, gid = 0): Buffer {
  return req(opcode, nodeid, body, { unique, uid, gid, pid: 1 });
}

/** Names the export holds or the fuzz creates: a small pool keeps the export small. */
export const POOL = ['a', 'b', 'c', 'd', 'f1', 'f2', 'dir', 'sub', 'lnk', 'fifo', 'x.y'];

const HOSTILE_NAMES: Buffer[] = [
  Buffer.from(''), Buffer.from('.'), Buffer.from('..'), Buffer.from('a/b'), Buffer.from('../a'),
  Buffer.from('/'), Buffer.from('/etc/passwd'), Buffer.from('../../../../etc/passwd'),
  Buffer.from('a\0b', 'latin1'), Buffer.from('..\0x', 'latin1'), Buffer.alloc(255, 0x61), Buffer.alloc(256, 0x61),
  Buffer.alloc(300, 0x62), Buffer.from('\xff\xfe\n', 'latin1'), Buffer.from('dir/..', 'latin1'),
];

export class Generator {
  constructor(readonly rng: Rng, readonly state: FuzzState) {}

  nodeid(): bigint {
    const r = this.rng;
    const s = this.state;
    const k = r.int(20);
    if (k < 17) return r.pick(s.nodeids);
    if (k === 17) return r.pick([0n, 1n, 2n, 0xffffffffffffffffn, 1n << 53n, (1n << 53n) + 1n, 0x7fffffffn]);
    if (k === 18) return BigInt(r.int(200));
    return r.u64();
  }

  fh(dir = false): bigint {
    const r = this.rng;
    const list = dir ? this.state.dirFhs : this.state.fhs;
    const k = r.int(20);
    if (k < 17 && list.length) return r.pick(list);
    if (k < 18) return r.pick([0n, 1n, 0xffffffffffffffffn, 1n << 53n]);
    if (k < 19) return BigInt(r.int(64));
    return r.u64();
  }

  name(): Buffer {
    return this.rng.chance(0.85) ? Buffer.from(this.rng.pick(POOL)) : this.rng.pick(HOSTILE_NAMES);
  }

  /** A NUL-terminated name, sometimes without its NUL or with extra bytes after. */
  zname(n = this.name()): Buffer {
    const k = this.rng.int(20);
    if (k === 0) return n; // no terminator
    if (k === 1) return Buffer.concat([n, Buffer.from([0, 0x41, 0])]);
    return nameIn(n);
  }

  size(): number {
    const r = this.rng;
    return r.pick([0, 1, 7, 4096, 65536, 131072, 1 << 20, 0x7fffffff, 0xffffffff, r.int(8192)]);
  }

  offset(): bigint {
    const r = this.rng;
    return r.pick([0n, 1n, 4096n, BigInt(r.int(1 << 20)), 1n << 40n, (1n << 63n) - 1n, 1n << 63n, 0xffffffffffffffffn]);
  }

  mode(): number {
    const r = this.rng;
    const type = r.pick([0o100000, 0o040000, 0o010000, 0o140000, 0o020000, 0o120000, 0o060000, 0]);
    return (type | r.int(0o10000)) >>> 0;
  }

  openFlags(): number {
    const r = this.rng;
    const base = r.pick([0, 1, 2, 3]);
    const extra = r.pick([0, 0o100, 0o200, 0o1000, 0o2000, 0o4000, 0o40000, 0o100000, 0o200000, 0o400000, 0o20000000, 0o10000000, r.u32()]);
    return (base | extra) >>> 0;
  }

  /** One valid-ish body for `op` (and the node id to put in the header). */
  body(op: number): { nodeid: bigint; body: Buffer } {
    const r = this.rng;
    const w = new W();
    let nodeid = this.nodeid();
    switch (op) {
      case OP.LOOKUP: case OP.UNLINK: case OP.RMDIR:
        w.raw(this.zname()); break;
      case OP.FORGET: w.u64(r.pick([1n, 2n, 0n, 1000n, 0xffffffffffffffffn])); break;
      case OP.GETATTR: w.u32(r.pick([0, 1, r.u32()])).u32(0).u64(this.fh()); break;
      case OP.SETATTR: {
        const valid = r.chance(0.5) ? r.u32() & 0xfff : r.pick([1, 2, 4, 8, 16 | 32, 64 | 8, 128 | 256]);
        // size: small or sparse-large (the export is on a bounded tmpfs)
        w.u32(valid).u32(0).u64(this.fh()).u64(r.pick([0n, 10n, 4096n, 1n << 40n, 0xffffffffffffffffn]))
          .u64(r.u64()).u64(r.u64()).u64(r.u64()).u64(r.u64())
          .u32(r.int(2e9)).u32(r.int(2e9)).u32(r.u32()).u32(this.mode()).u32(0).u32(r.pick([0, 1000, 0xffffffff, r.u32()]))
          .u32(r.pick([0, 1000, 0xffffffff, r.u32()])).u32(0);
        break;
      }
      case OP.READLINK: case OP.STATFS: case OP.DESTROY: break;
      case OP.SYMLINK: {
        const target = r.pick([Buffer.from('a'), Buffer.from('/etc/passwd'), Buffer.from('../../..'), Buffer.from('/proc/self/root'), Buffer.alloc(5000, 0x61), Buffer.alloc(0)]);
        w.raw(this.zname()).raw(this.zname(target));
        break;
      }
      case OP.MKNOD: {
        // rdev only ever names /dev/null (1:3) or garbage on an unlikely major: the fuzz runs as root.
        const mode = r.pick([0o010644, 0o140644, 0o100644, 0o020644, this.mode()]);
        w.u32(mode).u32(r.pick([0x103, 0, r.u32() | 0xfff00000])).u32(r.pick([0o22, 0])).u32(0).raw(this.zname());
        break;
      }
      case OP.MKDIR: w.u32(r.pick([0o755, 0o777, this.mode()])).u32(0o22).raw(this.zname()); break;
      case OP.RENAME: w.u64(this.nodeid()).raw(this.zname()).raw(this.zname()); break;
      case OP.RENAME2: w.u64(this.nodeid()).u32(r.pick([0, 1, 2, 4, r.u32()])).u32(0).raw(this.zname()).raw(this.zname()); break;
      case OP.LINK: w.u64(this.nodeid()).raw(this.zname()); break;
      case OP.OPEN: case OP.OPENDIR: w.u32(this.openFlags()).u32(r.pick([0, r.u32()])); break;
      case OP.CREATE: case OP.TMPFILE:
        w.u32(this.openFlags()).u32(r.pick([0o644, 0o4755, this.mode()])).u32(0o22).u32(0).raw(this.zname()); break;
      case OP.READ: case OP.READDIR: case OP.READDIRPLUS: {
        const dir = op !== OP.READ;
        w.u64(this.fh(dir)).u64(dir ? BigInt(r.pick([0, 1, 2, 3, 100, r.u32()])) : this.offset()).u32(this.size()).u32(0).u64(r.u64()).u32(0).u32(0);
        break;
      }
      case OP.WRITE: {
        const data = r.bytes(r.pick([0, 1, 100, 4096, r.int(9000)]));
        const size = r.chance(0.85) ? data.length : this.size();
        w.u64(this.fh()).u64(r.chance(0.8) ? BigInt(r.int(1 << 20)) : this.offset()).u32(size).u32(r.pick([0, 1, 4])).u64(r.u64()).u32(0).u32(0).raw(data);
        break;
      }
      case OP.RELEASE: case OP.RELEASEDIR: case OP.FLUSH:
        w.u64(this.fh(op === OP.RELEASEDIR)).u32(r.pick([0, 1, r.u32()])).u32(0).u64(r.pick([0n, 1n, r.u64()])); break;
      case OP.FSYNC: case OP.FSYNCDIR: w.u64(this.fh(op === OP.FSYNCDIR)).u32(r.int(2)).u32(0); break;
      case OP.SETXATTR: {
        const value = r.bytes(r.pick([0, 3, 100, 70000]));
        const size = r.chance(0.85) ? value.length : r.u32();
        w.u32(size).u32(r.pick([0, 1, 2, 3])).u32(0).u32(0).raw(this.zname(Buffer.from(r.pick(['user.a', 'user.b', 'trusted.x', 'security.capability', 'system.posix_acl_access', '', 'bogus'])))).raw(value);
        break;
      }
      case OP.GETXATTR: w.u32(r.pick([0, 1, 64, 65536, 0xffffffff])).u32(0).raw(this.zname(Buffer.from(r.pick(['user.a', 'user.b', 'security.capability', ''])))); break;
      case OP.LISTXATTR: w.u32(r.pick([0, 1, 64, 65536, 0xffffffff])).u32(0); break;
      case OP.REMOVEXATTR: w.raw(this.zname(Buffer.from(r.pick(['user.a', 'user.b', ''])))); break;
      case OP.INIT: w.u32(7).u32(r.pick([45, 31, 36, 8, 0, 99])).u32(r.pick([131072, 0, 0xffffffff])).u32(r.u32()).u32(r.u32()).pad(44); break;
      case OP.GETLK: case OP.SETLK: case OP.SETLKW: {
        const start = r.pick([0n, 10n, 1n << 62n, 0xffffffffffffffffn]);
        const end = r.pick([0n, 20n, 0x7fffffffffffffffn, 0xffffffffffffffffn]);
        w.u64(this.fh()).u64(BigInt(r.int(4))).u64(start).u64(end).u32(r.pick([0, 1, 2, 3, r.u32()])).u32(r.int(100000))
          .u32(r.pick([0, 1, r.u32()])).u32(0);
        break;
      }
      case OP.ACCESS: w.u32(r.pick([0, 1, 2, 4, 7, r.u32()])).u32(0); break;
      case OP.INTERRUPT: {
        nodeid = 0n;
        w.u64(this.state.uniques.length && r.chance(0.7) ? r.pick(this.state.uniques) : r.u64());
        break;
      }
      case OP.BMAP: w.u64(r.u64()).u32(4096).u32(0); break;
      case OP.IOCTL: w.u64(this.fh()).u32(r.u32()).u32(r.u32()).u64(r.u64()).u32(r.int(100)).u32(r.int(100)); break;
      case OP.POLL: w.u64(this.fh()).u64(r.u64()).u32(r.u32()).u32(r.u32()); break;
      case OP.NOTIFY_REPLY: w.raw(r.bytes(r.int(64))); break;
      case OP.BATCH_FORGET: {
        const items = r.int(6);
        const count = r.chance(0.8) ? items : r.pick([0xffffffff, 0x10000000, items + 1]);
        w.u32(count).u32(0);
        for (let i = 0; i < items; i++) w.u64(this.nodeid()).u64(r.pick([1n, 0n, 0xffffffffffffffffn]));
        break;
      }
      case OP.FALLOCATE: w.u64(this.fh()).u64(BigInt(r.int(1 << 20))).u64(r.pick([1n, 4096n, 1n << 20n, 1n << 62n, 0xffffffffffffffffn])).u32(r.pick([0, 1, 3, 0x10, r.u32()])).u32(0); break;
      case OP.LSEEK: w.u64(this.fh()).u64(this.offset()).u32(r.pick([0, 1, 2, 3, 4, 5, r.u32()])).u32(0); break;
      case OP.COPY_FILE_RANGE: case OP.COPY_FILE_RANGE_64:
        w.u64(this.fh()).u64(this.offset()).u64(this.nodeid()).u64(this.fh()).u64(this.offset()).u64(r.pick([0n, 100n, 1n << 20n, 0xffffffffffffffffn])).u64(r.pick([0n, r.u64()])); break;
      case OP.SETUPMAPPING: w.u64(this.fh()).u64(r.u64()).u64(r.u64()).u64(r.u64()).u64(r.u64()); break;
      case OP.REMOVEMAPPING: { const n = r.pick([0, 1, 2, 0xffffffff]); w.u32(n); for (let i = 0; i < Math.min(n, 2); i++) w.u64(r.u64()).u64(r.u64()); break; }
      case OP.SYNCFS: w.u64(0n); break;
      case OP.STATX: w.u32(r.pick([0, 1])).u32(0).u64(this.fh()).u32(r.pick([0, 0x100, 0x2000])).u32(r.pick([0x7ff, 0xfff, r.u32()])); break;
      default: w.raw(r.bytes(r.int(80)));
    }
    return { nodeid, body: w.done() };
  }

  /** Picks an opcode: mostly known ones, weighted to the interesting; sometimes anything. */
  opcode(): number {
    const r = this.rng;
    if (r.chance(0.03)) return r.chance(0.5) ? r.int(70) : r.u32();
    return r.pick(WEIGHTED);
  }

  next(): Generated {
    const r = this.rng;
    const op = this.opcode();
    const { nodeid, body } = this.body(op);
    const uid = r.chance(0.9) ? 0 : r.pick([1000, 65534, 0xffffffff, r.u32()]);
    const gid = uid === 0 ? 0 : r.pick([0, 1000, 0xffffffff]);
    let bytes = request(op, this.state.unique(), nodeid, body, uid, gid);
    const how: string[] = [];
    if (r.chance(0.25)) bytes = this.mutate(bytes, how);
    return { bytes, intended: op, how };
  }

  /** Raw-byte mutations; the header's len is usually fixed up to the new length afterwards. */
  mutate(b: Buffer, how: string[]): Buffer {
    const r = this.rng;
    let out = Buffer.from(b);
    const n = 1 + r.int(3);
    for (let i = 0; i < n; i++) {
      switch (r.int(7)) {
        case 0: { // bit flips
          const flips = 1 + r.int(8);
          for (let k = 0; k < flips && out.length; k++) out[r.int(out.length)] ^= 1 << r.int(8);
          how.push(`flip${flips}`);
          break;
        }
        case 1: { // mostly inside the body: a header alone is refused before anything interesting
          const len = r.chance(0.8) && out.length > 40 ? 40 + r.int(out.length - 40) : r.int(out.length + 1);
          out = out.subarray(0, len);
          how.push(`trunc${len}`);
          break;
        }
        case 2: { const extra = r.bytes(1 + r.int(64)); out = Buffer.concat([out, extra]); how.push(`append${extra.length}`); break; }
        case 3: if (out.length >= 8) { out.writeUInt32LE(r.u32() % 100, 4); how.push('opcode'); } break;
        case 4: if (out.length >= 38) { out.writeUInt16LE(r.pick([1, 2, 3, r.int(0x10000)]), 36); how.push('extlen'); } break;
        case 5: if (out.length >= 40 + 4) { out.writeUInt32LE(r.pick([0, 0xffffffff, 0x7fffffff, 0x10000000]), 40 + 4 * r.int(Math.min(8, (out.length - 40) >> 2))); how.push('field'); } break;
        case 6: if (out.length >= 24) { out.writeBigUInt64LE(BigInt.asUintN(64, this.nodeid()), 16); how.push('nodeid'); } break;
      }
    }
    if (out.length >= 4) {
      if (r.chance(0.75)) out.writeUInt32LE(out.length, 0);
      else { out.writeUInt32LE(r.pick([0, 39, 40, out.length + 1, out.length - 1, 0xffffffff, r.u32()]) >>> 0, 0); how.push('lyinglen'); }
    }
    return out;
  }
}

const WEIGHTS: [number, number][] = [
  [OP.LOOKUP, 14], [OP.FORGET, 4], [OP.GETATTR, 5], [OP.SETATTR, 3], [OP.READLINK, 2], [OP.SYMLINK, 3],
  [OP.MKNOD, 3], [OP.MKDIR, 3], [OP.UNLINK, 3], [OP.RMDIR, 2], [OP.RENAME, 3], [OP.LINK, 3], [OP.OPEN, 6],
  [OP.READ, 5], [OP.WRITE, 5], [OP.STATFS, 1], [OP.RELEASE, 4], [OP.FSYNC, 2], [OP.SETXATTR, 2],
  [OP.GETXATTR, 2], [OP.LISTXATTR, 1], [OP.REMOVEXATTR, 1], [OP.FLUSH, 2], [OP.INIT, 1], [OP.OPENDIR, 4],
  [OP.READDIR, 3], [OP.RELEASEDIR, 3], [OP.FSYNCDIR, 1], [OP.GETLK, 2], [OP.SETLK, 3], [OP.SETLKW, 2],
  [OP.ACCESS, 2], [OP.CREATE, 5], [OP.INTERRUPT, 2], [OP.BMAP, 1], [OP.IOCTL, 1], [OP.POLL, 1],
  [OP.NOTIFY_REPLY, 1], [OP.BATCH_FORGET, 3], [OP.FALLOCATE, 2], [OP.READDIRPLUS, 3], [OP.RENAME2, 2],
  [OP.LSEEK, 2], [OP.COPY_FILE_RANGE, 2], [OP.SETUPMAPPING, 1], [OP.REMOVEMAPPING, 1], [OP.SYNCFS, 1],
  [OP.TMPFILE, 2], [OP.STATX, 3], [OP.COPY_FILE_RANGE_64, 1],
];
// ACCESS needs sys.faccessat, added to the addon on the native-sys branch (c735c2a). Without it every
// ACCESS is an exception in the handler (answered EIO, logged as an error): leave it out of the
// mix until the addon has it, and say so (SKIPPED_OPS), instead of failing every run on it.
export const SKIPPED_OPS: { op: number; why: string }[] =
  typeof (sys as unknown as Record<string, unknown>).faccessat === 'function' ? [] : [{ op: OP.ACCESS, why: 'sys.faccessat missing from this build of the addon' }];
const WEIGHTED: number[] = WEIGHTS.filter(([op]) => !SKIPPED_OPS.some((s) => s.op === op)).flatMap(([op, w]) => Array<number>(w).fill(op));
