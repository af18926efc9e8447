// The vfsd command line: virtiofsd's long options (so a VM manager can swap the binary), the C
// daemon's `-o key=value` forms, and ours. Parsing is pure: it yields a Config or a UsageError
// whose message is the one line the user sees (exit code 2, like virtiofsd's argument parser).
import { parseMultidevsValue } from './multidevs-arg';
import { parseModcaps } from './sandbox-caps';
import { UsageError } from './usage-error';
import { parseIdRule, buildIdTranslation, IdMapError, IdRule } from '../policy/id-map';
import type { CacheMode, InodeFileHandles } from '../passthrough/config';
import { FUSE_TRANSPORTS, type FuseTransportChoice } from '../transport/fuse-uring';
import { parseXattrMap, XattrMap, XattrMapError } from '../policy/xattr-map';
import { SECCOMP_MODES, SeccompMode, seccompUnsupported } from './seccomp';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'off';
export type Sandbox = 'namespace' | 'chroot' | 'none';
export type Multidevs = 'remap' | 'forbid' | 'warn';
/** virtiofsd's NegotiationMode: --posix-acl and --security-label take never|auto|always. */
export type NegotiationMode = 'never' | 'auto' | 'always';
export type PosixAclMode = NegotiationMode;

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
  /** --mount: how requests reach us (read/writev on /dev/fuse, or FUSE over io_uring) */
  fuseTransport: FuseTransportChoice;
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
  /** --uid-map / --gid-map (virtiofsd's user-namespace maps), in the order given */
  uidMap: NsIdMap[];
  gidMap: NsIdMap[];
  /** --seccomp: what the syscall filter does to an unlisted call ('none': no filter); null: not
   *  given (kill, but see src/cli/seccomp.ts resolveSeccomp) */
  seccomp: SeccompMode | null;
  /** --syslog: log lines go to syslog (/dev/log), not stderr */
  syslog: boolean;
  /** --xattrmap, parsed (null: names pass unchanged) */
  xattrMap: XattrMap | null;
  /** --preserve-noatime: keep the client's O_NOATIME on opens */
  preserveNoatime: boolean;
  /** --posix-acl[=never|auto|always]: negotiate FUSE_POSIX_ACL */
  posixAcl: PosixAclMode;
  /** --security-label[=never|auto|always]: negotiate FUSE_SECURITY_CTX and store the label each
   *  creating request carries on the new file */
  securityLabel: NegotiationMode;
  /** --writeback: FUSE_WRITEBACK_CACHE */
  writeback: boolean;
  /** --allow-direct-io: keep the client's O_DIRECT on host files */
  allowDirectIo: boolean;
  /** --allow-mmap: FUSE_DIRECT_IO_ALLOW_MMAP */
  allowMmap: boolean;
  printCapabilities: boolean;
  help: boolean;
  version: boolean;
  /** accepted for compatibility, with no effect yet (named in the startup log) */
  ignored: string[];
}

export { UsageError };

/** One line of a user namespace's uid_map/gid_map: ids inside..inside+count-1 are outside.. */
export interface NsIdMap {
  inside: number;
  outside: number;
  count: number;
}

export function defaultConfig(): Config {
  return {
    sharedDir: null, mount: null, socketPath: null, fd: null, socketGroup: null, tag: null,
    cache: 'auto', xattr: false, readOnly: false, allowOther: false, logLevel: 'info',
    inodeFileHandles: 'auto', announceSubmounts: true, multidevs: 'remap',
    stateDir: null, stateBackupDir: null, statsFile: null, threadPoolSize: DEFAULT_THREAD_POOL_SIZE, sandbox: null, modcaps: null, rlimitNofile: null, pollUs: 200, fuseTransport: 'dev',
    passthrough: true, killprivV2: false, posixLock: true, flock: true, readdirplus: true, translateUid: [], translateGid: [], uidMap: [], gidMap: [],
    seccomp: null, syslog: false, xattrMap: null, preserveNoatime: false, posixAcl: 'never', securityLabel: 'never',
    writeback: false, allowDirectIo: false, allowMmap: false,
    printCapabilities: false, help: false, version: false, ignored: [],
  };
}

function oneOf<T extends string>(opt: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`invalid value '${value}' for ${opt} (valid: ${allowed.join(', ')})`);
}

/** Workers for what may block (fsync, fallocate, cache-missing reads, large writes): the
 *  metadata path stays on the event loop, so these threads only wait on disks and syncs. 16 keeps
 *  that many fsyncs or cold reads in flight at once (ext4 batches concurrent fsyncs: 16 in flight
 *  cost 55 µs each against 154 µs one by one, measured here) for 16 idle threads' worth of
 *  memory (256 KiB stacks); the C virtiofsd's 64 serves metadata on its pool too. */
