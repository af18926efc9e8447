// Waiting for a condition by polling, yielding to the event loop in between (servers under test
// often run on this very thread). A hang detector, never a timing assertion: the limits are
// generous and a slow machine only waits longer.

/** Polls cond every `everyMs` until it holds: true, or false once `timeoutMs` has passed. */
export async function waitUntil(cond: () => boolean, timeoutMs: number, everyMs = 1): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return true;
}

/** Like waitUntil, but a timeout throws `timed out waiting for ${what}`. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  if (!(await waitUntil(cond, timeoutMs))) throw new Error(`timed out waiting for ${what}`);
}
