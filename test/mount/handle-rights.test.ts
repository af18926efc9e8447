// Inodes held as file handles are opened with the caller's rights, never the daemon's (issue 11
// item 1). open_by_handle_at needs CAP_DAC_READ_SEARCH, so vfsd opens by handle as itself — O_PATH
// only — and then with the access flags through /proc/self/fd as the caller, where the host checks
// the caller's permissions. Opened with the flags as the daemon, another user read, appended to
// and (O_TRUNC) emptied 0600 files of uid 1000 and root. Each attempt runs as uid 1001 in a native
// copy of the layout and through the mount (--allow-other): the outcomes must be identical, and
// the files' bytes unchanged afterwards. Every mode that opens by handle is covered: prefer,
// mandatory, auto (the default) with its fds held, and auto with a budget so small that the
// files' fds were taken back (so they are opened by handle); never is the reference.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startVfsd, tempBase } from '../helpers/vfsd-process';
import { sameAs, Identity } from '../helpers/compare';

const root = process.geteuid?.() === 0;
const OWNER = 1000;
const OTHER: Identity = { uid: 1001, gid: 1001 };
const FILLERS = 200;

const CONTENT: Record<string, string> = { 'of-1000': 'secret of uid 1000\n', 'of-root': 'secret of root\n' };

function seed(r: string): void {
  fs.chmodSync(r, 0o755);
  for (const [name, text] of Object.entries(CONTENT)) {
    const p = path.join(r, name);
    fs.writeFileSync(p, text);
    fs.chmodSync(p, 0o600);
    if (name === 'of-1000') fs.chownSync(p, OWNER, OWNER);
  }
  fs.mkdirSync(path.join(r, 'fill'));
  for (let i = 0; i < FILLERS; i++) fs.writeFileSync(path.join(r, 'fill', `f${i}`), '');
}

/** What uid 1001 tries on each 0600 file; each outcome is the value or the error code. */
function attempts(r: string): Record<string, unknown> {
  const fs = require('node:fs') as typeof import('node:fs');
  const out: Record<string, unknown> = {};
  const step = (name: string, fn: () => unknown) => {
    try { const v = fn(); out[name] = v === undefined ? 'ok' : v; } catch (e) { out[name] = (e as NodeJS.ErrnoException).code; }
  };
  for (const f of ['of-1000', 'of-root']) {
    const p = r + '/' + f;
    step(`${f}: read`, () => fs.readFileSync(p, 'utf8'));
    step(`${f}: open O_RDONLY`, () => fs.closeSync(fs.openSync(p, fs.constants.O_RDONLY)));
    step(`${f}: append`, () => fs.appendFileSync(p, 'appended by 1001\n'));
    step(`${f}: open O_WRONLY|O_TRUNC`, () => fs.closeSync(fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_TRUNC)));
    step(`${f}: open O_RDWR`, () => fs.closeSync(fs.openSync(p, fs.constants.O_RDWR)));
    step(`${f}: truncate`, () => fs.truncateSync(p, 0));
    step(`${f}: stat`, () => fs.statSync(p).size);
  }
  return out;
}

const MODES: { name: string; args: string[]; prefix?: string[] }[] = [
  { name: 'never (reference)', args: ['--inode-file-handles=never'] },
  { name: 'prefer', args: ['--inode-file-handles=prefer'] },
  { name: 'mandatory', args: ['--inode-file-handles=mandatory'] },
  { name: 'auto (default), fds held', args: [] },
  // A soft+hard limit of 300 gives a budget of 44 inode fds (inode-fd-ring.ts): looking up the
  // fillers takes the secrets' fds back, so they are opened by their handles.
  { name: 'auto, fds taken back', args: ['--inode-file-handles=auto'], prefix: ['prlimit', '--nofile=300:300', '--'] },
];

for (const m of MODES) {
  t.test(`uid 1001 cannot read, append to or truncate 0600 files of others: ${m.name}`, { skip: !root && 'needs root', timeout: 120000 }, async (t) => {
    const nativeBase = tempBase('vfsd-rights-native-');
    t.teardown(() => fs.rmSync(nativeBase, { recursive: true, force: true }));
    seed(nativeBase);
    const v = await startVfsd(t, { args: ['--allow-other', ...m.args], prefix: m.prefix, prepare: seed });
    // The secrets are looked up first (as root), then, for the small budget, pushed out by the fillers.
    for (const f of Object.keys(CONTENT)) fs.statSync(path.join(v.mnt, f));
    for (let i = 0; i < FILLERS; i++) fs.statSync(path.join(v.mnt, 'fill', `f${i}`));
    if (m.prefix) t.match(v.log(), /inode_fd_budget.{0,4}44/, 'the small budget is in effect');
    sameAs(t, OTHER, nativeBase, v.mnt, 'attempts', attempts);
    for (const [f, text] of Object.entries(CONTENT)) {
      t.equal(fs.readFileSync(path.join(v.src, f), 'utf8'), text, `${f}: unchanged in the export`);
      t.equal(fs.readFileSync(path.join(nativeBase, f), 'utf8'), text, `${f}: unchanged natively`);
    }
    t.equal(await v.stop(), 0, 'clean exit');
  });
}
