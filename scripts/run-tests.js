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
const files = patterns.length ? patterns : ['unit', 'native', 'process', 'mount', 'guest'].map((d) => `dist/test/${d}`);
const args = ['tap', '--disable-coverage', '--allow-empty-coverage', '-R', 'tap', '--jobs=1', '--timeout=1800', ...files];
const child = spawn('npx', args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });

let passed = 0, failed = 0, buffered = '';
let fileHadPoints = false;
function line(l) {
  process.stdout.write(l + '\n');
  if (/^# Subtest: /.test(l)) { fileHadPoints = false; return; }
  let m = /^    (not )?ok \d+/.exec(l);
  if (m && !/# (SKIP|TODO)/i.test(l)) { fileHadPoints = true; if (m[1]) failed++; else passed++; return; }
  m = /^(not )?ok \d+/.exec(l);
  if (m) {
    if (m[1] && !fileHadPoints) failed++;
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
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
});
