// vfsd under a real libvirt (Debian's libvirtd 9.0, qemu:///system, domain type 'qemu'): libvirt
// starts vfsd from <binary path> (or finds it by its discovery file), hands it the listening
// socket with --fd and its options as libvirt writes them, and stops it. Each case boots the
// acceptance guest once with two shares side by side: fs0 served by vfsd, fs1 by the C virtiofsd
// (/usr/lib/qemu/virtiofsd) as the control, with the same options. The guest reads, writes,
// renames, chowns and sets xattrs on both; the host checks every change from its side.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ComparisonTable } from '../helpers/compare-table';
import { guestScript } from '../helpers/acceptance';
import { buildGuest, guestUnavailable, prepareBoot, repoRoot, VIRTIOFSD, type GuestCheck } from '../helpers/guest';
import {
  daemonLogPath, filesystemXml, Libvirt, libvirtUnavailable, QEMU_LOG_DIR, QEMU_RUN_DIR, runDomain, writeVfsdWrapper,
  type DomainRun, type FsSpec,
} from '../helpers/libvirt';

const SERVERS = ['vfsd', 'virtiofsd'] as const;
type Server = (typeof SERVERS)[number];

interface CaseOptions {
  /** Options of both shares (binary and dir are filled in). */
  share?: Partial<FsSpec>;
  /** The name of each share's directory (under the case's temp dir). */
  dirName?: string;
  /** The guest's AFTER (see test/guest/scripts/libvirt.sh). */
  after?: string;
  locks?: boolean;
  /** No <binary path> for vfsd's share: libvirt's discovery must find vfsd. */
  discovered?: boolean;
  onLine?: (line: string, c: CaseRun) => Promise<void> | void;
  /** Extra PCIe root ports for hot-plugged shares. */
  hotplugPorts?: number;
  /** The control's directory name, when it differs from dirName. */
  controlDirName?: string;
  /** Only this server's share (the domain has one filesystem). */
  only?: Server;
}

interface Share {
  server: Server;
  tag: string;
  dir: string;
  spec: FsSpec;
}

interface CaseRun {
  name: string;
  domain: string;
  tmp: string;
  shares: Share[];
  exitLog: string;
  /** What libvirt runs as vfsd's <binary path>. */
  wrapper: string;
  dr?: DomainRun;
  /** Host-side checks, by server. */
  host: Record<Server, GuestCheck[]>;
}

