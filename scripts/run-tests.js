#!/usr/bin/env node
// Runs the whole suite (test/unit, native, process, mount, guest: see test/README.md) with tap and
// ends with the plain line 'N passed, N failed' that CI reads. Counted are the test points one
// level inside each file (its t.test() groups and top-level assertions); a file that dies before
// reporting any point counts as one failure.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');

const root = path.resolve(__dirname, '..');
const deps = path.join(root, 'scripts', 'install-deps.sh');
if (fs.existsSync(deps)) {
  const r = spawnSync('bash', [deps, '--if-missing'], { stdio: 'inherit' });
  if (r.status !== 0) console.error(`warning: ${deps} exited ${r.status}; tests needing those packages will fail`);
}

const patterns = process.argv.slice(2);
// A source map next to a test (a shell glob like dist/test/mount/foo* picks it up) is no test:
// tap would run it and count it as a failed file.
const files = (patterns.length ? patterns : ['unit', 'native', 'process', 'mount', 'guest'].map((d) => `dist/test/${d}`))
  .filter((f) => !f.endsWith('.map'));
// A path that does not exist would be skipped without a word, so a moved or misspelt test file
// would silently drop out of a run: refuse it instead.
const missing = files.filter((f) => !fs.existsSync(path.resolve(root, f)));
if (missing.length || files.length === 0) {
  console.error(missing.length ? `no such test file or directory: ${missing.join(', ')}` : 'no test files given');
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const args = ['tap', '--disable-coverage', '--allow-empty-coverage', '-R', 'tap', '--jobs=1', '--timeout=1800', ...files];
const child = spawn('npx', args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });

let passed = 0, failed = 0, buffered = '';
let fileHadPoints = false;
// CI keeps only the tail of a long log, so the failures are named again just above the count.
const failures = [];
function line(l) {
  process.stdout.write(l + '\n');
  if (/^# Subtest: /.test(l)) { fileHadPoints = false; return; }
  let m = /^    (not )?ok \d+/.exec(l);
  if (m && !/# (SKIP|TODO)/i.test(l)) {
    fileHadPoints = true;
    if (m[1]) { failed++; failures.push(l.trim()); } else passed++;
    return;
  }
  m = /^(not )?ok \d+/.exec(l);
  if (m) {
    if (m[1] && !fileHadPoints) failed++;
    if (m[1]) failures.push(`  in ${l.replace(/^not ok \d+ - /, '')}`);
    fileHadPoints = false;
  }
}
child.stdout.on('data', (d) => {
  buffered += d.toString();
  let i;
  while ((i = buffered.indexOf('\n')) >= 0) { line(buffered.slice(0, i)); buffered = buffered.slice(i + 1); }
});
child.on('close', (code) => {
  if (buffered) line(buffered);
  if (code !== 0 && failed === 0) failed = 1;
  if (failures.length) console.log(`failures:\n${failures.join('\n')}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
});
