// --syslog (Kata always passes it): log lines go to the local syslog socket (/dev/log) as
// RFC 3164 datagrams, facility user, as virtiofsd does, and stderr stays quiet. The socket is
// connected once at startup, before any sandbox hides /dev/log, and sends never wait: a line
// the log daemon has no room for is counted and dropped rather than holding up requests.
import { syslogSocket } from '../native/syslog-socket';
import { sys } from '../native/sys';

export type SyslogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** The socket syslog(3) writes to. */
export const DEV_LOG = '/dev/log';
const LOG_USER = 1 << 3;
const ENOTCONN = 107;
const ECONNREFUSED = 111;
const SEVERITY: Record<SyslogLevel, number> = { error: 3, warn: 4, info: 6, debug: 7, trace: 7 };
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** One datagram as syslog(3) formats it: `<PRI>Mmm dd hh:mm:ss ident[pid]: message`. */
export function formatSyslog(level: SyslogLevel, ident: string, pid: number, msg: string, now: Date = new Date()): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const stamp = `${MONTHS[now.getMonth()]} ${String(now.getDate()).padStart(2, ' ')} ${two(now.getHours())}:${two(now.getMinutes())}:${two(now.getSeconds())}`;
  // A newline would split the record in some daemons: the message stays on one line.
  return `<${LOG_USER | SEVERITY[level]}>${stamp} ${ident}[${pid}]: ${msg.replace(/\n/g, ' ')}`;
}

export interface SyslogSink {
  write(line: string, level: SyslogLevel): void;
  /** lines dropped because the log daemon was full or gone */
  readonly dropped: number;
}

/** Connects to path; returns the sink, or the errno text why it cannot (then the caller logs to
 *  stderr, as virtiofsd does when syslog is unavailable). */
export function openSyslog(ident = 'vfsd', path = DEV_LOG): SyslogSink | string {
  let fd = syslogSocket.unixDgramConnect(path);
  if (fd < 0) return `cannot connect to ${path}: errno ${-fd}`;
  let dropped = 0;
  const send = (bytes: Buffer) => {
    let r = syslogSocket.dgramSend(fd, bytes);
    if (r === -ECONNREFUSED || r === -ENOTCONN) {
      // The daemon restarted (its socket is new): reconnect once, if the path is still reachable.
      const again = syslogSocket.unixDgramConnect(path);
      if (again >= 0) { sys.close(fd); fd = again; r = syslogSocket.dgramSend(fd, bytes); }
    }
    if (r < 0) dropped++;
  };
  return {
    write: (line, level) => send(Buffer.from(formatSyslog(level, ident, process.pid, line))),
    get dropped() { return dropped; },
  };
}
