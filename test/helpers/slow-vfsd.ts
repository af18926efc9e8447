// vfsd on the held source (held-source.ts) with its export's mount measured slow, for the tests
// of what a slow mount runs on the worker pool (test/mount/pool-*.test.ts).
import type { Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mountHeldSource, type HeldSource } from './held-source';
import { waitFor } from './wait';
import { startVfsd, type VfsdProcess } from './vfsd-process';

const WAIT = 20000;

/** vfsd (--cache never: every stat reaches it) on the held source, which holds `op` once the
 *  export's mount is slow. */
export async function slowVfsd(t: Test, op: number, args: string[]): Promise<{ src: HeldSource; v: VfsdProcess }> {
  const src = mountHeldSource(t, []);
  const v = await startVfsd(t, { sharedDir: src.dir, args: ['--cache', 'never', ...args] });
  await makeSlow(v.mnt, 1);
  src.hold(op);
  return { src, v };
}

/**
 * Two LOOKUPs of `lag*` names never looked up before (`lag<first>`, `lag<first + 1>`: a cached
 * dentry would send none), which take LAG_MS each in the source. Inline, vfsd's timing marks the
 * export's mount slow; pooled (it is slow already), they restart its count of fast runs, so that
 * a test that has made many quick requests keeps the mount slow for the hold that follows.
 */
export async function makeSlow(mnt: string, first: number): Promise<void> {
  await fs.promises.stat(path.join(mnt, `lag${first}`));
  await fs.promises.stat(path.join(mnt, `lag${first + 1}`));
}

/** Starts the client's act and waits until the source holds the `op` (named `what`) it made. */
export async function heldAct<T>(src: HeldSource, op: number, what: string, act: () => Promise<T>): Promise<{ p: Promise<T>; settled: () => boolean }> {
  let settled = false;
  const p = act().finally(() => { settled = true; });
  p.catch(() => undefined); // awaited by the test; a rejection is its result, not a crash
  await waitFor(() => src.held(op) > 0, `the ${what} to reach the source`, WAIT);
  return { p, settled: () => settled };
}

/** Waits for p, an act that must be answered while a request is held; if it is not within
 *  `WAIT` (a regression: the held syscall runs on vfsd's JS thread), fails the test and releases
 *  the held request first, so that vfsd and the act end instead of hanging the run. */
export async function answeredWhileHeld<T>(t: Test, p: Promise<T>, what: string, release: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => { timer = setTimeout(() => r('late'), WAIT); });
  const first = await Promise.race([p, late]);
  clearTimeout(timer);
  if (first !== 'late') return first as T;
  t.fail(`${what}: not answered while the request was held`);
  release();
  return p;
}

/** The checks of every "held on a slow source" test: while `op` (named `what`) is held, vfsd
 *  answers another client's GETATTR of the root and LOOKUP of `slow`; the held request is still
 *  held and its client still waits; then it is released and its client's act succeeds, with
 *  what it answered returned. */
export async function othersAnsweredWhileHeld<T>(t: Test, src: HeldSource, mnt: string, op: number, what: string, held: { p: Promise<T>; settled: () => boolean }): Promise<T> {
  const release = () => src.release(op, true);
  t.ok((await answeredWhileHeld(t, fs.promises.stat(mnt), 'GETATTR of the root', release)).isDirectory(), 'GETATTR of the root answered');
  t.ok((await answeredWhileHeld(t, fs.promises.stat(path.join(mnt, 'slow')), 'LOOKUP of another name', release)).isFile(), 'LOOKUP of another name answered');
  t.ok(src.held(op) > 0, `all while the ${what} is still held`);
  t.notOk(held.settled(), 'and its client still waits');
  release();
  const got = await held.p;
  t.pass(`the ${what} succeeded`);
  return got;
}
