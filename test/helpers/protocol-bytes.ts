// Test helper: builds little-endian byte strings field by field, the way fuse.h lays structs
// out, independently of src/protocol (it uses Node's own BigInt writers for 64-bit fields).
export type Field =
  | ['u8', number]
  | ['u16', number]
  | ['u32', number]
  | ['i32', number]
  | ['u64', bigint | number]
  | ['i64', bigint | number]
  | ['str', string] // bytes as latin1, no NUL added
  | ['raw', Uint8Array]
  | ['pad', number]; // zero bytes

export function bytes(...fields: Field[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of fields) {
    let b: Buffer;
    switch (f[0]) {
      case 'u8': b = Buffer.alloc(1); b.writeUInt8(f[1]); break;
      case 'u16': b = Buffer.alloc(2); b.writeUInt16LE(f[1]); break;
      case 'u32': b = Buffer.alloc(4); b.writeUInt32LE(f[1]); break;
      case 'i32': b = Buffer.alloc(4); b.writeInt32LE(f[1]); break;
      case 'u64': b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(f[1])); break;
      case 'i64': b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(f[1])); break;
      case 'str': b = Buffer.from(f[1], 'latin1'); break;
      case 'raw': b = Buffer.from(f[1]); break;
      case 'pad': b = Buffer.alloc(f[1]); break;
    }
    parts.push(b);
  }
  return Buffer.concat(parts);
}

/** Puts `body` at offset 5 of a larger buffer whose other bytes are `fill`, so decoders are
 *  exercised at a nonzero offset and a read outside [off, end) would see those bytes (0xee:
 *  garbage; 0: a NUL that a name search must not accept). */
export function placed(body: Buffer, fill = 0xee): { buf: Buffer; off: number; end: number } {
  const buf = Buffer.alloc(body.length + 64, fill);
  body.copy(buf, 5);
  return { buf, off: 5, end: 5 + body.length };
}
