// Shared set-up of the escape suite: base/export (served), base/outside (never to be touched, with
// a canary file and a directory of files), and a small client that sends single requests to an
// in-process FuseServer through the MemoryChannel (requests a kernel would never send included).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FuseServer } from '../../src/server/session';
import { PassthroughFs } from '../../src/passthrough/passthrough-fs';
import { PassthroughFileSystem } from '../../src/passthrough/file-system';
import { defaultPassthroughConfig, type PassthroughConfig } from '../../src/passthrough/config';
import { silentLogger } from '../../src/log/logger';
import { MemoryChannel, type Answer } from '../helpers/memory-channel';
import { OP, request } from './requests';
import {
  createIn, initIn, linkIn, mkdirIn, mknodIn, name as nameIn, openIn, readIn, releaseIn, renameIn, symlinkIn,
} from '../helpers/fuse-requests';
import { Credentials } from '../../src/passthrough/credentials';

export const CANARY_TEXT = 'CANARY: outside the export\n';

/** Every file under base/outside with its times, to compare after the test. */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    // A directory's atime is left out: listing it (this walk does) updates it.
    const atime = st.isDirectory() ? '-' : st.atimeMs;
    out.set(path.relative(dir, p) || '.', `${st.mode}:${st.nlink}:${st.size}:${atime}:${st.mtimeMs}:${st.ctimeMs}`);
    if (st.isDirectory()) for (const n of fs.readdirSync(p).sort()) walk(path.join(p, n));
  };
  walk(dir);
  return out;
}

export class EscapeEnv {
  readonly base: string;
  readonly export: string;
  readonly outside: string;
  readonly canary: string;
  private before: Map<string, string> | null = null;

  constructor(prefix = 'vfsd-escape-') {
    this.base = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    this.export = path.join(this.base, 'export');
    this.outside = path.join(this.base, 'outside');
    this.canary = path.join(this.outside, 'canary');
    fs.mkdirSync(this.export);
    fs.mkdirSync(path.join(this.outside, 'dir'), { recursive: true });
    fs.writeFileSync(this.canary, CANARY_TEXT);
    fs.writeFileSync(path.join(this.outside, 'dir', 'f'), CANARY_TEXT);
    fs.writeFileSync(path.join(this.outside, 'secret'), CANARY_TEXT);
  }

  /** Records base/outside (call once the set-up is complete). atimes are set older than mtimes,
   *  so any read of a file there moves its atime, relatime or not. */
  seal(): void {
    const old = new Date('2001-01-01T00:00:00Z');
    const walk = (p: string) => {
      if (fs.lstatSync(p).isDirectory()) for (const n of fs.readdirSync(p)) walk(path.join(p, n));
      fs.utimesSync(p, old, new Date());
    };
    walk(this.outside);
    this.before = snapshot(this.outside);
  }

  /** What changed under base/outside since seal() ('' when nothing: nothing read, written, created). */
  outsideChanges(): string {
    const now = snapshot(this.outside);
    const diff: string[] = [];
    for (const [k, v] of this.before!) if (now.get(k) !== v) diff.push(`${k}: ${v} -> ${now.get(k) ?? 'gone'}`);
    for (const k of now.keys()) if (!this.before!.has(k)) diff.push(`${k}: new`);
    return diff.join('\n');
  }

  remove(): void {
    fs.rmSync(this.base, { recursive: true, force: true });
  }
}

export interface Result { errno: number; payload: Buffer; answer: Answer }

/** A FuseServer on a PassthroughFs of `dir`, and one-request-at-a-time calls into it. */
export class Client {
  readonly chan = new MemoryChannel();
  readonly fs: PassthroughFs;
  readonly server: FuseServer;
  private unique = 1n;

  constructor(dir: string, config: Partial<PassthroughConfig> = {}) {
    this.fs = new PassthroughFs({ ...defaultPassthroughConfig(dir), ...config }, new Credentials(false));
    this.server = new FuseServer(this.chan, new PassthroughFileSystem(this.fs), {
      readOnly: false, maxWrite: 1 << 20, announceSubmounts: false, posixLocks: true, flock: true, cacheAlways: false, passthrough: false,
    }, silentLogger);
    this.server.start();
    if (this.call(OP.INIT, 0n, initIn()).errno) throw new Error('INIT failed');
  }

  call(op: number, nodeid: bigint, body: Buffer, uid = 0, gid = 0): Result {
    const [p] = this.chan.deliver([request(op, this.unique++, nodeid, body, uid, gid)]);
    const a = p.answers[0];
    if (p.answers.length !== 1) throw new Error(`opcode ${op}: ${p.answers.length} answers`);
    this.chan.requests.delete(p.token);
    if (a.kind === 'error') return { errno: a.errno, payload: Buffer.alloc(0), answer: a };
    if (a.kind === 'reply') return { errno: -a.error, payload: a.payload, answer: a };
    if (a.kind === 'read' || a.kind === 'write') return { errno: a.errno, payload: Buffer.alloc(0), answer: a };
    return { errno: 0, payload: Buffer.alloc(0), answer: a };
  }

  /** LOOKUP: node id (and mode), or the errno. */
  lookup(parent: bigint, name: string | Buffer): { errno: number; nodeid: bigint; mode: number; ino: bigint } {
    const r = this.call(OP.LOOKUP, parent, nameIn(name));
    if (r.errno) return { errno: r.errno, nodeid: 0n, mode: 0, ino: 0n };
    return { errno: 0, nodeid: r.payload.readBigUInt64LE(0), ino: r.payload.readBigUInt64LE(40), mode: r.payload.readUInt32LE(40 + 60) };
  }

  /** OPEN then READ (up to 4096 bytes) then RELEASE: the bytes, or the errno of the first failure. */
  readFile(nodeid: bigint): { errno: number; text: string } {
    const o = this.call(OP.OPEN, nodeid, openIn(0));
    if (o.errno) return { errno: o.errno, text: '' };
    const fh = o.payload.readBigUInt64LE(0);
    const r = this.call(OP.READ, nodeid, readIn(fh, 0, 4096));
    this.call(OP.RELEASE, nodeid, releaseIn(fh));
    if (r.answer.kind !== 'read') return { errno: r.errno || 5, text: '' };
    // MemoryChannel reads into its own buffer: the bytes are what pread returned.
    return { errno: r.answer.errno, text: this.chan.lastRead().toString('latin1') };
  }

  create(parent: bigint, name: string, flags = 0o101): Result {
    return this.call(OP.CREATE, parent, createIn(flags, 0o644, name));
  }

  mkdir(parent: bigint, name: string): Result {
    return this.call(OP.MKDIR, parent, mkdirIn(0o755, name));
  }

  mknod(parent: bigint, name: string, mode: number, rdev = 0): Result {
    return this.call(OP.MKNOD, parent, mknodIn(mode, rdev, name));
  }

  symlink(parent: bigint, name: string, target: string): Result {
    return this.call(OP.SYMLINK, parent, symlinkIn(name, target));
  }

  link(nodeid: bigint, newParent: bigint, name: string): Result {
    return this.call(OP.LINK, newParent, linkIn(nodeid, name));
  }

  unlink(parent: bigint, name: string): Result {
    return this.call(OP.UNLINK, parent, nameIn(name));
  }

  rename(parent: bigint, name: string, newParent: bigint, newName: string): Result {
    return this.call(OP.RENAME, parent, renameIn(newParent, name, newName));
  }

  opendir(nodeid: bigint): Result {
    return this.call(OP.OPENDIR, nodeid, Buffer.alloc(8));
  }

  close(): void {
    this.server.stop();
    this.fs.close();
  }
}
