// A real libvirt for the acceptance tests: Debian's libvirtd and virtlogd (qemu:///system), run
// here without systemd, and transient domains that boot the acceptance guest (test/helpers/
// guest.ts: its kernel, initramfs and console protocol) with virtio-fs shares served by whatever
// <binary path> names.
//
// Why a mount namespace: /dev/kvm here is 0600 root, so the QEMU user libvirt probes capabilities
// as cannot open it and libvirt 9.0 re-probes QEMU on almost every call (~48 s per define). The
// daemons run in their own mount namespace where a 0660 root:kvm copy of the node is bind-mounted
// over /dev/kvm: the host's /dev/kvm is untouched, and the namespace ends with the daemons.
// Domains are type 'qemu' (TCG) all the same.
//
// Everything started here is stopped by stop() (and by the reaper if the test file dies): the
// domains, libvirtd, virtlogd, their sockets and pid files, the device node copy.
import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BootFiles, ConsoleReader, finishRun, GuestRun, newGuestRun, qemuBinary } from './guest';
import { onAbnormalExit } from './reaper';

export const URI = 'qemu:///system';
const LIBVIRTD_PID = '/run/libvirtd.pid';
const DAEMON_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };
const VIRTLOGD_PID = '/run/virtlogd.pid';
/** Where libvirt writes each virtiofsd's stderr: <domain>-<alias>-virtiofsd.log */
export const QEMU_LOG_DIR = '/var/log/libvirt/qemu';
/** libvirt's pid files of the daemons it starts for a domain: <domain>-<alias>-fs.pid */
export const QEMU_RUN_DIR = '/run/libvirt/qemu';

/** Prerequisites; a reason string when one is missing (the tests skip with it). */
export function libvirtUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (libvirtd as qemu:///system)';
  for (const bin of ['libvirtd', 'virtlogd', 'virsh', 'unshare']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status !== 0) return `${bin} missing (scripts/install-deps.sh: libvirt-daemon-system, libvirt-clients)`;
  }
  if (spawnSync(qemuBinary(), ['--version'], { stdio: 'ignore' }).status !== 0) return `${qemuBinary()} not runnable`;
  if (!fs.existsSync('/dev/kvm')) return 'no /dev/kvm node to copy (libvirt 9.0 would re-probe QEMU on every call)';
  return undefined;
}

function pidAlive(file: string): number | null {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    if (pid > 0) {
      process.kill(pid, 0);
      return pid;
    }
  } catch {
    // no file, or no such process
  }
  return null;
}

export interface VirshResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export class Libvirt {
  private readonly domains = new Set<string>();
  private unregister: (() => void) | null = null;

  private constructor(readonly startedHere: boolean, private readonly nodeDir: string | null) {}

