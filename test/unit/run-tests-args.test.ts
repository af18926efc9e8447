// scripts/run-tests.js, given paths: a path that does not exist fails the run (it used to be
// skipped without a word, so a moved test file silently dropped out of a subset run), and a
// source map picked up by a glob is left out instead of run as a failing "test".
import t from 'tap';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

const root = path.resolve(__dirname, '..', '..', '..');
const runner = path.join(root, 'scripts', 'run-tests.js');
const runTests = (...args: string[]) => spawnSync(process.execPath, [runner, ...args], { cwd: root, encoding: 'utf8', timeout: 120000 });

t.test('a test path that does not exist fails the run and is named', async (t) => {
  const r = runTests('dist/test/unit/no-such-file.test.js');
  t.equal(r.status, 1, 'exit status 1');
  t.match(r.stderr, /no such test file or directory: dist\/test\/unit\/no-such-file\.test\.js/, 'the path is named');
  t.equal(r.stdout.trim().split('\n').pop(), '0 passed, 1 failed', 'the CI line counts it as a failure');
});

t.test('a source map among the paths is left out, the test beside it runs', async (t) => {
  const test = 'dist/test/unit/protocol-wire.test.js';
  const r = runTests(test, `${test}.map`);
  t.equal(r.status, 0, `exit status 0 (${r.stdout.trim().split('\n').pop()})`);
  t.match(r.stdout, /^\d+ passed, 0 failed$/m, 'no failure counted for the map');
  t.notMatch(r.stdout, /# Subtest: .*\.map/, 'the map was not run');
});
