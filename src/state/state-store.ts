// Per-share state that survives teardown (--state-dir, --state-backup-dir).
//
// Why two directories: a VM manager may delete a VM's directories while the VM stops, before the
// last state is saved (this lost TPM state in a real manager). So a stop saves to the state dir and
// then copies to the backup dir, and a start reads the state dir, falls back to (and merges) the
// backup, saves the result to the state dir, and then removes the backup whenever it exists, read
// or not: a backup left behind would come back one day, stale, as if it were current.
//
// File format: one JSON envelope {format, version, sha256, payload} where payload is the state's
// JSON text and sha256 its checksum, so a torn or bit-flipped file is detected, never half-used.
// Writes go through writeFileAtomic. Synchronous on purpose: it runs at start, at stop (from a
// SIGTERM handler, where nothing async may be pending) and rarely in between.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { removeStaleTemps, writeFileAtomic, fsyncDir } from './atomic-file';
import { silentLogger, type Logger } from '../log/logger';

export const STATE_FORMAT = 'vfsd-state';
export const STATE_FORMAT_VERSION = 1;
export const DEFAULT_STATE_FILE = 'state.json';

/** How one kind of state is turned into JSON and back, and how two copies are merged. */
export interface StateCodec<T> {
  empty(): T;
  encode(value: T): unknown;
  /** Throws when the payload is not valid state (the file then counts as corrupt). */
  decode(payload: unknown): T;
  /** Entries present in one copy only are kept; on conflict `primary` wins. */
  merge(primary: T, backup: T): T;
}

export interface StateStoreOptions {
  stateDir: string;
  backupDir?: string;
  fileName?: string;
  logger?: Logger;
}

/** A state file written by a newer vfsd: refusing to start beats overwriting what it saved. */
export class StateVersionError extends Error {
  override name = 'StateVersionError';
}

type ReadResult<T> =
  | { kind: 'ok'; value: T }
  | { kind: 'missing' }
  | { kind: 'bad'; reason: string };

export type LoadSource = 'primary' | 'backup' | 'merged' | 'fresh';

export interface LoadResult<T> {
  value: T;
  source: LoadSource;
  /** The backup dir existed and was removed. */
  backupRemoved: boolean;
}

export interface SaveResult {
  primary: boolean;
  backup: boolean | 'none';
}

export class StateStore<T> {
  readonly stateDir: string;
  readonly backupDir: string | undefined;
  readonly fileName: string;
  private readonly log: Logger;

  constructor(
    opts: StateStoreOptions,
    private readonly codec: StateCodec<T>,
  ) {
    this.stateDir = path.resolve(opts.stateDir);
    this.backupDir = opts.backupDir !== undefined ? path.resolve(opts.backupDir) : undefined;
    this.fileName = opts.fileName ?? DEFAULT_STATE_FILE;
    this.log = opts.logger ?? silentLogger;
    if (this.backupDir === this.stateDir) throw new Error('--state-backup-dir must differ from --state-dir');
    if (this.fileName.includes('/') || this.fileName.startsWith('.')) throw new Error(`bad state file name '${this.fileName}'`);
  }

  get primaryPath(): string {
    return path.join(this.stateDir, this.fileName);
  }

  get backupPath(): string | undefined {
    return this.backupDir !== undefined ? path.join(this.backupDir, this.fileName) : undefined;
  }

  /** Start-up: read, recover, merge, save to the state dir, remove the backup. */
  load(): LoadResult<T> {
    removeStaleTemps(this.stateDir, this.fileName);
    const primary = this.readCopy(this.primaryPath, 'state');
    const backup = this.backupPath !== undefined ? this.readCopy(this.backupPath, 'backup state') : ({ kind: 'missing' } as const);

    let value: T;
    let source: LoadSource;
    if (primary.kind === 'ok' && backup.kind === 'ok') {
      value = this.codec.merge(primary.value, backup.value);
      source = 'merged';
    } else if (primary.kind === 'ok') {
      value = primary.value;
      source = 'primary';
    } else if (backup.kind === 'ok') {
      this.log.warn(`state: ${this.primaryPath} ${primary.kind === 'missing' ? 'is missing' : 'is unusable'}; recovered from the backup ${this.backupPath}`);
      value = backup.value;
      source = 'backup';
    } else {
      value = this.codec.empty();
      source = 'fresh';
    }

    // Only once the result is safely in the state dir may the backup go: if this throws, the
    // backup stays for the next start.
    writeFileAtomic(this.stateDir, this.fileName, this.serialize(value));
    const backupRemoved = this.removeBackup();
    return { value, source, backupRemoved };
  }