  /** Starts libvirtd and virtlogd unless a libvirtd already runs (then it is used and left alone). */
  static async start(): Promise<Libvirt> {
    if (pidAlive(LIBVIRTD_PID)) return new Libvirt(false, null);
    const nodeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-libvirt-kvm-'));
    const kvm = fs.statSync('/dev/kvm');
    const major = Math.floor(kvm.rdev / 256) & 0xfff;
    const minor = (kvm.rdev & 0xff) | ((kvm.rdev >> 12) & 0xfff00);
    const node = path.join(nodeDir, 'kvm');
    // The daemons daemonize (-d) inside the namespace; it lives as long as they do.
    const script = [
      `mknod ${node} c ${major} ${minor}`, `chown root:kvm ${node}`, `chmod 0660 ${node}`,
      `mount --bind ${node} /dev/kvm`,
      'virtlogd -d', 'libvirtd -d',
    ].join(' && ');
    const lv = new Libvirt(true, nodeDir);
    lv.unregister = onAbnormalExit(() => lv.killDaemons());
    // A clean environment, as a service manager gives: the daemons outlive this test process,
    // and the vfsd they start must not inherit the test runner's loaders (NODE_OPTIONS naming
    // files of this checkout) from a libvirtd a later run reuses.
    const r = spawnSync('unshare', ['-m', '--propagation', 'slave', 'sh', '-c', script], { encoding: 'utf8', timeout: 60_000, env: DAEMON_ENV });
    if (r.status !== 0) {
      await lv.stop();
      throw new Error(`starting libvirtd failed (${r.status ?? r.signal}): ${r.stderr}`);
    }
    // The first connection waits for libvirtd's QEMU capability probe.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const v = lv.virsh(['version'], 60_000);
      if (v.status === 0) break;
      if (Date.now() > deadline) {
        await lv.stop();
        throw new Error(`libvirtd did not answer: ${v.stderr}`);
      }
      await new Promise((res) => setTimeout(res, 500));
    }
    return lv;
  }

  virsh(args: string[], timeoutMs = 120_000): VirshResult {
    const r: SpawnSyncReturns<string> = spawnSync('virsh', ['-q', '-c', URI, ...args], { encoding: 'utf8', timeout: timeoutMs });
    return { status: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
  }

  /** `virsh create`: a transient domain, gone when it powers off or is destroyed. */
  create(name: string, xmlFile: string): VirshResult {
    this.domains.add(name);
    return this.virsh(['create', xmlFile]);
  }

  destroy(name: string): VirshResult {
    const r = this.virsh(['destroy', name]);
    this.domains.delete(name);
    return r;
  }

  isRunning(name: string): boolean {
    const r = this.virsh(['domstate', name], 30_000);
    return r.status === 0 && /running|paused|in shutdown/.test(r.stdout);
  }

  private killDaemons(): void {
    for (const d of this.domains) spawnSync('virsh', ['-q', '-c', URI, 'destroy', d], { stdio: 'ignore', timeout: 30_000 });
    this.domains.clear();
    if (!this.startedHere) return;
    for (const f of [LIBVIRTD_PID, VIRTLOGD_PID]) {
      const pid = pidAlive(f);
      if (pid) process.kill(pid, 'SIGKILL');
    }
  }

  /** Destroys what is left of our domains; stops the daemons this object started. */
  async stop(): Promise<void> {
    for (const d of [...this.domains]) this.destroy(d);
    if (this.startedHere) {
      for (const f of [LIBVIRTD_PID, VIRTLOGD_PID]) {
        const pid = pidAlive(f);
        if (!pid) continue;
        process.kill(pid, 'SIGTERM');
        const deadline = Date.now() + 15_000;
        while (pidAlive(f) === pid && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
        if (pidAlive(f) === pid) process.kill(pid, 'SIGKILL');
      }
      // A daemon killed before it cleaned up leaves its sockets and pid file behind.
      for (const f of ['libvirt-sock', 'libvirt-sock-ro', 'libvirt-admin-sock', 'virtlogd-sock', 'virtlogd-admin-sock']) {
        fs.rmSync(path.join('/run/libvirt', f), { force: true });
      }
      for (const f of [LIBVIRTD_PID, VIRTLOGD_PID]) if (!pidAlive(f)) fs.rmSync(f, { force: true });
    }
    if (this.nodeDir) fs.rmSync(this.nodeDir, { recursive: true, force: true });
    this.unregister?.();
    this.unregister = null;
  }
}

// ---------------------------------------------------------------------------------------------
// Domains

export interface FsSpec {
  /** The daemon libvirt starts (<binary path>); undefined: libvirt's discovery picks it. */
  binary?: string;
  dir: string;
  tag: string;
  cache?: 'none' | 'always';
  sandbox?: 'chroot' | 'namespace';
  xattr?: boolean;
  /** <lock posix='on' flock='on'/> */
  locks?: boolean;
  threadPoolSize?: number;
}

export interface DomainSpec {
  name: string;
  boot: BootFiles;
  fs: FsSpec[];
  /** The guest's serial console is written here by libvirt (read by runDomain). */
  consoleLog: string;
  memoryMiB?: number;
  /** Free PCIe root ports for hot-plugged devices. */
  hotplugPorts?: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;');

export function filesystemXml(f: FsSpec): string {
  const binaryInner = [
    f.cache ? `<cache mode='${f.cache}'/>` : '',
    f.sandbox ? `<sandbox mode='${f.sandbox}'/>` : '',
    f.locks ? `<lock posix='on' flock='on'/>` : '',
    f.threadPoolSize !== undefined ? `<thread_pool size='${f.threadPoolSize}'/>` : '',
  ].join('');
  const attrs = [f.binary ? `path='${esc(f.binary)}'` : '', f.xattr ? `xattr='on'` : ''].filter(Boolean).join(' ');
  const binary = attrs || binaryInner ? `<binary ${attrs}>${binaryInner}</binary>` : '';
  return `<filesystem type='mount' accessmode='passthrough'><driver type='virtiofs' queue='1024'/>${binary}` +
    `<source dir='${esc(f.dir)}'/><target dir='${esc(f.tag)}'/></filesystem>`;
}

// <acpi/>: without it libvirt starts QEMU with -no-acpi, SeaBIOS then writes its own i440fx-era
// ACPI tables on the q35 machine, and the guest never sees a device hot-plugged into a
// pcie-root-port (QEMU >= 6.1 signals q35 root-port hotplug through its own ACPI tables, the
// guest's acpiphp answers). Every domain virt-install writes has it; live attach needs it.
export function domainXml(d: DomainSpec): string {
  const mem = d.memoryMiB ?? 512;
  return `<domain type='qemu'>
  <name>${esc(d.name)}</name>
  <memory unit='MiB'>${mem}</memory>
  <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>${esc(d.boot.kernel)}</kernel>
    <initrd>${esc(d.boot.initrd)}</initrd>
    <cmdline>${esc(d.boot.append)}</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    ${d.fs.map(filesystemXml).join('\n    ')}
    <controller type='usb' model='none'/>
    ${d.hotplugPorts ? "<controller type='pci' index='0' model='pcie-root'/>" : ''}${Array.from({ length: d.hotplugPorts ?? 0 }, () => "<controller type='pci' model='pcie-root-port'/>").join('')}
    <serial type='file'><source path='${esc(d.consoleLog)}'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

export interface DomainRun {
  run: GuestRun;
  /** libvirt's log of each filesystem's daemon, by alias (fs0, fs1, ...). */
  daemonLogs: string[];
  createError: string | null;
}

export interface RunDomainOptions {
  timeoutMs?: number;
  /** Each console line as it arrives; may act on the domain (attach, destroy, ...). */
  onLine?: (line: string) => Promise<void> | void;
  /** Called once the domain runs (before the guest booted). */
  onStarted?: () => Promise<void> | void;
}

export function daemonLogPath(domain: string, alias: string): string {
  return path.join(QEMU_LOG_DIR, `${domain}-${alias}-virtiofsd.log`);
}

/** Creates the domain, follows its console until it powers off (or the deadline), collects the
 *  daemons' logs. The domain is destroyed if it is still running at the end. */
export async function runDomain(lv: Libvirt, d: DomainSpec, dir: string, o: RunDomainOptions = {}): Promise<DomainRun> {
  const xmlFile = path.join(dir, `${d.name}.xml`);
  fs.writeFileSync(xmlFile, domainXml(d));
  const logs = d.fs.map((_, i) => daemonLogPath(d.name, `fs${i}`));
  for (const l of logs) fs.rmSync(l, { force: true });
  fs.rmSync(d.consoleLog, { force: true });
  const started = Date.now();
  const run = newGuestRun();
  const timeoutMs = o.timeoutMs ?? 180_000;
  const created = lv.create(d.name, xmlFile);
  const readLogs = () => logs.map((l) => (fs.existsSync(l) ? fs.readFileSync(l, 'utf8') : ''));
  if (created.status !== 0) {
    lv.destroy(d.name);
    finishRun(run, started, timeoutMs, 'not started');
    return { run, daemonLogs: readLogs(), createError: created.stderr.trim() };
  }
  await o.onStarted?.();
  let chain: Promise<void> = Promise.resolve();
  const reader = new ConsoleReader(run, started, undefined, (line) => {
    if (o.onLine) chain = chain.then(() => o.onLine!(line));
  });
  let offset = 0;
  const pull = () => {
    let fd: number;
    try {
      fd = fs.openSync(d.consoleLog, 'r');
    } catch {
      return;
    }
    try {
      const buf = Buffer.alloc(65536);
      for (let n; (n = fs.readSync(fd, buf, 0, buf.length, offset)) > 0; offset += n) reader.feed(buf.toString('latin1', 0, n));
    } finally {
      fs.closeSync(fd);
    }
  };
  try {
    while (lv.isRunning(d.name)) {
      pull();
      await chain;
      if (Date.now() - started > timeoutMs) {
        run.timedOut = true;
        break;
      }
      await new Promise((res) => setTimeout(res, 250));
    }
    pull();
    await chain;
  } finally {
    if (lv.isRunning(d.name)) lv.destroy(d.name);
  }
  reader.flush();
  finishRun(run, started, timeoutMs, 'powered off');
  return { run, daemonLogs: readLogs(), createError: null };
}

/**
 * The wrapper libvirt execs as <binary path>: node on this checkout's vfsd. It `exec`s, so the
 * daemon libvirt tracks (pid file, locked pid file fd, process group) is vfsd itself. With
 * `exitLog`, a preload records each node process's exit code there (the file is opened at start,
 * before any sandbox makes its path unreachable).
 */
export function writeVfsdWrapper(file: string, mainJs: string, exitLog?: string): void {
  let preload = '';
  if (exitLog) {
    const hook = `${file}.exit-hook.js`;
    fs.writeFileSync(hook, `'use strict';
const fs = require('node:fs');
const fd = fs.openSync(${JSON.stringify(exitLog)}, 'a');
process.on('exit', (code) => { try { fs.writeSync(fd, process.pid + ' ' + code + '\\n'); } catch {} });
`);
    preload = `NODE_OPTIONS="--require ${hook}" `;
  } else {
    // Nothing of the environment libvirtd was started with: vfsd runs as it would in production.
    preload = 'NODE_OPTIONS= ';
  }
  fs.writeFileSync(file, `#!/bin/sh\n${preload}exec ${process.execPath} ${mainJs} "$@"\n`, { mode: 0o755 });
}