export const DEFAULT_THREAD_POOL_SIZE = 16;

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
/** libvirt's `<cache mode='none'/>` arrives as `none` (-o cache=none, or --cache none from older
 *  libvirt with separate options); virtiofsd takes it as `never`. */
function cacheMode(opt: string, value: string): CacheMode {
  return value === 'none' ? 'never' : oneOf(opt, value, CACHE);
}

const ID_MAX = 0xffffffff;
/** virtiofsd's `--uid-map=:INSIDE:OUTSIDE:COUNT:`: the first character is the delimiter, which
 *  also ends the value (libvirt 10 writes `:`). Every id of both ranges must be a real id, i.e.
 *  below (uid_t)-1. */
function nsIdMap(opt: string, value: string): NsIdMap {
  const d = value[0];
  const parts = d && value.length > 1 && value.endsWith(d) ? value.slice(1, -1).split(d) : [];
  if (!d || /[\w\s]/.test(d) || parts.length !== 3 || !parts.every((x) => /^\d+$/.test(x))) {
    throw new UsageError(`invalid value '${value}' for ${opt}: expected :INSIDE:OUTSIDE:COUNT: (e.g. :0:100000:65536:)`);
  }
  const [inside, outside, count] = parts.map(Number);
  if (count < 1 || inside + count > ID_MAX || outside + count > ID_MAX) {
    throw new UsageError(`invalid value '${value}' for ${opt}: COUNT must be at least 1 and both ranges must end below 4294967295`);
  }
  return { inside, outside, count };
}
/** The kernel refuses (EINVAL, at start) a map whose lines overlap inside or on the host, or
 *  that has more than 340 lines: said here instead, naming the two lines. */
const MAX_MAP_LINES = 340;
function checkNsIdMaps(opt: string, maps: NsIdMap[]): void {
  if (maps.length > MAX_MAP_LINES) throw new UsageError(`${opt}: ${maps.length} ranges, the kernel takes at most ${MAX_MAP_LINES}`);
  const text = (m: NsIdMap) => `:${m.inside}:${m.outside}:${m.count}:`;
  for (let i = 0; i < maps.length; i++) {
    for (let j = 0; j < i; j++) {
      const [a, b] = [maps[j]!, maps[i]!];
      const side = a.inside < b.inside + b.count && b.inside < a.inside + a.count ? 'inside the namespace'
        : a.outside < b.outside + b.count && b.outside < a.outside + a.count ? 'on the host' : null;
      if (side) throw new UsageError(`${opt} ${text(a)} and ${text(b)} overlap ${side} (each id may be mapped once)`);
    }
  }
}
const LOG = ['error', 'warn', 'info', 'debug', 'trace', 'off'] as const;
const HANDLES = ['auto', 'never', 'prefer', 'mandatory'] as const;
const SANDBOX = ['namespace', 'chroot', 'none'] as const;
const ACL_MODES = ['never', 'auto', 'always'] as const;

function xattrMap(opt: string, value: string): XattrMap {
  try {
    return parseXattrMap(value);
  } catch (e) {
    if (e instanceof XattrMapError) throw new UsageError(`invalid value for ${opt}: ${e.message}`);
    throw e;
  }
}

function seccompMode(value: string): SeccompMode {
  const m = oneOf('--seccomp', value, SECCOMP_MODES);
  const why = seccompUnsupported(m);
  if (why) throw new UsageError(why);
  return m;
}

/** Options whose value is optional and, when given, must be attached with '=' (virtiofsd's
 *  require_equals): the bare flag means the value below. */
const OPTIONAL_VALUE: Record<string, { bare: string; set: Setter }> = {
  '--posix-acl': { bare: 'always', set: (c, v) => { c.posixAcl = oneOf('--posix-acl', v, ACL_MODES); } },
  '--security-label': { bare: 'always', set: (c, v) => { c.securityLabel = oneOf('--security-label', v, ACL_MODES); } },
};

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
  '--cache': (c, v) => { c.cache = cacheMode('--cache', v); },
  '--log-level': (c, v) => { c.logLevel = oneOf('--log-level', v, LOG); },
  // libvirt 10 in session mode (unprivileged): the user namespace the sandbox is made in
  '--uid-map': (c, v) => { c.uidMap.push(nsIdMap('--uid-map', v)); },
  '--gid-map': (c, v) => { c.gidMap.push(nsIdMap('--gid-map', v)); },
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
  '--fuse-transport': (c, v) => { c.fuseTransport = oneOf('--fuse-transport', v, FUSE_TRANSPORTS); },
  // virtiofsd options we accept so VM managers can pass them; recorded as not yet effective
  '--xattrmap': (c, v) => { c.xattrMap = xattrMap('--xattrmap', v); },
  '--seccomp': (c, v) => { c.seccomp = seccompMode(v); },
  '--shared-dir-uid': (c, v) => { c.ignored.push(`--shared-dir-uid=${v}`); },
  '--migration-mode': (c, v) => { c.ignored.push(`--migration-mode=${v}`); },
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
  '--syslog': (c) => { c.syslog = true; },
  '--killpriv-v2': (c) => { c.killprivV2 = true; },
  '--no-killpriv-v2': (c) => { c.killprivV2 = false; },
  '--allow-direct-io': (c) => { c.allowDirectIo = true; },
  '--allow-mmap': (c) => { c.allowMmap = true; },
  '--writeback': (c) => { c.writeback = true; },
  '--no-readdirplus': (c) => { c.readdirplus = false; },
  '--preserve-noatime': (c) => { c.preserveNoatime = true; },
  '--print-capabilities-json': (c) => { c.printCapabilities = true; },
};

