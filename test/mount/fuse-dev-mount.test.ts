// /dev/fuse transport against the real kernel (as root): mount, serve INIT and GETATTR with a stub
// engine, see the kernel's view from a child process, unmount and see the session end. Also the
// token rules of the RequestChannel and the errors a failed mount gives.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FuseDevError, FuseDevTransport } from '../../src/transport/fuse-dev';
import { OP, isMounted, replyInit, run, serve, tempDir } from '../fixtures/fuse-dev-stub-engine';

const root = process.geteuid?.() === 0;

function mountFresh(t: { teardown(fn: () => void): void }): FuseDevTransport {
  const base = tempDir();
  const mnt = path.join(base, 'mnt');
  fs.mkdirSync(mnt);
  const transport = FuseDevTransport.mount(mnt, { fsname: 'vfsd-test', subtype: 'vfsdtest' });
  t.teardown(() => {
    if (isMounted(mnt)) {
      try { transport.unmount(); } catch { /* reported by the test itself */ }
    }
    transport.close();
    fs.rmSync(base, { recursive: true, force: true });
  });
  return transport;
}

t.test('mount, serve INIT and GETATTR, stat from a child, unmount ends the session', { skip: !root && 'needs root' }, async (t) => {
  const transport = mountFresh(t);
  const mnt = transport.mountpoint;
  const seen: number[] = [];
  serve(transport, {}, seen);

  const line = fs.readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === mnt);
  t.ok(line, 'the mount is listed in /proc/mounts');
  t.match(line ?? '', /^vfsd-test \S+ fuse\.vfsdtest rw,nosuid,nodev,/, 'with our fsname, type and flags');

  const st = await run('stat', ['-c', '%f', mnt]);
  t.equal(st.code, 0, `stat succeeds (${st.stderr.trim()})`);
  t.equal(st.stdout.toString().trim(), '41ed', 'the root is the directory 040755 our GETATTR answered');
  t.equal(seen[0], OP.INIT, 'INIT came first');
  t.ok(seen.includes(OP.GETATTR), 'GETATTR was served');

  const closed = new Promise<void>((resolve) => transport.onClose(resolve));
  transport.unmount();
  await closed;
  t.pass('onClose fired after unmount');
  t.equal(transport.closed, true, 'the transport says it is closed');
  t.notOk(isMounted(mnt), 'the mount is gone');
  t.equal(transport.reply(0, Buffer.alloc(16), 16), -9 /* EBADF */, 'answers after the end are refused');
});

t.test('tokens: answered twice or never issued is -EINVAL, nothing written', { skip: !root && 'needs root' }, async (t) => {
  const transport = mountFresh(t);
  const results: Record<string, number> = {};
  serve(transport, {
    [OP.INIT]: (req, ch) => {
      // Not a WRITE: refused, and the token must stay usable.
      results.writeFromOnInit = ch.writeFrom(req.token, 0, 0, 0, false);
      results.shortReply = ch.reply(req.token, Buffer.alloc(8), 8);
      results.first = replyInit(ch, req);
      results.second = replyInit(ch, req);
      results.replyErrorAfter = ch.replyError(req.token, 5);
      results.readIntoAfter = ch.readInto(req.token, 0, 10, 0);
      results.unknown = ch.reply(123456789, Buffer.alloc(16), 16);
      results.unknownError = ch.replyError(0x7ffff, 5);
    },
  });
  const st = await run('stat', ['-c', '%f', transport.mountpoint]);
  t.equal(st.stdout.toString().trim(), '41ed', 'the mount works: the first answer reached the kernel');
  t.equal(results.writeFromOnInit, -22, 'writeFrom on a request that is not a WRITE: -EINVAL');
  t.equal(results.shortReply, -22, 'a reply shorter than the out header: -EINVAL');
  t.equal(results.first, 0, 'first answer: 0');
  t.equal(results.second, -22, 'second answer to the same token: -EINVAL');
  t.equal(results.replyErrorAfter, -22, 'replyError on an answered token: -EINVAL');
  t.equal(results.readIntoAfter, -22, 'readInto on an answered token: -EINVAL');
  t.equal(results.unknown, -22, 'a token never issued: -EINVAL');
  t.equal(results.unknownError, -22, 'replyError with a token never issued: -EINVAL');
});

t.test('an exception thrown by onBatch is reported and serving goes on', { skip: !root && 'needs root' }, async (t) => {
  const transport = mountFresh(t);
  let thrown = 0;
  serve(transport, {
    [OP.INIT]: (req, ch) => {
      replyInit(ch, req);
      thrown++;
      throw new Error('engine bug (expected by the test: the session prints it and goes on)');
    },
  });
  const st = await run('stat', ['-c', '%f', transport.mountpoint]);
  t.equal(thrown, 1, 'onBatch threw once');
  t.equal(st.stdout.toString().trim(), '41ed', 'the next batch (GETATTR) was still served');
});

t.test('close() from inside onBatch stops serving without onClose', { skip: !root && 'needs root' }, async (t) => {
  const transport = mountFresh(t);
  let onCloseCalls = 0;
  transport.onClose(() => { onCloseCalls++; });
  let batches = 0;
  serve(transport, {
    [OP.INIT]: (req, ch) => {
      batches++;
      t.equal(replyInit(ch, req), 0, 'INIT answered');
      ch.close();
      ch.close();
    },
  });
  // Once INIT is answered and the device closed, the kernel fails requests with ENOTCONN.
  const st = await run('stat', ['-c', '%f', transport.mountpoint]);
  t.not(st.code, 0, 'stat fails once nobody serves the mount');
  t.match(st.stderr, /Transport endpoint is not connected|Software caused connection abort/, "with ENOTCONN, or ECONNABORTED for a request queued before the close");
  t.equal(batches, 1, 'no batch after close');
  t.equal(onCloseCalls, 0, 'onClose is for the kernel ending the session, not for close()');
});

t.test('a failed mount throws an Error that says what to do', { skip: !root && 'needs root' }, async (t) => {
  const base = tempDir();
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  const missing = path.join(base, 'nope');
  t.throws(() => FuseDevTransport.mount(missing), {
    name: 'FuseDevError', code: 'ENOENT',
    message: `mount ${missing}: No such file or directory (the mount point does not exist)`,
  });
  const file = path.join(base, 'file');
  fs.writeFileSync(file, '');
  try {
    FuseDevTransport.mount(file);
    t.fail('mounting on a regular file must fail');
  } catch (e) {
    t.type(e, FuseDevError);
    t.equal((e as FuseDevError).code, 'ENOTDIR', 'a file is not a mount point');
    t.match((e as Error).message, /^mount .*file: Not a directory/);
  }
});
