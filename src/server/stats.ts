// Per-opcode request counters and latency percentiles, for operators: printed on SIGUSR1 and at
// exit, and written to --stats-file. Latency is the time the engine spent on a request on the JS
// thread (decode, syscalls, answer), measured in log2 buckets of microseconds: a fixed-size array
// per opcode, so counting costs nothing that grows with traffic.
import { opName } from '../protocol';

const BUCKETS = 32;

interface OpStats {
  count: number;
  maxUs: number;
  /** bucket i counts requests that took [2^(i-1), 2^i) microseconds (bucket 0: under 1 us) */
  hist: Uint32Array;
}

export interface OpSummary {
  count: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  max_us: number;
}

export class RequestStats {
  private readonly ops = new Map<number, OpStats>();
  readonly startedAt = Date.now();

  count(op: number): number {
    return this.ops.get(op)?.count ?? 0;
  }

  record(op: number, micros: number): void {
    let s = this.ops.get(op);
    if (!s) {
      s = { count: 0, maxUs: 0, hist: new Uint32Array(BUCKETS) };
      this.ops.set(op, s);
    }
    s.count++;
    if (micros > s.maxUs) s.maxUs = micros;
    const b = micros < 1 ? 0 : Math.min(BUCKETS - 1, 1 + Math.floor(Math.log2(micros)));
    s.hist[b]++;
  }

  /** Requests per opcode name. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [op, s] of this.ops) out[opName(op)] = s.count;
    return out;
  }

  /** Counts and latency percentiles (upper bounds of the log2 bucket) per opcode name. */
  summary(): Record<string, OpSummary> {
    const out: Record<string, OpSummary> = {};
    for (const [op, s] of this.ops) {
      out[opName(op)] = {
        count: s.count, p50_us: percentile(s, 0.5), p90_us: percentile(s, 0.9), p99_us: percentile(s, 0.99),
        max_us: Math.round(s.maxUs),
      };
    }
    return out;
  }
}

function percentile(s: OpStats, q: number): number {
  const want = Math.ceil(s.count * q);
  let seen = 0;
  for (let i = 0; i < BUCKETS; i++) {
    seen += s.hist[i];
    if (seen >= want) return i === 0 ? 1 : 2 ** i;
  }
  return Math.round(s.maxUs);
}
