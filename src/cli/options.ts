// The vfsd command line: virtiofsd's long options (so a VM manager can swap the binary), the C
// daemon's `-o key=value` forms, and ours. Parsing is pure: it yields a Config or a UsageError
// whose message is the one line the user sees (exit code 2, like virtiofsd's argument parser).
import { parseMultidevsValue } from './multidevs-arg';
import { parseModcaps } from './sandbox-caps';
import { UsageError } from './usage-error';
import { parseIdRule, buildIdTranslation, IdMapError, IdRule } from '../policy/id-map';
import type { CacheMode, InodeFileHandles } from '../passthrough/config';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'off';
export type Sandbox = 'namespace' | 'chroot' | 'none';
export type Multidevs = 'remap' | 'forbid' | 'warn';

export interface Config {
  sharedDir: string | null;
  mount: string | null;
  socketPath: string | null;
  fd: number | null;
  socketGroup: string | null;
  tag: string | null;
  cache: CacheMode;
  xattr: boolean;
  readOnly: boolean;
  allowOther: boolean;
  logLevel: LogLevel;
  inodeFileHandles: InodeFileHandles;
  announceSubmounts: boolean;
  multidevs: Multidevs;
  stateDir: string | null;
  stateBackupDir: string | null;
  statsFile: string | null;
  threadPoolSize: number;
  /** null: not given; the default depends on who runs and how (src/cli/sandbox-launch.ts) */
  sandbox: Sandbox | null;
  /** --modcaps as given (validated): changes to the capabilities kept while serving */
  modcaps: string | null;
  rlimitNofile: number | null;
  /** busy-poll window for the next request after an answer, microseconds (0: off) */
  pollUs: number;
  passthrough: boolean;
  /** negotiate FUSE_HANDLE_KILLPRIV_V2 (virtiofsd's --killpriv-v2; off by default, as there) */
  killprivV2: boolean;
  posixLock: boolean;
  flock: boolean;
  /** offer READDIRPLUS (entries with attributes) to the kernel; off: plain READDIR only */
  readdirplus: boolean;
  /** --translate-uid / --translate-gid rules, in the order given (checked for conflicts) */
  translateUid: IdRule[];
  translateGid: IdRule[];
  printCapabilities: boolean;
  help: boolean;
  version: boolean;
  /** accepted for compatibility, with no effect yet (named in the startup log) */
  ignored: string[];
}

export { UsageError };

export function defaultConfig(): Config {
  return {
    sharedDir: null, mount: null, socketPath: null, fd: null, socketGroup: null, tag: null,
    cache: 'auto', xattr: false, readOnly: false, allowOther: false, logLevel: 'info',
    inodeFileHandles: 'auto', announceSubmounts: true, multidevs: 'remap',
    stateDir: null, stateBackupDir: null, statsFile: null, threadPoolSize: 0, sandbox: null, modcaps: null, rlimitNofile: null, pollUs: 200,
    passthrough: true, killprivV2: false, posixLock: true, flock: true, readdirplus: true, translateUid: [], translateGid: [],
    printCapabilities: false, help: false, version: false, ignored: [],
  };
}

function oneOf<T extends string>(opt: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`invalid value '${value}' for ${opt} (valid: ${allowed.join(', ')})`);
}

function count(opt: string, value: string, min: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`invalid value '${value}' for ${opt}: expected a whole number >= ${min}`);
  return Number(value);
}

function idRule(opt: string, value: string): IdRule {
  try {
    return parseIdRule(value);
  } catch (e) {
    if (e instanceof IdMapError) throw new UsageError(`${opt}: ${e.message}`);
    throw e;
  }
}

const CACHE = ['auto', 'always', 'metadata', 'never'] as const;
const LOG = ['error', 'warn', 'info', 'debug', 'trace', 'off'] as const;
const HANDLES = ['auto', 'never', 'prefer', 'mandatory'] as const;
const SANDBOX = ['namespace', 'chroot', 'none'] as const;

