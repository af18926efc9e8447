// Medians, ratios, the printed table and the target checks. Pure: data in, text out.

export interface Cell {
  samples: number[];
  errors: string[];
  /** Guest rows: the server's CPU time (all threads) per unit of the row's rate, in µs. */
  cpuUs?: number[];
}

export interface Row {
  id: string;
  label: string;
  unit: string;
  /** The column this row's ratios are to: native unless set (the guest rows: virtiofsd). */
  base?: string;
  /** Ratios to the same column in this other row instead (8 clients / 1 client, beside a
   *  writer / alone): how a system scales or holds up, against itself in the same run. */
  baseRow?: string;
  /** Guest rows: vfsd / base per repetition (both ran back to back), for the paired median. */
  pairedRatios?: number[];
  cells: Record<string, Cell>;
}

export interface SystemInfo {
  id: string;
  label: string;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  startupMs: number[];
  notes: Record<string, unknown>;
}

export interface MemoryResult {
  system: string;
  files: number;
  startupMs: number | null;
  idleRssMiB: number | null;
  afterRssMiB: number | null;
  statOpsPerSec: number | null;
  error?: string;
}

export interface ProfileEntry { selfPct: number; selfMs: number; fn: string; where: string }

export function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median of `a` over median of `b`; null when either has no sample. */
function medianRatio(a: number[] | undefined, b: number[] | undefined): number | null {
  const x = median(a ?? []);
  const y = median(b ?? []);
  return x === null || y === null || y === 0 ? null : x / y;
}

export function ratio(row: Row, sys: string, base = 'native'): number | null {
  return medianRatio(row.cells[sys]?.samples, row.cells[base]?.samples);
}

/** Median of `row` over median of `of`, for the same system. */
export function rowRatio(row: Row, of: Row | undefined, sys: string): number | null {
  return medianRatio(row.cells[sys]?.samples, of?.cells[sys]?.samples);
}

function human(v: number): string {
  if (v >= 1e6) return (v / 1e6).toFixed(2) + 'M';
  if (v >= 1e4) return (v / 1e3).toFixed(1) + 'k';
  if (v >= 100) return v.toFixed(0);
  return v.toFixed(1);
}

function pad(s: string, w: number, right = false): string {
  return right ? s.padStart(w) : s.padEnd(w);
}

/** One line per workload: median rate and ratio to native for every system that ran. */
export function table(rows: Row[], systems: SystemInfo[]): string {
  // Columns: the systems that have a cell in some row (a run of selected rows shows only theirs).
  const cols = systems.filter((s) => s.status !== 'skipped' && rows.some((r) => r.cells[s.id]));
  const w0 = Math.max(...rows.map((r) => r.label.length), 8) + 2;
  const wu = 11;
  const wc = Math.max(16, ...cols.map((s) => s.label.length + 2));
  const byId = new Map(rows.map((r) => [r.id, r]));
  const out: string[] = [];
  out.push(pad('workload', w0) + pad('unit', wu) + cols.map((s) => pad(s.label, wc, true)).join(''));
  for (const r of rows) {
    let line = pad(r.label, w0) + pad(r.unit, wu);
    for (const s of cols) {
      const c = r.cells[s.id];
      let text = '—';
      if (c) {
        const m = median(c.samples);
        if (m === null) text = c.errors.length ? 'FAILED' : '—';
        else {
          const base = r.base ?? 'native';
          const q = r.baseRow ? rowRatio(r, byId.get(r.baseRow), s.id) : s.id === base ? null : ratio(r, s.id, base);
          text = human(m) + (q === null ? '      ' : ` ${q.toFixed(2).padStart(4)}×`);
          if (c.errors.length) text += '!';
        }
      }
      line += pad(text, wc, true);
    }
    out.push(line);
  }
  return out.join('\n');
}

export interface Target {
  what: string;
  value: number | null;
  target: string;
  met: boolean | null;
}

function t(what: string, value: number | null, op: '>=' | '<=', bound: number, unit = '×'): Target {
  const met = value === null ? null : op === '>=' ? value >= bound : value <= bound;
  return { what, value, target: `${op} ${bound}${unit}`, met };
}

