// EIO from the host filesystem: the export is a FUSE mount of our own stub engine (served by this
// test process) whose one file answers every READ and WRITE with EIO, and vfsd exports it. The
// client of the vfsd mount must see EIO, and vfsd must stay up. (No device-mapper on the test
// machines, so a FUSE stub is the cheap way to make a host filesystem fail on demand.)
// Everything this process does on the mounts goes through child processes or async calls: this
// thread serves the stub, a synchronous call on it would deadlock.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FuseDevTransport } from '../../src/transport/fuse-dev';
import { OP, attr, replyOk, run, serve, tempDir, oneFileHandlers } from '../fixtures/stub-engine';
import { isMounted } from '../helpers/mountinfo';
import { startVfsd } from '../helpers/vfsd-process';

const root = process.geteuid?.() === 0;
const EIO = 5;
const FILE = 2;

function mountFailingFs(t: { teardown(fn: () => void): void }): string {
  const base = tempDir(true);
  const mnt = path.join(base, 'failing');
  fs.mkdirSync(mnt);
  const transport = FuseDevTransport.mount(mnt, { fsname: 'vfsd-eio', subtype: 'vfsdtest' });
  t.teardown(() => {
    if (isMounted(mnt)) { try { transport.unmount(); } catch { /* reported by the test */ } }
    transport.close();
    fs.rmSync(base, { recursive: true, force: true });
  });
  const fileAttr = () => attr({ ino: FILE, mode: 0o100666, size: 8192 });
  serve(transport, {
    ...oneFileHandlers('bad', FILE, fileAttr),
    [OP.READ]: (req, ch) => ch.replyError(req.token, EIO),
    [OP.WRITE]: (req, ch) => ch.replyError(req.token, EIO),
    [OP.FLUSH]: (req, ch) => replyOk(ch, req.token),
    [OP.RELEASE]: (req, ch) => replyOk(ch, req.token),
  });
  return mnt;
}

for (const mode of [['--no-passthrough'], []]) {
  const name = mode.join(' ') || 'passthrough';
  t.test(`EIO from the host filesystem reaches the client (${name}); vfsd stays up`, { skip: !root && 'needs root', timeout: 60000 }, async (t) => {
    const failing = mountFailingFs(t);
    const r0 = await run('cat', [path.join(failing, 'bad')]);
    t.match(r0.stderr, /Input\/output error/, 'natively: cat gets EIO');
    const v = await startVfsd(t, { sharedDir: failing, args: mode });
    const bad = path.join(v.mnt, 'bad');
    const r1 = await run('cat', [bad]);
    t.not(r1.code, 0, 'through vfsd: cat fails');
    t.match(r1.stderr, /Input\/output error/, `with EIO: ${r1.stderr.trim()}`);
    const r2 = await run('dd', ['if=/dev/zero', `of=${bad}`, 'bs=4096', 'count=1', 'conv=notrunc,fsync']);
    t.not(r2.code, 0, 'a write fails');
    t.match(r2.stderr, /Input\/output error/, `with EIO: ${r2.stderr.trim().split('\n')[0]}`);
    t.equal(v.exitCode(), null, 'vfsd is still running');
    const st = await fs.promises.stat(bad);
    t.equal(st.size, 8192, 'a later stat works');
    t.equal(await v.stop(), 0, 'clean exit');
  });
}
