// Waiting on I/O, never on time: turn the event loop until a condition holds, and fail with a clear message at a deadline.

/** Real time one wait may take before the test is called broken; loopback I/O needs milliseconds. */
export const UNTIL_DEADLINE_MS = 10_000

function turn (): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/**
 * Turns the event loop (never a timer) until `check` holds. Once `deadlineMs` of real time has passed
 * it throws "gave up waiting for <what>", so a failure shows at once rather than as the runner's timeout.
 */
export async function until (check: () => boolean | Promise<boolean>, what: string, deadlineMs = UNTIL_DEADLINE_MS): Promise<void> {
  const deadline = performance.now() + deadlineMs
  while (!await check()) {
    if (performance.now() > deadline) throw new Error(`gave up waiting for ${what} after ${deadlineMs} ms`)
    await turn()
  }
}