type Setter = (c: Config, v: string) => void;
/** Options that take a value, by every name they go by. */
const VALUED: Record<string, Setter> = {
  '--shared-dir': (c, v) => { c.sharedDir = v; },
  '--mount': (c, v) => { c.mount = v; },
  '--socket-path': (c, v) => { c.socketPath = v; },
  '--socket': (c, v) => { c.socketPath = v; },
  '--fd': (c, v) => { c.fd = count('--fd', v, 0); },
  '--socket-group': (c, v) => { c.socketGroup = v; },
  '--tag': (c, v) => { c.tag = v; },
  '--cache': (c, v) => { c.cache = oneOf('--cache', v, CACHE); },
  '--log-level': (c, v) => { c.logLevel = oneOf('--log-level', v, LOG); },
  '--inode-file-handles': (c, v) => { c.inodeFileHandles = oneOf('--inode-file-handles', v, HANDLES); },
  '--multidevs': (c, v) => { c.multidevs = parseMultidevsValue(v); },
  '--state-dir': (c, v) => { c.stateDir = v; },
  '--state-backup-dir': (c, v) => { c.stateBackupDir = v; },
  '--stats-file': (c, v) => { c.statsFile = v; },
  '--thread-pool-size': (c, v) => { c.threadPoolSize = count('--thread-pool-size', v, 0); },
  '--sandbox': (c, v) => { c.sandbox = oneOf('--sandbox', v, SANDBOX); },
  '--modcaps': (c, v) => { parseModcaps(v); c.modcaps = v; },
  '--rlimit-nofile': (c, v) => { c.rlimitNofile = count('--rlimit-nofile', v, 0); },
  // virtiofsd's id translation (the C virtiofsd has no -o form for it)
  '--translate-uid': (c, v) => { c.translateUid.push(idRule('--translate-uid', v)); },
  '--translate-gid': (c, v) => { c.translateGid.push(idRule('--translate-gid', v)); },
  '--poll-us': (c, v) => { c.pollUs = count('--poll-us', v, 0); if (c.pollUs > 1000) throw new UsageError(`invalid value '${v}' for --poll-us: at most 1000`); },
  // virtiofsd options we accept so VM managers can pass them; recorded as not yet effective
  '--xattrmap': (c, v) => { c.ignored.push(`--xattrmap=${v}`); },
  '--shared-dir-uid': (c, v) => { c.ignored.push(`--shared-dir-uid=${v}`); },
  '--migration-mode': (c, v) => { c.ignored.push(`--migration-mode=${v}`); },
  '--security-label': (c, v) => { c.ignored.push(`--security-label=${v}`); },
};

const FLAGS: Record<string, (c: Config) => void> = {
  '--xattr': (c) => { c.xattr = true; },
  '--no-xattr': (c) => { c.xattr = false; },
  '--readonly': (c) => { c.readOnly = true; },
  '--allow-other': (c) => { c.allowOther = true; },
  '--announce-submounts': (c) => { c.announceSubmounts = true; },
  '--no-announce-submounts': (c) => { c.announceSubmounts = false; },
  '--no-passthrough': (c) => { c.passthrough = false; },
  '--posix-lock': (c) => { c.posixLock = true; },
  '--no-posix-lock': (c) => { c.posixLock = false; },
  '--flock': (c) => { c.flock = true; },
  '--no-flock': (c) => { c.flock = false; },
  '--print-capabilities': (c) => { c.printCapabilities = true; },
  '--help': (c) => { c.help = true; },
  '-h': (c) => { c.help = true; },
  '--version': (c) => { c.version = true; },
  '-V': (c) => { c.version = true; },
  // virtiofsd flags with nothing for us to do: we always run in the foreground, log to stderr
  '-f': () => {},
  '--foreground': () => {},
  '-d': (c) => { c.logLevel = 'debug'; },
  '--syslog': (c) => { c.ignored.push('--syslog'); },
  '--killpriv-v2': (c) => { c.killprivV2 = true; },
  '--no-killpriv-v2': (c) => { c.killprivV2 = false; },
  '--allow-direct-io': (c) => { c.ignored.push('--allow-direct-io'); },
  '--allow-mmap': (c) => { c.ignored.push('--allow-mmap'); },
  '--writeback': (c) => { c.ignored.push('--writeback'); },
  '--no-readdirplus': (c) => { c.readdirplus = false; },
  '--preserve-noatime': (c) => { c.ignored.push('--preserve-noatime'); },
  '--print-capabilities-json': (c) => { c.printCapabilities = true; },
};

