// The file jobs of RequestChannel.fileJob (src/native/channel.ts) run inline with sys calls, for
// in-memory channels: the result the native job would answer (>= 0: bytes for copies) or -errno,
// and the answer payload the native side would write after the out header.
import { FileOp } from '../../src/native/channel';
import { sys } from '../../src/native/sys';
import * as P from '../../src/protocol';

export function runFileJobInline(op: number, fd: number, fd2: number, a: number, b: number, c: number): number {
  switch (op) {
    case FileOp.Fsync: return sys.fsync(fd, a !== 0);
    case FileOp.Fallocate: return sys.fallocate(fd, a, b, c);
    case FileOp.Syncfs: return sys.syncfs(fd);
    case FileOp.CopyRange:
    case FileOp.CopyRange64: return sys.copyFileRange(fd, a, fd2, b, c, 0);
    case FileOp.Flush: {
      const d = sys.dup(fd);
      return d < 0 ? d : sys.close(d);
    }
    default: return -22;
  }
}

/** The payload of a successful job's answer (after the 16-byte out header). */
export function fileJobPayload(op: number, result: number): Buffer {
  const out = Buffer.alloc(8);
  if (op === FileOp.CopyRange) P.writeWriteOut(out, 0, result);
  else if (op === FileOp.CopyRange64) P.writeCopyFileRangeOut(out, 0, result);
  else return Buffer.alloc(0);
  return out;
}