const why = guestUnavailable() ?? libvirtUnavailable() ?? (fs.existsSync(VIRTIOFSD) ? undefined : `${VIRTIOFSD} missing (the control)`);
if (why) {
  t.plan(0, why);
} else {
  buildGuest();
  const mainJs = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
  const table = new ComparisonTable('libvirt: the same domain, vfsd (fs0) and the C virtiofsd (fs1) side by side');
  let lv: Libvirt;
  t.before(async () => {
    lv = await Libvirt.start();
  });
  t.teardown(async () => {
    await lv?.stop();
    t.comment(table.render());
    table.save('libvirt');
  });

  const check = (name: string, ok: boolean, detail = ''): GuestCheck => ({ name, ok, detail });

  function prepareShare(dir: string, xattr: boolean): void {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'hostfile'), 'from the host\n');
    if (xattr) {
      const r = spawnSync('setfattr', ['-n', 'user.vfsd.host', '-v', 'host-value', path.join(dir, 'hostfile')], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`setfattr: ${r.stderr}`);
    }
  }

  function getxattr(file: string, name: string): string | null {
    const r = spawnSync('getfattr', ['--only-values', '-n', name, file], { encoding: 'utf8' });
    return r.status === 0 ? r.stdout : null;
  }

  /** What the guest changed, seen from the host. */
  function hostChecks(s: Share, xattr: boolean): GuestCheck[] {
    const p = (f: string) => path.join(s.dir, f);
    const read = (f: string) => (fs.existsSync(p(f)) ? fs.readFileSync(p(f), 'utf8') : null);
    const out = [
      check('host/sees-write', read('guestfile') === 'from the guest\n', JSON.stringify(read('guestfile'))),
      check('host/sees-rename', read('after') === 'moved\n' && !fs.existsSync(p('before'))),
    ];
    const st = fs.existsSync(p('dir/owned')) ? fs.statSync(p('dir/owned')) : null;
    out.push(check('host/sees-chown', st?.uid === 1234 && st?.gid === 4321, st ? `${st.uid}:${st.gid}` : 'missing'));
    if (xattr) out.push(check('host/sees-setxattr', getxattr(p('guestfile'), 'user.vfsd.guest') === 'guest-value'));
    return out;
  }

  /** The case's files, and libvirt's logs of its domain (shown in the output if it failed; two
   *  more aliases for hot-plugged shares). */
  const cleanup = (t: Test, c: CaseRun) => t.teardown(() => {
    fs.rmSync(c.tmp, { recursive: true, force: true });
    for (let i = 0; i < c.shares.length + 2; i++) fs.rmSync(daemonLogPath(c.domain, `fs${i}`), { force: true });
    fs.rmSync(path.join(QEMU_LOG_DIR, `${c.domain}.log`), { force: true });
  });

  let caseNo = 0;
  async function runCase(t: Test, name: string, o: CaseOptions = {}): Promise<CaseRun> {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-libvirt-'));
    // libvirt's QEMU user reads the kernel and initramfs from here.
    fs.chmodSync(tmp, 0o755);
    const c: CaseRun = { name, domain: `vfsd-lv-${process.pid}-${++caseNo}-${name}`, tmp, shares: [], exitLog: path.join(tmp, 'vfsd-exits'),
      wrapper: path.join(tmp, 'vfsd-wrapper'), host: { vfsd: [], virtiofsd: [] } };
    cleanup(t, c);
    writeVfsdWrapper(c.wrapper, mainJs, c.exitLog);
    const xattr = o.share?.xattr ?? false;
    for (const server of SERVERS.filter((s) => !o.only || s === o.only)) {
      const tag = server;
      const dir = path.join(tmp, server, (server === 'virtiofsd' ? o.controlDirName : undefined) ?? o.dirName ?? 'share');
      prepareShare(dir, xattr);
      const binary = server === 'vfsd' ? (o.discovered ? undefined : c.wrapper) : VIRTIOFSD;
      c.shares.push({ server, tag, dir, spec: { ...o.share, binary, dir, tag } });
    }
    const script = [
      `SHARES='${c.shares.map((s) => s.tag).join(' ')}'`, `XATTR=${xattr ? 1 : 0}`, `LOCKS=${o.locks ? 1 : 0}`,
      `AFTER='${o.after ?? ''}'`, guestScript('libvirt.sh'),
    ].join('\n');
    const boot = prepareBoot({ tag: 'vfsd', script }, tmp);
    // libvirt relabels (chowns) the kernel while the domain runs: a copy, not the shared cache.
    const kernel = path.join(tmp, 'vmlinuz');
    fs.copyFileSync(boot.kernel, kernel);
    c.dr = await runDomain(lv, {
      name: c.domain, boot: { ...boot, kernel }, fs: c.shares.map((s) => s.spec), consoleLog: path.join(tmp, 'console.log'),
      hotplugPorts: o.hotplugPorts,
    }, tmp, { onLine: o.onLine ? (line) => o.onLine!(line, c) : undefined });
    for (const s of c.shares) c.host[s.server].push(...hostChecks(s, xattr));
    return c;
  }

  /** Records both servers' checks in the table; vfsd must pass all of them, and the control too
   *  (a check the reference daemon fails says the test, not vfsd, is wrong). */
  function report(t: Test, c: CaseRun, extra: Partial<Record<Server, GuestCheck[]>> = {}): void {
    const dr = c.dr!;
    t.equal(dr.createError, null, 'libvirt started the domain');
    for (const server of SERVERS) {
      const own = dr.run.results.filter((r) => r.name.startsWith(`${server}/`)).map((r) => ({ ...r, name: r.name.slice(server.length + 1) }));
      const common = dr.run.results.filter((r) => !SERVERS.some((s) => r.name.startsWith(`${s}/`)));
      const checks = [...common, ...own, ...c.host[server], ...(extra[server] ?? [])].map((r) => ({ ...r, name: `${c.name}/${r.name}` }));
      table.record(server, checks);
      t.ok(own.length > 0, `${server}: the guest checked its share`);
      for (const r of checks) t.ok(r.ok, `${server}: ${r.name}`, { detail: r.detail });
    }
    if (!t.passing()) {
      t.comment(`console:\n${dr.run.console.slice(-3000)}`);
      dr.daemonLogs.forEach((l, i) => t.comment(`${daemonLogPath(c.domain, `fs${i}`)}:\n${l.slice(-3000)}`));
      if (dr.createError) t.comment(dr.createError);
    }
  }

  /** vfsd's effective configuration from its startup line in libvirt's log of fs0. */
  function vfsdConfig(c: CaseRun): Record<string, unknown> | null {
    for (const line of (c.dr?.daemonLogs[0] ?? '').split('\n')) {
      try {
        const j = JSON.parse(line) as { msg?: string; config?: Record<string, unknown> };
        if (j.msg === 'starting' && j.config) return j.config;
      } catch {
        // not a JSON line
      }
    }
    return null;
  }

  /** A filesystem daemon libvirt started for a running domain: its alias (fs0, ...), pid, pid
   *  file and socket. libvirt's file names hold the domain's id and its name cut to 20 characters. */
  interface Daemon {
    server: Server;
    alias: string;
    pid: number;
    /** Its process group: libvirt's daemonizing fork leads it, the daemon (the pid file's pid) is
     *  a member, not the leader. */
    pgid: number;
    files: string[];
  }

  function daemons(c: CaseRun): Daemon[] {
    // Which server each alias is: vfsd's <filesystem> names the case's wrapper as its binary.
    const vfsdAliases = lv.virsh(['dumpxml', c.domain]).stdout.split('<filesystem').filter((f) => f.includes(c.wrapper))
      .map((f) => /<alias name='(fs\d+)'/.exec(f)?.[1]);
    const cut = c.domain.slice(0, 20);
    const domDir = fs.readdirSync('/var/lib/libvirt/qemu').find((d) => d.startsWith('domain-') && d.endsWith(cut));
    const sockets = domDir ? fs.readdirSync(path.join('/var/lib/libvirt/qemu', domDir)).filter((f) => f.endsWith('-fs.sock')).map((f) => path.join('/var/lib/libvirt/qemu', domDir, f)) : [];
    return fs.readdirSync(QEMU_RUN_DIR).filter((f) => f.includes(cut) && f.endsWith('-fs.pid')).map((f) => {
      const alias = /-(fs\d+)-fs\.pid$/.exec(f)![1];
      const pidFile = path.join(QEMU_RUN_DIR, f);
      const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
      const server: Server = vfsdAliases.includes(alias) ? 'vfsd' : 'virtiofsd';
      // /proc/PID/stat: "pid (comm) state ppid pgrp ...", comm may hold spaces.
      const pgid = Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[2]);
      return { server, alias, pid, pgid, files: [pidFile, ...sockets.filter((s) => path.basename(s) === `${alias}-fs.sock`)] };
    });
  }

  /** Neither the daemon nor any process of its group is left (libvirt SIGTERMs the group). */
  const gone = (d: Daemon) => [d.pid, -d.pgid].every((p) => {
    try {
      process.kill(p, 0);
      return false;
    } catch {
      return true;
    }
  });

  /** Waits until the daemons' processes and files are gone; then checks that each is. */
  async function checkGone(ds: Daemon[], c: CaseRun, prefix = ''): Promise<Record<Server, GuestCheck[]>> {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && !ds.every((d) => gone(d) && d.files.every((f) => !fs.existsSync(f)))) await new Promise((r) => setTimeout(r, 200));
    const exits = fs.existsSync(c.exitLog) ? fs.readFileSync(c.exitLog, 'utf8').trim().split('\n').filter(Boolean) : [];
    const out: Record<Server, GuestCheck[]> = { vfsd: [], virtiofsd: [] };
    for (const d of ds) {
      out[d.server].push(check(`${prefix}no-process-left`, gone(d), `pid ${d.pid}, process group ${d.pgid}`));
      // Only vfsd runs through the wrapper that logs exit codes.
      if (d.server === 'vfsd') out.vfsd.push(check(`${prefix}exit-0`, exits.includes(`${d.pid} 0`) && exits.every((l) => l.endsWith(' 0')), exits.join(', ')));
      for (const f of d.files) out[d.server].push(check(`${prefix}${f.endsWith('.sock') ? 'socket' : 'pid-file'}-removed`, !fs.existsSync(f), f));
    }
    return out;
  }

  /** VFSD_LIBVIRT_CASES=plain,destroy,... runs only those cases (debugging). */
  const only = process.env.VFSD_LIBVIRT_CASES?.split(',').filter(Boolean);
  const lvTest = (key: string, name: string, fn: (t: Test) => Promise<void>) =>
    only && !only.includes(key) ? t.test(name, { skip: 'not in VFSD_LIBVIRT_CASES' }, async () => {}) : t.test(name, fn);

  /** A case that is the common checks plus vfsd's effective configuration for the options. */
  const optionCase = (key: string, title: string, share: Partial<FsSpec>, config: Record<string, unknown>) =>
    lvTest(key, title, async (t) => {
      const c = await runCase(t, key, { share });
      report(t, c);
      t.match(vfsdConfig(c), config, "vfsd's effective configuration");
    });

  optionCase('plain', 'plain share: read, write, rename, chown through libvirt', {},
    { fd: Number, cache: 'auto', sandbox: 'namespace', sandbox_entered: true });
  optionCase('cache-none', "<cache mode='none'/> (-o cache=none) is cache=never", { cache: 'none' }, { cache: 'never' });

  lvTest('comma', 'a shared directory whose path holds commas (written as ,, in -o)', async (t) => {
    const c = await runCase(t, 'comma', { dirName: 'a,b,,c', controlDirName: 'share' });
    report(t, c);
    t.equal(vfsdConfig(c)?.sharedDir, c.shares[0].dir, 'the whole path, commas included');
    // The control with the same path, alone: the C virtiofsd splits ',,' (it looks for .../a) and
    // the domain does not start. Shown in the table as TODO, the gap vfsd closes.
    const alone = await runCase(t, 'comma-c', { dirName: 'a,b,,c', only: 'virtiofsd' });
    const failed = alone.dr!.createError !== null && /failed to stat source .*\/a"\)/.test(alone.dr!.daemonLogs[0]);
    t.ok(failed, 'the C virtiofsd fails on the same path (the control shows the case is real)', { log: alone.dr!.daemonLogs[0] });
    table.record('virtiofsd', [check('comma/same-path-as-vfsd', false, 'the C virtiofsd splits the doubled comma')], () => true);
    table.record('vfsd', [check('comma/same-path-as-vfsd', true)]);
  });

  lvTest('destroy', 'virsh destroy: vfsd exits 0 on SIGTERM; no process, socket or pid file is left', async (t) => {
    let ran: Daemon[] = [];
    const c = await runCase(t, 'destroy', {
      after: 'ready',
      onLine: (line, c) => {
        if (!/VFSD-RESULT ready PASS/.test(line)) return;
        ran = daemons(c);
        lv.destroy(c.domain);
      },
    });
    // Destroyed on purpose: the guest never reaches VFSD-DONE.
    c.dr!.run.results = c.dr!.run.results.filter((r) => r.name !== 'guest/completed');
    t.same(ran.map((d) => [d.server, d.files.length]).sort(), [['vfsd', 2], ['virtiofsd', 2]], 'two daemons ran, each with a pid file and a socket', { found: ran });
    // libvirt SIGTERMs the process group and waits for the pid file lock to go away.
    report(t, c, await checkGone(ran, c));
  });

  optionCase('cache-always', "<cache mode='always'/>", { cache: 'always' }, { cache: 'always' });

  lvTest('xattr-locks', "xattr='on', <lock posix flock>, <thread_pool size='2'>: the host sees the guest's locks", async (t) => {
    const probes: Record<string, boolean> = {};
    const c = await runCase(t, 'xattr-locks', {
      share: { xattr: true, locks: true, threadPoolSize: 2 },
      locks: true,
      onLine: (line, c) => {
        const m = /VFSD-DATA lock (\S+) (flock|posix) held/.exec(line);
        const s = m && c.shares.find((x) => x.tag === m[1]);
        if (!m || !s) return;
        // The same lock taken on the host while the guest holds it must fail at once.
        const file = path.join(s.dir, 'lockfile');
        const r = m[2] === 'flock'
          ? spawnSync('flock', ['-n', '-x', file, 'true'])
          : spawnSync('python3', ['-c', 'import fcntl,sys\nf=open(sys.argv[1],"r+")\ntry:\n fcntl.lockf(f,fcntl.LOCK_EX|fcntl.LOCK_NB)\nexcept OSError:\n sys.exit(1)', file]);
        probes[`${s.server}/${m[2]}`] = r.status === 1;
      },
    });
    const probe = (s: Server, kind: string) => check(`host/${kind}-blocked-by-guest`, probes[`${s}/${kind}`] === true, String(probes[`${s}/${kind}`]));
    report(t, c, Object.fromEntries(SERVERS.map((s) => [s, [probe(s, 'flock'), probe(s, 'posix')]])));
    t.match(vfsdConfig(c), { xattr: true, flock: true, posixLock: true, threadPoolSize: 2 });
  });

  optionCase('chroot', "<sandbox mode='chroot'/>", { sandbox: 'chroot' }, { sandbox: 'chroot', sandbox_entered: true });

  lvTest('hotplug', 'live attach and detach (virsh attach-device / detach-device --live): the share works, then its daemon exits 0 and leaves nothing', async (t) => {
    const hot: Share[] = [];
    let attached: Daemon[] = [];
    let left: Record<Server, GuestCheck[]> | null = null;
    const act = (verb: string, c: CaseRun) => {
      for (const s of hot) {
        const f = path.join(c.tmp, `${s.tag}.xml`);
        fs.writeFileSync(f, filesystemXml(s.spec));
        const r = lv.virsh([verb, c.domain, f, '--live']);
        c.host[s.server].push(check(`host/${verb}`, r.status === 0, r.stderr));
      }
    };
    const c = await runCase(t, 'hotplug', {
      hotplugPorts: 4,
      after: 'hotplug hot-vfsd hot-virtiofsd',
      onLine: async (line, c) => {
        if (hot.length === 0) {
          for (const s of c.shares) {
            const dir = path.join(c.tmp, `hot-${s.server}`);
            prepareShare(dir, false);
            hot.push({ ...s, tag: `hot-${s.server}`, dir, spec: { ...s.spec, dir, tag: `hot-${s.server}` } });
          }
        }
        if (/VFSD-DATA hotplug attach/.test(line)) {
          const cold = daemons(c).map((d) => d.alias);
          act('attach-device', c);
          attached = daemons(c).filter((d) => !cold.includes(d.alias));
        }
        if (/VFSD-DATA hotplug detach/.test(line)) act('detach-device', c);
        // The guest saw the devices go and waits: the detached daemons must be gone while the
        // domain (and its cold-plugged daemons) still run.
        if (/VFSD-DATA hotplug wait/.test(line)) {
          left = await checkGone(attached, c, 'hot/');
          lv.destroy(c.domain);
        }
      },
    });
    // Destroyed on purpose once checked: the guest never reaches VFSD-DONE.
    c.dr!.run.results = c.dr!.run.results.filter((r) => r.name !== 'guest/completed');
    t.same(attached.map((d) => [d.server, d.files.length]).sort(), [['vfsd', 2], ['virtiofsd', 2]],
      'attach-device started one daemon per share, each with a pid file and a socket', { found: attached });
    // The hot-plugged shares' results are named hot-SERVER/...: fold them into their server's rows.
    for (const r of c.dr!.run.results) {
      const m = /^hot-(vfsd|virtiofsd)\/(.*)$/.exec(r.name);
      if (m) r.name = `${m[1]}/hot/${m[2]}`;
    }
    const extra: Record<Server, GuestCheck[]> = left ?? { vfsd: [check('hot/detach-checked', false)], virtiofsd: [check('hot/detach-checked', false)] };
    for (const s of hot) extra[s.server].push(...hostChecks(s, false).map((x) => ({ ...x, name: `hot/${x.name}` })));
    // One guest check for both devices (the guest counts virtio-fs devices): in both rows.
    const detached = c.dr!.run.results.find((r) => r.name === 'hotplug/detached') ?? check('hotplug/detached', false, 'no result');
    for (const s of SERVERS) extra[s].push(detached);
    c.dr!.run.results = c.dr!.run.results.filter((r) => r.name !== 'hotplug/detached');
    report(t, c, extra);
  });

  lvTest('discovery', "discovery: a 40-vfsd.json in /etc/qemu/vhost-user wins over Debian's 50-qemu-virtiofsd.json", async (t) => {
    const dir = '/etc/qemu/vhost-user';
    const made = ['/etc/qemu', dir].filter((d) => !fs.existsSync(d));
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, '40-vfsd.json');
    t.notOk(fs.existsSync(file), 'no 40-vfsd.json installed already');
    const shipped = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'data', '40-vfsd.json'), 'utf8')) as Record<string, unknown>;
    let wrapperDir = '';
    t.teardown(() => {
      fs.rmSync(file, { force: true });
      for (const d of made.reverse()) fs.rmdirSync(d);
      if (wrapperDir) fs.rmSync(wrapperDir, { recursive: true, force: true });
    });
    // The shipped file names /usr/bin/vfsd; the test's copy names this checkout's wrapper.
    wrapperDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-libvirt-bin-'));
    fs.chmodSync(wrapperDir, 0o755);
    const wrapper = path.join(wrapperDir, 'vfsd');
    writeVfsdWrapper(wrapper, mainJs);
    fs.writeFileSync(file, JSON.stringify({ ...shipped, binary: wrapper }, null, 2));
    const c = await runCase(t, 'discovery', { discovered: true });
    report(t, c);
    t.ok(vfsdConfig(c), "libvirt started vfsd for the share without <binary path> (its log is vfsd's)");
  });
}
