// The logging interface every layer receives (injected, never imported as a global), so tests can
// capture what is logged and the CLI decides the format (text on a terminal, JSON otherwise).
// A leaf: it imports nothing, so every layer (server, passthrough, state, cli) may import it.
export type Level = 'error' | 'warn' | 'info' | 'debug' | 'trace';

export interface Logger {
  error(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
  readonly debugEnabled: boolean;
}

const RANK: Record<Level | 'off', number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4, off: 5 };

export function makeLogger(threshold: Level | 'off', json: boolean, sink: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[level] < RANK[threshold]) return;
    if (json) {
      sink(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }));
    } else {
      const extra = fields ? ' ' + Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ') : '';
      sink(`[vfsd ${level}] ${msg}${extra}`);
    }
  };
  return {
    error: (m, f) => emit('error', m, f),
    warn: (m, f) => emit('warn', m, f),
    info: (m, f) => emit('info', m, f),
    debug: (m, f) => emit('debug', m, f),
    debugEnabled: RANK.debug >= RANK[threshold],
  };
}

export const silentLogger: Logger = makeLogger('off', false, () => {});
