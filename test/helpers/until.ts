// Waiting for a condition on a short timer, never by spinning: fail with a clear message at a deadline.
import { setTimeout as sleep } from 'node:timers/promises'

/** Real time one wait may take before the test is called broken; loopback I/O needs milliseconds. */
export const UNTIL_DEADLINE_MS = 10_000

/**
 * Between two checks: long enough that a waiting test leaves the CPU to the I/O it waits for (a loop of
 * setImmediate turns would keep a core busy), short enough that a wait ends within a few ms of its condition.
 */
export const POLL_MS = 5

/**
 * Checks `check` at once, then every POLL_MS until it holds. Once `deadlineMs` of real time has passed
 * it throws "gave up waiting for <what>", so a failure shows at once rather than as the runner's timeout;
 * `what` may be a function, to say what was last seen.
 */
export async function until (check: () => boolean | Promise<boolean>, what: string | (() => string), deadlineMs = UNTIL_DEADLINE_MS): Promise<void> {
  const deadline = performance.now() + deadlineMs
  while (!await check()) {
    if (performance.now() > deadline) throw new Error(`gave up waiting for ${typeof what === 'string' ? what : what()} after ${deadlineMs} ms`)
    await sleep(POLL_MS)
  }
}