/** The targets, computed from this run: vfsd against libfuse (metadata, data without FUSE
 *  passthrough), against the native directory (data with passthrough), against the C virtiofsd
 *  (guest rows), and limits on memory and startup. */
export function targets(rows: Row[], mem: MemoryResult[], systems: SystemInfo[]): Target[] {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const out: Target[] = [];
  const vs = (rowId: string, a: string, b: string) => {
    const r = byId.get(rowId);
    return r ? ratio(r, a, b) : null;
  };
  for (const id of ['create', 'stat', 'openclose', 'readdir', 'unlink']) {
    const [a, b] = id === 'stat' ? ['vfsd-never', 'libfuse-never'] : ['vfsd', 'libfuse'];
    out.push(t(`${id}: ${a} / ${b}`, vs(id, a, b), '>=', 1.0));
  }
  // Like for like: the same rows against passthrough_ll mounted with default_permissions, as vfsd
  // is (the same requests per operation; see systems.ts).
  for (const id of ['create', 'stat', 'openclose', 'readdir', 'unlink']) {
    const [a, b] = id === 'stat' ? ['vfsd-never', 'libfuse-never-dp'] : ['vfsd', 'libfuse-dp'];
    out.push(t(`${id}: ${a} / ${b} (both default_permissions)`, vs(id, a, b), '>=', 1.0));
  }
  for (const id of ['seqread', 'seqwrite', 'randread']) out.push(t(`${id}: vfsd (passthrough) / native`, vs(id, 'vfsd', 'native'), '>=', 0.9));
  for (const id of ['seqread', 'seqwrite', 'randread']) out.push(t(`${id}: vfsd no-pt / libfuse`, vs(id, 'vfsd-nopt', 'libfuse'), '>=', 1.0));
  const one = byId.get('randread');
  const four = byId.get('randread4j');
  const scale = (sys: string) => medianRatio(four?.cells[sys]?.samples, one?.cells[sys]?.samples);
  out.push(t('scaling: vfsd no-pt 4 jobs / 1 job (rand 4k)', scale('vfsd-nopt'), '>=', 1.6));
  // Requests in flight at once: 8 stat clients on a source whose every op takes 2 ms.
  const rr = (rowId: string, sys: string) => {
    const r = byId.get(rowId);
    return r?.baseRow ? rowRatio(r, byId.get(r.baseRow), sys) : null;
  };
  out.push(t('slow source: vfsd never, 8 clients / 1 client', rr('slow-source-8', 'vfsd-never'), '>=', 6));
  // Head-of-line: a stat loop beside a write+fsync loop keeps its rate alone.
  out.push(t('head-of-line: vfsd never, stat beside 1 MiB w+fsync / alone', rr('hol-1m', 'vfsd-never'), '>=', 0.9));
  out.push(t('head-of-line: vfsd never, stat beside 4 KiB w+fsync / alone', rr('hol-4k', 'vfsd-never'), '>=', 0.9));
  // virtio-fs: vfsd against the C virtiofsd on the same guest (rows with that base).
  for (const r of rows.filter((x) => x.base === 'virtiofsd')) out.push(t(`${r.id}: vfsd / virtiofsd`, ratio(r, 'vfsd', 'virtiofsd'), '>=', 1.0));
  // Idle RSS of a default share; the per-inode cost from the mode that can hold 100k inodes.
  const idle = mem.find((m) => m.system === 'vfsd') ?? mem.find((m) => m.system === 'vfsd-fh');
  out.push(t('vfsd idle RSS', idle?.idleRssMiB ?? null, '<=', 60, ' MiB'));
  const vm = mem.find((m) => m.system === 'vfsd-fh' && !m.error) ?? mem.find((m) => m.system === 'vfsd');
  const added = vm && vm.idleRssMiB !== null && vm.afterRssMiB !== null ? vm.afterRssMiB - vm.idleRssMiB : null;
  out.push(t(`${vm?.system ?? 'vfsd'} RSS added by ${vm?.files ?? 0} looked-up inodes`, added, '<=', 30, ' MiB'));
  const st = systems.find((s) => s.id === 'vfsd');
  out.push(t('vfsd startup to a ready mount (median)', median(st?.startupMs ?? []), '<=', 300, ' ms'));
  return out;
}

