#!/usr/bin/env node
// `npm start`: vfsd's main job on a sensible default. It exports a demo directory (or
// $VFSD_SHARED_DIR) over /dev/fuse on a mount point (or $VFSD_MOUNT) and serves until Ctrl-C.
// Extra arguments after `npm start --` go to vfsd (e.g. `npm start -- --cache never`).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const base = path.join(os.tmpdir(), 'vfsd-demo');
const shared = process.env.VFSD_SHARED_DIR || path.join(base, 'export');
const mount = process.env.VFSD_MOUNT || path.join(base, 'mnt');
fs.mkdirSync(shared, { recursive: true });
fs.mkdirSync(mount, { recursive: true });
if (!process.env.VFSD_SHARED_DIR) {
  const hello = path.join(shared, 'hello.txt');
  if (!fs.existsSync(hello)) fs.writeFileSync(hello, 'Hello from vfsd: this file lives in ' + shared + '\n');
}

const cli = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
console.log(`vfsd: exporting ${shared}`);
const child = spawn(process.execPath, [cli, '--shared-dir', shared, '--mount', mount, ...process.argv.slice(2)], { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

// Say "mounted" only once it is: an `ls` of the mount point before the mount exists lists the
// empty directory underneath (only . and ..), which looks like an empty export.
const mounted = () => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
  .some((l) => (l.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))) === path.resolve(mount));
const poll = setInterval(() => {
  if (!mounted()) return;
  clearInterval(poll);
  console.log(`vfsd: mounted at ${mount} (FUSE over /dev/fuse)`);
  console.log(`vfsd: try 'ls -l ${mount}'; stop with Ctrl-C (or 'umount ${mount}')`);
  console.log('vfsd: for QEMU guests run: node dist/src/cli/main.js --shared-dir DIR --socket-path /tmp/vfsd.sock');
}, 50);
child.on('exit', () => clearInterval(poll));
