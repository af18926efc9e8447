// The --syslog sender of the addon (native/sys_syslog.cc): Node's dgram has no AF_UNIX sockets.
// Same contract as sys.ts: numbers back, -errno on failure.
import { addon } from './addon';

interface NativeSyslogSocket {
  /** A connected non-blocking AF_UNIX datagram socket to path, or -errno. */
  unixDgramConnect(path: string): number;
  /** send(2) with MSG_DONTWAIT: bytes sent or -errno (-EAGAIN: the receiver is full). */
  dgramSend(fd: number, data: Uint8Array): number;
}

export const syslogSocket: NativeSyslogSocket = addon as unknown as NativeSyslogSocket;