/** The C virtiofsd's `-o a,b=c` options. */
function applyDashO(c: Config, list: string): void {
  for (const item of list.split(',').filter(Boolean)) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? '' : item.slice(eq + 1);
    switch (key) {
      case 'source': c.sharedDir = value; break;
      case 'cache': c.cache = oneOf('-o cache', value, CACHE); break;
      case 'xattr': c.xattr = true; break;
      case 'no_xattr': c.xattr = false; break;
      case 'announce_submounts': c.announceSubmounts = true; break;
      case 'readonly': case 'ro': c.readOnly = true; break;
      case 'allow_other': c.allowOther = true; break;
      case 'log_level': c.logLevel = oneOf('-o log_level', value, LOG); break;
      case 'posix_lock': c.posixLock = true; break;
      case 'no_posix_lock': c.posixLock = false; break;
      case 'flock': c.flock = true; break;
      case 'no_flock': c.flock = false; break;
      case 'sandbox': c.sandbox = oneOf('-o sandbox', value, SANDBOX); break;
      case 'modcaps': parseModcaps(value); c.modcaps = value; break;
      case 'multidevs': c.multidevs = parseMultidevsValue(value); break;
      case 'readdirplus': c.readdirplus = true; break;
      case 'killpriv_v2': c.killprivV2 = true; break;
      case 'no_killpriv_v2': c.killprivV2 = false; break;
      case 'no_readdirplus': c.readdirplus = false; break;
      case 'writeback': case 'no_writeback':
      case 'timeout': case 'allow_direct_io':
      case 'no_allow_direct_io': case 'xattrmap': case 'norace':
        c.ignored.push(`-o ${item}`); break;
      default: throw new UsageError(`unknown -o option '${key}'`);
    }
  }
}

export function parseArgs(argv: readonly string[]): Config {
  const c = defaultConfig();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-o') {
      if (i + 1 >= argv.length) throw new UsageError("option '-o' needs a value");
      applyDashO(c, argv[++i]);
      continue;
    }
    if (arg.startsWith('-o') && arg.length > 2) { applyDashO(c, arg.slice(2)); continue; }
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const setter = VALUED[name];
    if (setter) {
      let value: string;
      if (name !== arg) value = arg.slice(eq + 1);
      else if (i + 1 < argv.length) value = argv[++i];
      else throw new UsageError(`option '${name}' needs a value`);
      setter(c, value);
      continue;
    }
    const flag = FLAGS[arg];
    if (flag) { flag(c); continue; }
    throw new UsageError(arg.startsWith('-') ? `unknown option '${arg}'` : `unexpected argument '${arg}'`);
  }
  // Intersecting translation rules are a command-line mistake too (exit 2, naming both rules).
  try {
    buildIdTranslation(c.translateUid, c.translateGid);
  } catch (e) {
    if (e instanceof IdMapError) throw new UsageError(e.message);
    throw e;
  }
  return c;
}

/** Checks what only makes sense together; returns the one-line complaint or null. */
export function checkConfig(c: Config): string | null {
  if (c.help || c.version || c.printCapabilities) return null;
  if (!c.sharedDir) return 'missing --shared-dir DIR (the directory to export)';
  const fronts = [c.mount, c.socketPath, c.fd].filter((x) => x !== null).length;
  if (fronts === 0) return 'say where to serve: --mount DIR (local /dev/fuse mount) or --socket-path PATH / --fd N (vhost-user for QEMU)';
  if (c.mount && (c.socketPath || c.fd !== null)) return '--mount cannot be combined with --socket-path or --fd';
  if (c.socketPath && c.fd !== null) return '--socket-path and --fd are alternatives: give one';
  return null;
}
