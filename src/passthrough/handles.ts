// Open files and directories the client holds (fh in OPEN/OPENDIR replies). Like node ids, fh
// values are ours, monotonic and never reused, so a stale or forged fh misses instead of hitting
// someone else's file.
import type { Inode } from './inode';
import type { DirStream } from './dir-stream';

export interface FileHandle {
  kind: 'file';
  fd: number;
  inode: Inode;
  flags: number;
  /** FUSE passthrough backing id, registered with the kernel, or -1 */
  backingId: number;
  /** posix-lock owners with their OFD lock fds (see lock-ops.ts) */
  lockFds: Map<string, number> | null;
  /** where READ / small WRITEs run (DataPath of native/channel.ts): TryInline until the file
   *  turns out to have no RWF_NOWAIT (see file-ops readPath/writePath) */
  readPath: number;
  writePath: number;
}

export interface DirHandle {
  kind: 'dir';
  fd: number;
  inode: Inode;
  stream: DirStream;
}

export type Handle = FileHandle | DirHandle;

export class HandleTable {
  private table = new Map<number, Handle>();
  private next = 1;

  get size(): number {
    return this.table.size;
  }

  add(h: Handle): number {
    const fh = this.next++;
    this.table.set(fh, h);
    return fh;
  }

  file(fh: number): FileHandle | undefined {
    const h = this.table.get(fh);
    return h && h.kind === 'file' ? h : undefined;
  }

  dir(fh: number): DirHandle | undefined {
    const h = this.table.get(fh);
    return h && h.kind === 'dir' ? h : undefined;
  }

  remove(fh: number): Handle | undefined {
    const h = this.table.get(fh);
    if (h) this.table.delete(fh);
    return h;
  }

  *all(): IterableIterator<Handle> {
    yield* this.table.values();
  }

  clear(): void {
    this.table.clear();
  }
}