export function targetText(ts: Target[]): string {
  return ts.map((x) => {
    const v = x.value === null ? 'n/a' : x.value.toFixed(2);
    const verdict = x.met === null ? 'not measured' : x.met ? 'met' : 'MISSED';
    return `  ${x.what.padEnd(60)} ${v.padStart(9)}  (target ${x.target})  ${verdict}`;
  }).join('\n');
}

export function memoryText(mem: MemoryResult[]): string {
  const f = (v: number | null, d = 1) => (v === null ? 'n/a' : v.toFixed(d));
  return mem.map((m) => {
    if (m.error) return `  ${m.system.padEnd(14)} FAILED: ${m.error}`;
    const added = m.idleRssMiB === null || m.afterRssMiB === null ? null : m.afterRssMiB - m.idleRssMiB;
    return `  ${m.system.padEnd(14)} startup ${f(m.startupMs, 0).padStart(5)} ms   idle RSS ${f(m.idleRssMiB).padStart(6)} MiB   ` +
      `after ${String(m.files).padStart(6)} lookups ${f(m.afterRssMiB).padStart(6)} MiB (+${f(added)}, ` +
      `${f(added === null ? null : (added * 1024) / m.files, 2)} KiB/inode)   ${f(m.statOpsPerSec, 0)} lookups/s`;
  }).join('\n');
}

/** Guest rows: the paired ratio (median of per-repetition vfsd / base, each pair back to back)
 *  and each server's CPU time per unit of work: where a server is slower because it works more. */
export function guestDetailText(rows: Row[]): string {
  const g = rows.filter((r) => r.base);
  if (!g.length) return '';
  const f = (v: number | null, d: number) => (v === null ? 'n/a' : v.toFixed(d));
  const w0 = Math.max(...g.map((r) => r.label.length)) + 2;
  const out = [`  ${'workload'.padEnd(w0)}${'paired'.padStart(8)}   server CPU per unit: ${'vfsd'.padStart(9)} ${'virtiofsd'.padStart(10)} ${'ratio'.padStart(6)}  (unit)`];
  for (const r of g) {
    const base = r.base!;
    const a = median(r.cells.vfsd?.cpuUs ?? []);
    const b = median(r.cells[base]?.cpuUs ?? []);
    const unit = r.unit.replace(/\/s$/, '').replace(/^IOPS$/, 'I/O');
    out.push(`  ${r.label.padEnd(w0)}${(f(median(r.pairedRatios ?? []), 2) + '×').padStart(8)}   ${''.padEnd(21)}` +
      `${(f(a, 0) + ' µs').padStart(9)} ${(f(b, 0) + ' µs').padStart(10)} ${(a === null || b === null || b === 0 ? 'n/a' : (a / b).toFixed(2) + '×').padStart(6)}  (${unit})`);
  }
  return out.join('\n');
}

export function profileText(p: ProfileEntry[]): string {
  return p.map((e) => `  ${e.selfPct.toFixed(1).padStart(5)}%  ${e.selfMs.toFixed(0).padStart(6)} ms  ${e.fn}  ${e.where}`).join('\n');
}

/** What bench-results/latest.json holds; render() prints it (a run's output, or --report). */
export interface BenchJson {
  version: 1;
  timestamp: string;
  durationSec: number;
  quick: boolean;
  options: { reps: number; files: number; readdirPasses: number; dataMiB: number; randSeconds: number; windowMs?: number; memFiles: number; oneCpu?: boolean };
  machine: Record<string, unknown>;
  method: string[];
  systems: SystemInfo[];
  rows: Array<Row & { cells: Record<string, Cell & { median: number | null; ratioToNative: number | null; ratioToBase?: number | null; ratioToBaseRow?: number | null }> }>;
  memory: MemoryResult[];
  targets: Target[];
  /** The guest section (virtio-fs rows); absent with --no-guest and in older runs. */
  guest?: GuestInfoJson | null;
  profile: ({ workload: string; files: number; statOpsPerSec: number; busyMs: number; idleMs: number; top: ProfileEntry[] }) | { error: string } | null;
}

