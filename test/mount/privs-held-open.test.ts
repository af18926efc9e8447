// Setuid and setgid bits after a write to a file that another caller holds open. With FUSE
// passthrough the kernel makes one backing file per inode, registered by the first open, and
// does every later passthrough write with the credentials of that registration: a user's write
// while root held the file open kept a setuid-root bit the host clears (found and fixed here).
// Each writer (the owner, anyone else, root) writes a setuid file and a setgid+g+x file while
// a holder (nobody, root, the owner, anyone else) has it open read-only, natively and through
// vfsd; the bits left must be the host's. Beside passthrough opens the kernel lets a new open be
// passthrough only, and its writes then run as whoever registered the backing file, without
// CAP_FSETID: what that leaves is pinned here. It differs from the host in two ways only: root's
// write clears the bits, and a setgid bit without group execute (which grants nothing) follows
// the registering holder's groups, not the writer's. A setuid bit is never kept where the host
// clears it.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, ChildProcess } from 'node:child_process';
import { C } from '../../src/native/sys';
import { sessionInit, startVfsd } from '../helpers/vfsd-process';
import { scratchTmpfs, twins } from '../helpers/native-twins';
import { runAs, Identity } from '../helpers/compare';

const root = process.geteuid?.() === 0;
const OWNER = 1000;
const WHO: Record<string, Identity> = {
  root: { uid: 0, gid: 0 },
  owner: { uid: OWNER, gid: OWNER },
  other: { uid: 65534, gid: 65534 },
};
const HOLDERS = ['nobody', 'root', 'owner', 'other'];
const WRITERS = ['owner', 'other', 'root'];
const FILES: Array<[string, number]> = [['suid', 0o4777], ['sgid', 0o2777], ['sgidnox', 0o2666], ['both', 0o6777]];
const CONFIGS: Array<[string, string[]]> = [
  ['passthrough', []],
  ['passthrough, cache always', ['--cache', 'always']],
  ['passthrough, killpriv-v2', ['--killpriv-v2']],
  ['no passthrough', ['--no-passthrough']],
];
const KILLABLE = C.S_ISUID | C.S_ISGID;

/** The bits a write leaves when it runs as `who` without CAP_FSETID (Linux 6.x): setuid goes;
 *  setgid goes when the file is group-executable or `who` is not in its group (OWNER's). */
function writtenWithoutFsetid(mode: number, who: string): number {
  let m = mode & ~C.S_ISUID;
  if (m & C.S_ISGID && (m & 0o10 || who !== 'owner')) m &= ~C.S_ISGID;
  return m;
}

const fileName = (holder: string, writer: string, kind: string) => `${holder}-${writer}-${kind}`;

function seed(dir: string): void {
  fs.mkdirSync(dir, 0o755);
  for (const h of HOLDERS) {
    for (const w of WRITERS) {
      for (const [kind, mode] of FILES) {
        const p = path.join(dir, fileName(h, w, kind));
        fs.writeFileSync(p, 'x');
        fs.chownSync(p, OWNER, OWNER);
        fs.chmodSync(p, mode);
      }
    }
  }
}

/** A process of `id` holding every path open read-only until stop(). */
async function hold(id: Identity, paths: string[]): Promise<{ stop(): Promise<void> }> {
  const script = `
    const fs = require('node:fs');
    const fds = JSON.parse(process.argv[1]).map((p) => fs.openSync(p, 'r'));
    process.stdout.write('held ' + fds.length + '\\n');
    process.stdin.on('end', () => process.exit(0));
    process.stdin.resume();
  `;
  const child: ChildProcess = spawn(process.execPath, ['-e', script, JSON.stringify(paths)], {
    uid: id.uid, gid: id.gid, stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  await new Promise<void>((res, rej) => {
    child.stdout!.once('data', (b: Buffer) => (String(b).startsWith('held') ? res() : rej(new Error(`holder: ${b}`))));
    child.once('exit', (code) => rej(new Error(`holder exited early (${code})`)));
  });
  return { stop: async () => { child.stdin!.end(); await exited; } };
}

/** Appends to each path as the caller; each answer: 'ok' or the error code. */
function appendAll(paths: string[]): string[] {
  const fs = require('node:fs') as typeof import('node:fs');
  return paths.map((p) => {
    try {
      fs.appendFileSync(p, 'w');
      return 'ok';
    } catch (e) {
      return (e as NodeJS.ErrnoException).code ?? String(e);
    }
  });
}

t.test('setuid/setgid bits after a write beside another open are the host\'s', { skip: !root && 'needs root' }, async (t) => {
  const scratch = scratchTmpfs(t, 'vfsd-privs-', C.MS_NOSUID | C.MS_NODEV);
  let keptByRootNatively = 0;
  let clearedNatively = 0;
  for (const [name, args] of CONFIGS) {
    await t.test(name, async (t) => {
      const { src, native } = twins(scratch, name, ['t'], seed);
      const v = await startVfsd(t, { sharedDir: src, args: ['--allow-other', ...args] });
      const passthrough = !args.includes('--no-passthrough');
      const roots = { native: path.join(native, 't'), mount: path.join(v.mnt, 't') };
      for (const h of HOLDERS) {
        const names = WRITERS.flatMap((w) => FILES.map(([kind]) => fileName(h, w, kind)));
        const holder = h === 'nobody' ? null
          : await hold(WHO[h], [...names.map((n) => path.join(roots.native, n)), ...names.map((n) => path.join(roots.mount, n))]);
        try {
          for (const w of WRITERS) {
            const mine = FILES.map(([kind]) => fileName(h, w, kind));
            const nat = runAs(WHO[w], appendAll, mine.map((n) => path.join(roots.native, n)));
            const mnt = runAs(WHO[w], appendAll, mine.map((n) => path.join(roots.mount, n)));
            t.same(mnt, nat, `${w} beside ${h}: the writes answer as natively (${JSON.stringify(nat)})`);
            for (const [kind, start] of FILES) {
              const n = fileName(h, w, kind);
              const want = fs.statSync(path.join(roots.native, n)).mode & 0o7777;
              const got = fs.statSync(path.join(src, 't', n)).mode & 0o7777;
              const seen = fs.statSync(path.join(roots.mount, n)).mode & 0o7777;
              if (w === 'root' && want & KILLABLE) keptByRootNatively++;
              if (w !== 'root' && !(want & KILLABLE)) clearedNatively++;
              // Beside a holder's passthrough open, the write runs as the holder, without CAP_FSETID.
              const expect = passthrough && h !== 'nobody' ? writtenWithoutFsetid(start, h) : want;
              t.equal(got.toString(8), expect.toString(8), `${n}: ${want.toString(8)} natively, the export has ${got.toString(8)}`);
              t.notOk(got & ~want & C.S_ISUID, `${n}: no setuid bit kept that the host clears`);
              t.equal(seen.toString(8), got.toString(8), `${n}: the mount shows the export's mode`);
              t.equal(fs.readFileSync(path.join(src, 't', n), 'utf8'), 'xw', `${n}: the write reached the host`);
            }
          }
        } finally {
          await holder?.stop();
        }
      }
      await v.stop();
      const init = sessionInit(v.log());
      t.equal(init.passthrough, passthrough, `FUSE passthrough ${passthrough ? 'on' : 'off'}`);
    });
  }
  // Both sides of the rule were exercised: root keeps the bits on the host, anyone else clears them.
  t.ok(keptByRootNatively > 0, `root kept the bits natively (${keptByRootNatively} files)`);
  t.ok(clearedNatively > 0, `other writers cleared them natively (${clearedNatively} files)`);
});
