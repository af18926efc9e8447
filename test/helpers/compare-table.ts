// Side-by-side results: one row per check, one column per server (virtiofsd, vfsd, ...), so a
// run shows at a glance where the servers agree and where one does better.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { GuestCheck } from './guest';

export type Cell = 'PASS' | 'FAIL' | 'TODO';

export class ComparisonTable {
  private readonly servers: string[] = [];
  private readonly rows = new Map<string, Map<string, { cell: Cell; detail: string }>>();

  constructor(readonly title: string) {}

  /** Records one server's checks. `expectedFailure(name)` marks known gaps as TODO, not FAIL. */
  record(server: string, checks: GuestCheck[], expectedFailure?: (check: string) => boolean): void {
    if (!this.servers.includes(server)) this.servers.push(server);
    for (const c of checks) {
      if (!this.rows.has(c.name)) this.rows.set(c.name, new Map());
      const cell: Cell = c.ok ? 'PASS' : expectedFailure?.(c.name) ? 'TODO' : 'FAIL';
      this.rows.get(c.name)!.set(server, { cell, detail: c.detail });
    }
  }

  render(): string {
    const names = [...this.rows.keys()];
    const w0 = Math.max(5, ...names.map((n) => n.length));
    const ws = this.servers.map((s) => Math.max(4, s.length));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(i === 0 ? w0 : ws[i - 1])).join(' | ');
    const out = [this.title, line(['check', ...this.servers]), line(['-'.repeat(w0), ...ws.map((w) => '-'.repeat(w))])];
    for (const n of names) {
      const r = this.rows.get(n)!;
      out.push(line([n, ...this.servers.map((s) => r.get(s)?.cell ?? '-')]));
    }
    const totals = this.servers.map((s) => {
      let pass = 0;
      let all = 0;
      for (const r of this.rows.values()) {
        const c = r.get(s);
        if (!c) continue;
        all++;
        if (c.cell === 'PASS') pass++;
      }
      return `${pass}/${all}`;
    });
    out.push(line(['passed', ...totals]));
    return out.join('\n');
  }

  /** Also keeps the table as JSON when VFSD_ACCEPT_REPORT_DIR is set (for one combined report). */
  save(fileStem: string): void {
    const dir = process.env.VFSD_ACCEPT_REPORT_DIR;
    if (!dir) return;
    fs.mkdirSync(dir, { recursive: true });
    const rows = Object.fromEntries([...this.rows].map(([n, r]) => [n, Object.fromEntries(r)]));
    fs.writeFileSync(path.join(dir, `${fileStem}.json`), JSON.stringify({ title: this.title, servers: this.servers, rows }, null, 1));
  }
}
