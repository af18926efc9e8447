// vfsd killed with SIGKILL in the middle of a save: the state must still read, intact, as either
// the last completed save or the one in progress, and give the same remap numbers as before.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { openShareStateStore } from '../../src/state/share-state';
import { DeviceRegistry } from '../../src/state/device-registry';
import { remapIno } from '../../src/policy/remap';
import { makeLogger } from '../../src/log/logger';

const ROUNDS = 20;
const shareState = path.resolve(__dirname, '../../src/state/share-state.js');

// The child continues the recovered history and saves forever; save i knows devices dev1..devi (index i) and one fallback entry each,
// and prints i once the save (state dir, then backup dir) has returned.
const CHILD = `
const { openShareStateStore } = require(${JSON.stringify(shareState)});
const [stateDir, backupDir] = process.argv.slice(1);
const store = openShareStateStore({ stateDir, backupDir });
const state = store.load().value;
for (let i = state.deviceRegistry.deviceCount + 1; ; i++) {
  state.deviceRegistry.deviceIndex('dev' + i);
  state.deviceRegistry.fallbackSeq('dev' + i, (1n << 63n) + BigInt(i));
  store.save(state);
  process.stdout.write(i + '\\n');
}`;

/** What save n holds, built the same way: the expected registry of a recovered state. */
function expected(n: number): DeviceRegistry {
  const r = new DeviceRegistry();
  for (let i = 1; i <= n; i++) {
    r.deviceIndex('dev' + i);
    r.fallbackSeq('dev' + i, (1n << 63n) + BigInt(i));
  }
  return r;
}

function probeNumbers(r: DeviceRegistry, n: number): string[] {
  const out: string[] = [];
  for (let i = 1; i <= n; i++) {
    out.push(String(remapIno(r, 'dev' + i, 42n).ino), String(remapIno(r, 'dev' + i, (1n << 63n) + BigInt(i)).ino));
  }
  return out;
}

function runAndKill(stateDir: string, backupDir: string, afterLines: number, delayMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CHILD, stateDir, backupDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let last = 0;
    let count = 0;
    let buf = '';
    let armed = false;
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) last = Number(l), count++;
      if (!armed && count >= afterLines) {
        armed = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child ended with ${code ?? signal} before the kill`));
      else resolve(last);
    });
  });
}

t.test(`SIGKILL mid-save, ${ROUNDS} times: the state reads intact and remaps the same`, async (t) => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-kill-'));
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  const stateDir = path.join(base, 'state');
  const backupDir = path.join(base, 'backup');
  let previous = 0;
  let sawTemp = 0;
  for (let round = 0; round < ROUNDS; round++) {
    // Kill at a varying moment: after a few saves, plus 0-4 ms into the next ones.
    const lastReported = await runAndKill(stateDir, backupDir, 1 + (round % 5), round % 5);
    if (fs.readdirSync(stateDir).some((n) => n.includes('.tmp-'))) sawTemp++;
    const warnings: string[] = [];
    const store = openShareStateStore({ stateDir, backupDir, logger: makeLogger('info', false, (line) => warnings.push(line)) });
    const r = store.load();
    const n = r.value.deviceRegistry.deviceCount;
    t.same(warnings, [], `round ${round}: no corrupt copy`);
    t.ok(n >= lastReported && n >= previous, `round ${round}: holds at least the last completed save (${n} >= ${lastReported})`);
    t.same(r.value.deviceRegistry.toJSON(), expected(n).toJSON(), `round ${round}: exactly save ${n}, nothing torn`);
    t.same(probeNumbers(r.value.deviceRegistry, n), probeNumbers(expected(n), n), `round ${round}: remap numbers identical`);
    t.notOk(fs.existsSync(backupDir), `round ${round}: backup removed after recovery`);
    t.notOk(fs.readdirSync(stateDir).some((f) => f.includes('.tmp-')), `round ${round}: temp files cleaned`);
    // The next child starts from this recovered state: a later kill must not lose it either.
    previous = n;
  }
  t.comment(`temp files left by a kill in ${sawTemp} of ${ROUNDS} rounds`);
});
