// Waits on IO, never on time: turns the event loop until a condition holds, failing after a real-time deadline.

/** Resolves once `check()` is true; rejects after `deadlineMs` of real time, so a failure never hangs the suite. */
export async function until (check: () => boolean | Promise<boolean>, deadlineMs = 5000, what = 'the condition'): Promise<void> {
  const deadline = performance.now() + deadlineMs
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`gave up after ${deadlineMs} ms waiting for ${what}`)
    await new Promise((resolve) => setImmediate(resolve))
  }
}