/** Splits an `-o` list at single commas; `,,` is a literal comma (libvirt doubles the commas of
 *  a shared directory's path, as QEMU's option syntax does). Read left to right: `a,,,b` is the
 *  items `a,` and `b`. */
export function splitDashO(list: string): string[] {
  const items: string[] = [];
  let cur = '';
  for (let i = 0; i < list.length; i++) {
    if (list[i] !== ',') cur += list[i];
    else if (list[i + 1] === ',') { cur += ','; i++; }
    else { items.push(cur); cur = ''; }
  }
  items.push(cur);
  return items.filter(Boolean);
}

/** The C virtiofsd's `-o` flags that set one setting to a fixed value (most come as KEY and
 *  no_KEY pairs). */
const DASH_O_FLAGS: Record<string, Partial<Config>> = {
  xattr: { xattr: true }, no_xattr: { xattr: false },
  announce_submounts: { announceSubmounts: true },
  readonly: { readOnly: true }, ro: { readOnly: true },
  allow_other: { allowOther: true },
  debug: { logLevel: 'debug' },
  posix_lock: { posixLock: true }, no_posix_lock: { posixLock: false },
  flock: { flock: true }, no_flock: { flock: false },
  posix_acl: { posixAcl: 'always' }, no_posix_acl: { posixAcl: 'never' },
  readdirplus: { readdirplus: true }, no_readdirplus: { readdirplus: false },
  killpriv_v2: { killprivV2: true }, no_killpriv_v2: { killprivV2: false },
  security_label: { securityLabel: 'always' }, no_security_label: { securityLabel: 'never' },
  writeback: { writeback: true }, no_writeback: { writeback: false },
  allow_direct_io: { allowDirectIo: true }, no_allow_direct_io: { allowDirectIo: false },
};

/** The C virtiofsd's `-o a,b=c` options. */
function applyDashO(c: Config, list: string): void {
  for (const item of splitDashO(list)) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? '' : item.slice(eq + 1);
    const flag = Object.hasOwn(DASH_O_FLAGS, key) ? DASH_O_FLAGS[key] : undefined;
    if (flag) {
      Object.assign(c, flag);
      continue;
    }
    switch (key) {
      case 'source': c.sharedDir = value; break;
      case 'cache': c.cache = cacheMode('-o cache', value); break;
      // the C virtiofsd's level names: err, warn, info, debug
      case 'log_level': c.logLevel = value === 'err' ? 'error' : oneOf('-o log_level', value, LOG); break;
      case 'sandbox': c.sandbox = oneOf('-o sandbox', value, SANDBOX); break;
      case 'modcaps': parseModcaps(value); c.modcaps = value; break;
      case 'multidevs': c.multidevs = parseMultidevsValue(value); break;
      case 'xattrmap': c.xattrMap = xattrMap('-o xattrmap', value); break;
      case 'timeout': case 'norace':
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
    const optional = OPTIONAL_VALUE[name];
    if (optional) { optional.set(c, name === arg ? optional.bare : arg.slice(eq + 1)); continue; }
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
  // As in virtiofsd: mapping xattr names, ACLs or security labels means serving xattrs; ACLs hold
  // host ids that a translation would have to rewrite inside the value, which nobody does.
  if (c.xattrMap || c.posixAcl !== 'never' || c.securityLabel !== 'never') c.xattr = true;
  if (c.posixAcl !== 'never' && (c.translateUid.length || c.translateGid.length)) {
    throw new UsageError(`--posix-acl=${c.posixAcl} cannot be combined with --translate-uid/--translate-gid (ACLs hold untranslated ids)`);
  }
  checkNsIdMaps('--uid-map', c.uidMap);
  checkNsIdMaps('--gid-map', c.gidMap);
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
  // The /dev/fuse path reads and writes through buffers with the reply header in front of the
  // data: not aligned as a host O_DIRECT file demands, so every such read would fail (EINVAL).
  if (c.mount && c.allowDirectIo) return '--allow-direct-io: not with --mount (the /dev/fuse buffers are not aligned for host O_DIRECT); it is for vhost-user';
  return null;
}
