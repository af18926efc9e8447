// The vfsd command in VM mode, driven by the QEMU-playing test front end: it serves FUSE over the
// vhost-user socket with the real engine, and when the front end goes away (the VM stopped, QEMU
// died) it saves its state (state dir, then backup) and exits 0, as virtiofsd does.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, ChildProcess } from 'node:child_process';
import { spawnVfsd, type LoggedRun } from '../helpers/vfsd-process';
import { initIn, FUSE, outHeader, waitFor, openRequestSession } from '../helpers/vhost-frontend';

const CLI = path.resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');

type Run = LoggedRun;

const startVfsd = (args: string[]): Run => spawnVfsd(args);

function setup(t: { teardown(fn: () => void): void }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-cli-vu-'));
  const share = path.join(dir, 'share');
  fs.mkdirSync(share);
  fs.writeFileSync(path.join(share, 'hello'), 'hi\n');
  const paths = { dir, share, sock: path.join(dir, 'vu.sock'), state: path.join(dir, 'state'), backup: path.join(dir, 'backup') };
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return paths;
}

const connect = (sock: string) => openRequestSession(sock, 4096);

t.test('serves the engine over vhost-user; a vanished front end means save state and exit 0', async (t) => {
  const p = setup(t);
  fs.mkdirSync(p.backup);
  fs.writeFileSync(path.join(p.backup, 'state.json'), 'stale backup from an older run');
  const run = startVfsd([`--socket-path=${p.sock}`, `--shared-dir=${p.share}`, `--state-dir=${p.state}`, `--state-backup-dir=${p.backup}`]);
  t.teardown(() => run.child.kill('SIGKILL'));
  const c = await connect(p.sock);
  const init = await c.request(FUSE.INIT, 0n, initIn());
  t.equal(init.h.error, 0, 'INIT answered');
  const lookup = await c.request(FUSE.LOOKUP, 1n, Buffer.from('hello\0'));
  t.equal(lookup.h.error, 0, 'LOOKUP of a real file answered');
  const st = fs.statSync(path.join(p.share, 'hello'));
  t.equal(lookup.payload.readBigUInt64LE(40), BigInt(st.ino), 'entry carries the host inode number (root device: unchanged)');
  t.equal(lookup.payload.readBigUInt64LE(40 + 8), BigInt(st.size), 'and its size');
  const missing = await c.request(FUSE.LOOKUP, 1n, Buffer.from('nope\0'));
  t.equal(missing.h.error, -2, 'ENOENT for a missing name');
  t.notOk(fs.existsSync(p.backup), 'the stale backup was removed at start');
  c.fe.close();
  t.equal(await run.exit, 0, 'exit 0 when the front end disconnects');
  t.ok(fs.existsSync(path.join(p.state, 'state.json')), 'state saved to the state dir');
  t.ok(fs.existsSync(path.join(p.backup, 'state.json')), 'and copied to the backup dir');
  t.match(run.log(), /front end disconnected/);
});

t.test('SIGTERM while a front end is connected: state saved, exit 0', async (t) => {
  const p = setup(t);
  const run = startVfsd([`--socket-path=${p.sock}`, `--shared-dir=${p.share}`, `--state-dir=${p.state}`]);
  t.teardown(() => run.child.kill('SIGKILL'));
  const c = await connect(p.sock);
  t.equal((await c.request(FUSE.INIT, 0n, initIn())).h.error, 0);
  run.child.kill('SIGTERM');
  t.equal(await run.exit, 0, 'exit 0');
  t.ok(fs.existsSync(path.join(p.state, 'state.json')), 'state saved');
  t.notOk(fs.existsSync(p.sock), 'socket file removed');
  c.fe.close();
});

t.test('a socket path in use by another vfsd is a one-line error, not a takeover', async (t) => {
  const p = setup(t);
  const first = startVfsd([`--socket-path=${p.sock}`, `--shared-dir=${p.share}`]);
  t.teardown(() => first.child.kill('SIGKILL'));
  await waitFor(() => fs.existsSync(p.sock), 'the socket', 10000);
  const second = startVfsd([`--socket-path=${p.sock}`, `--shared-dir=${p.share}`]);
  t.equal(await second.exit, 1, 'exit 1');
  t.match(second.log(), /vfsd: vhost-user socket .*another process is listening on it/);
  t.notMatch(second.log(), /\n\s+at /, 'no stack trace');
});
