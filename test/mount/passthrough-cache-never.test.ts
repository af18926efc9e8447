// FUSE passthrough under --cache never and --cache metadata, on a real /dev/fuse mount: an open
// is answered FOPEN_PASSTHROUGH without FOPEN_DIRECT_IO (the kernel lets direct I/O win, and every
// READ and WRITE would still come to vfsd). What the cache mode promises must still hold: the
// mount keeps no data of its own, so a host change is read back at once and a write through the
// mount is on the host before close, with the size the host shows. And the bytes must really
// bypass vfsd: its request counts show no READ or WRITE, where the --no-passthrough control
// (direct I/O through vfsd) shows both, so the test can fail. One difference is pinned: a
// client's O_NOATIME holds on the host under passthrough, and is stripped through vfsd.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { requestCounts, sessionInit, startVfsd } from '../helpers/vfsd-process';
import { mmapSharedWrite } from '../helpers/mmap-write';

const root = process.geteuid?.() === 0;

const CASES: Array<[string, string[], boolean]> = [
  ['--cache never', ['--cache', 'never'], true],
  ['--cache metadata', ['--cache', 'metadata'], true],
  ['--cache never --no-passthrough (control)', ['--cache', 'never', '--no-passthrough'], false],
];

for (const [name, args, passthrough] of CASES) {
  t.test(name, { skip: !root && 'needs root' }, async (t) => {
    const v = await startVfsd(t, { args: [...args, '--log-level', 'info'], prepare: (src) => fs.writeFileSync(path.join(src, 'f'), 'data') });
    const onMount = path.join(v.mnt, 'f');
    const onHost = path.join(v.src, 'f');
    t.equal(fs.readFileSync(onMount, 'utf8'), 'data', 'read through the mount');
    fs.writeFileSync(onHost, 'host changed it');
    t.equal(fs.readFileSync(onMount, 'utf8'), 'host changed it', 'a change on the host is read back at once');

    const fd = fs.openSync(onMount, 'a');
    fs.writeSync(fd, ', then the mount');
    t.equal(fs.readFileSync(onHost, 'utf8'), 'host changed it, then the mount', 'a write through the mount is on the host before close');
    t.equal(fs.statSync(onMount).size, fs.statSync(onHost).size, 'with the size the host shows');
    fs.closeSync(fd);

    // O_NOATIME: the kernel opens a passthrough file's backing file with the client's flags, so
    // the client's O_NOATIME holds on the host; through vfsd it is stripped (as virtiofsd does,
    // without --preserve-noatime) and the read moves the host's atime.
    const OLD = new Date('2000-01-01T00:00:00Z');
    fs.utimesSync(onHost, OLD, fs.statSync(onHost).mtime);
    const na = fs.openSync(onMount, fs.constants.O_RDONLY | fs.constants.O_NOATIME);
    fs.readSync(na, Buffer.alloc(64), 0, 64, 0);
    fs.closeSync(na);
    const moved = fs.statSync(onHost).atimeMs !== OLD.getTime();
    t.equal(moved, !passthrough, passthrough ? 'an O_NOATIME read keeps the host atime' : 'an O_NOATIME read moves the host atime (stripped)');

    if (passthrough) {
      t.equal(mmapSharedWrite(onMount, 'JJJJ'), 'ok', 'a shared mapping works (the host file\'s pages)');
      t.equal(fs.readFileSync(onHost, 'utf8').slice(0, 4), 'JJJJ', 'and its writes are the host file\'s');
    } else {
      t.equal(mmapSharedWrite(onMount, 'JJJJ'), 'errno 19', 'direct I/O: no shared mapping without --allow-mmap (ENODEV)');
    }

    t.equal(await v.stop(), 0, 'clean exit');
    t.equal(sessionInit(v.log()).passthrough, passthrough, `FUSE passthrough ${passthrough ? '' : 'not '}negotiated`);
    const n = requestCounts(v.log());
    if (passthrough) {
      t.equal(n.READ ?? 0, 0, 'no READ reached vfsd');
      t.equal(n.WRITE ?? 0, 0, 'no WRITE reached vfsd');
    } else {
      t.ok((n.READ ?? 0) > 0 && (n.WRITE ?? 0) > 0, `READs and WRITEs went through vfsd: ${JSON.stringify(n)}`);
    }
  });
}