/** The JSON face of scripts/bench/guest.ts's GuestInfo (kept here so report.ts stays pure). */
export interface GuestInfoJson {
  kernel: string | null;
  memoryMiB: number;
  sizes: { reps: number; files: number; readdirPasses: number; dataMiB: number; randSeconds: number };
  servers: Record<string, string>;
  bootMs: number | null;
  durationMs: number | null;
  error?: string;
  consoleTail?: string;
}

export function render(j: BenchJson): string {
  const o = j.options;
  const m = j.machine;
  const load = (m.loadavgStart as number[] | undefined)?.map((x) => x.toFixed(1)).join('/') ?? '?';
  const out: string[] = [];
  const devFuse = j.rows.some((r) => !r.base);
  out.push(`vfsd bench ${j.timestamp}  ${j.quick ? 'QUICK ' : ''}` +
    (devFuse ? `reps=${o.reps} files=${o.files} data=${o.dataMiB} MiB rand<=${o.randSeconds} s${o.windowMs ? ` window=${o.windowMs} ms` : ''}  ` : 'guest rows only  ') +
    `${String(m.cpus)} cpus, kernel ${String(m.kernel)}, load at start ${load}`);
  if (o.oneCpu) out.push('ONE CPU (--one-cpu): every server and its client ran on CPU 0, so no request or answer woke a task on the other CPU');
  out.push('median rate (higher is better) and ratio to native; "never" columns run only rows with timeouts 0 (stat, slow source, head-of-line); ! = some reps failed');
  if (j.rows.some((r) => r.baseRow)) {
    out.push('a row ending in [/row]: ratio to the same column in that row (8 clients / 1 client, beside a writer / alone), not to native');
  }
  if (j.rows.some((r) => r.base === 'virtiofsd')) {
    out.push('guest rows: virtio-fs inside one QEMU/TCG guest with both servers mounted, ratio to the C virtiofsd (absolute rates are TCG\'s)');
  }
  out.push('', table(j.rows, j.systems), '');
  for (const r of j.rows) {
    for (const [id, c] of Object.entries(r.cells)) {
      if (c.errors.length) out.push(`  ${r.id}/${id}: ${c.errors.length} of ${c.errors.length + c.samples.length} failed: ${c.errors[0].slice(0, 200)}`);
    }
  }
  for (const s of j.systems) {
    if (s.status !== 'ok') out.push(`  ${s.label}: ${s.status === 'failed' ? 'FAILED ' : ''}${s.reason}`);
    else if (s.id.startsWith('vfsd') && s.startupMs.length) out.push(`  ${s.label}: startup median ${median(s.startupMs)?.toFixed(0)} ms, ${JSON.stringify(s.notes)}`);
  }
  const g = j.guest;
  if (g) {
    const z = g.sizes;
    out.push(`  guest: kernel ${g.kernel ?? '?'}, ${g.memoryMiB} MiB, reps=${z.reps} files=${z.files} readdir passes=${z.readdirPasses} ` +
      `data=${z.dataMiB} MiB rand<=${z.randSeconds} s, boot ${g.bootMs ?? '?'} ms, total ${g.durationMs === null ? '?' : (g.durationMs / 1000).toFixed(0)} s`);
    if (g.error) out.push(`  guest: FAILED: ${g.error}`);
    const d = guestDetailText(j.rows);
    if (d) out.push('', 'guest rows: paired ratio vfsd/virtiofsd (median over repetitions) and server CPU time (user+sys, all threads) per unit of work:', d);
  }
  if (j.memory.length) out.push('', 'memory and startup:', memoryText(j.memory));
  out.push('', 'targets (vs libfuse, vs native, vs the C virtiofsd; scaling, head-of-line; memory and startup):', targetText(j.targets));
  const p = j.profile;
  if (p && 'top' in p) {
    out.push('', `vfsd --cpu-prof, ${p.workload}, ${p.files} files, ${p.statOpsPerSec.toFixed(0)} stat/s; ` +
      `busy ${p.busyMs.toFixed(0)} ms, idle ${p.idleMs.toFixed(0)} ms; top self time:`, profileText(p.top.slice(0, 15)));
  } else if (p) out.push('', `profile failed: ${p.error}`);
  out.push('', `total ${j.durationSec.toFixed(0)} s`);
  return out.join('\n') + '\n';
}
