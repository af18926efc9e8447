// The long fuzz run, by hand: `node dist/scripts/fuzz.js --seconds N --seed S [--mode M] [--requests R]`.
// Modes: inprocess (FuseServer + PassthroughFs in this process, fast), vhost (the real vfsd
// command over vhost-user through the test front end, slower), both (default: the time is split).
// Prints the seed first; a failure prints the seed and the request bytes and exits 1.
import { runInProcess, FuzzFailure } from '../test/fuzz/inprocess';
import { runVhost } from '../test/fuzz/vhost';
import { freshSeed } from '../test/fuzz/rng';
import { SKIPPED_OPS } from '../test/fuzz/requests';

function arg(name: string): string | undefined {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1];
    if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3);
  }
  return undefined;
}

async function main(): Promise<void> {
  const seed = arg('seed') !== undefined ? Number(arg('seed')) >>> 0 : freshSeed();
  const seconds = Number(arg('seconds') ?? 60);
  const mode = arg('mode') ?? 'both';
  // --requests R: stop after R requests (per mode) instead of at the time limit: a CI seed replays exactly
  const requests = arg('requests') !== undefined ? Number(arg('requests')) : undefined;
  if (!['inprocess', 'vhost', 'both'].includes(mode) || !(seconds > 0)) {
    process.stderr.write('usage: fuzz.js [--seconds N] [--seed S] [--mode inprocess|vhost|both] [--requests R]\n');
    process.exit(2);
  }
  process.stdout.write(`fuzz: seed ${seed}, ${seconds} s, mode ${mode}\n`);
  for (const s of SKIPPED_OPS) process.stdout.write(`fuzz: opcode ${s.op} not sent: ${s.why}\n`);
  const log = (l: string) => process.stdout.write(`  ${l}\n`);
  if (mode !== 'vhost') {
    const r = await runInProcess({ seed, requests, seconds: mode === 'both' ? seconds / 2 : seconds, progress: log });
    process.stdout.write(`in-process: ${r.requests} requests in ${r.cycles} cycles, rss ${r.rssStartMiB.toFixed(1)} -> ${r.rssEndMiB.toFixed(1)} MiB\n`);
    process.stdout.write(`answers: ${JSON.stringify(r.answered)}\n`);
  }
  if (mode !== 'inprocess') {
    const r = await runVhost({ seed, requests, seconds: mode === 'both' ? seconds / 2 : seconds, progress: log });
    process.stdout.write(`vhost-user: ${r.requests} requests in ${r.cycles} cycles, vfsd rss ${r.rssStartMiB.toFixed(1)} -> ${r.rssEndMiB.toFixed(1)} MiB, fds ${r.fds}\n`);
  }
  process.stdout.write(`fuzz: ok (seed ${seed})\n`);
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(`${e instanceof FuzzFailure ? e.message : (e as Error)?.stack ?? e}\n`);
  process.exit(1);
});