  /** Stop (SIGTERM or normal): save to the state dir, then copy to the backup dir. Each target is
   *  tried even if the other fails; throws only when nothing could be saved. */
  save(value: T): SaveResult {
    const text = this.serialize(value);
    const errors: string[] = [];
    let primary = false;
    try {
      writeFileAtomic(this.stateDir, this.fileName, text);
      primary = true;
    } catch (e) {
      errors.push(`${this.primaryPath}: ${(e as Error).message}`);
    }
    let backup: boolean | 'none' = 'none';
    if (this.backupDir !== undefined) {
      try {
        writeFileAtomic(this.backupDir, this.fileName, text);
        backup = true;
      } catch (e) {
        backup = false;
        errors.push(`${this.backupPath}: ${(e as Error).message}`);
      }
    }
    if (!primary && backup !== true) throw new Error(`state: could not save: ${errors.join('; ')}`);
    for (const e of errors) this.log.warn(`state: could not save ${e}`);
    return { primary, backup };
  }

  /** While running: a checkpoint to the state dir only, so a SIGKILL loses nothing assigned before
   *  it. The backup is written at stop only: a backup exists exactly while a teardown is under way. */
  checkpoint(value: T): void {
    writeFileAtomic(this.stateDir, this.fileName, this.serialize(value));
  }

  private serialize(value: T): string {
    const payload = JSON.stringify(this.codec.encode(value));
    const sha256 = createHash('sha256').update(payload, 'utf8').digest('hex');
    return JSON.stringify({ format: STATE_FORMAT, version: STATE_FORMAT_VERSION, sha256, payload }) + '\n';
  }

  private readCopy(file: string, what: string): ReadResult<T> {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' };
      return this.bad(file, what, `unreadable (${(e as Error).message})`);
    }
    let env: { format?: unknown; version?: unknown; sha256?: unknown; payload?: unknown };
    try {
      env = JSON.parse(text);
    } catch {
      return this.bad(file, what, 'corrupt (not JSON)');
    }
    if (typeof env !== 'object' || env === null || env.format !== STATE_FORMAT) return this.bad(file, what, 'corrupt (not a vfsd state file)');
    if (typeof env.version !== 'number' || !Number.isInteger(env.version) || env.version < 1) return this.bad(file, what, 'corrupt (no format version)');
    if (env.version > STATE_FORMAT_VERSION) {
      throw new StateVersionError(`state: ${file} has format version ${env.version}, newer than this vfsd's ${STATE_FORMAT_VERSION}; refusing to overwrite it`);
    }
    if (typeof env.payload !== 'string' || typeof env.sha256 !== 'string') return this.bad(file, what, 'corrupt (no payload or checksum)');
    const sum = createHash('sha256').update(env.payload, 'utf8').digest('hex');
    if (sum !== env.sha256) return this.bad(file, what, 'corrupt (checksum mismatch)');
    try {
      return { kind: 'ok', value: this.codec.decode(JSON.parse(env.payload)) };
    } catch (e) {
      return this.bad(file, what, `corrupt (${(e as Error).message})`);
    }
  }

  private bad(file: string, what: string, reason: string): ReadResult<T> {
    this.log.warn(`state: ${what} file ${file} is ${reason}; ignoring it`);
    return { kind: 'bad', reason };
  }

  /** Remove our files from the backup dir, then the dir itself. Files we did not write are left
   *  (with a warning): a mistyped --state-backup-dir must not cost the user a directory. */
  private removeBackup(): boolean {
    const dir = this.backupDir;
    if (dir === undefined || !fs.existsSync(dir)) return false;
    // recursive: whatever sits at our file's path is ours to remove, even a directory.
    fs.rmSync(path.join(dir, this.fileName), { force: true, recursive: true });
    removeStaleTemps(dir, this.fileName);
    try {
      fs.rmdirSync(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') {
        this.log.warn(`state: backup dir ${dir} holds files vfsd did not write; removed only ${this.fileName}`);
      } else {
        throw e;
      }
    }
    fsyncDir(path.dirname(dir));
    return true;
  }
}

