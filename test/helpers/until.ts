// Waits on IO, never on a timer, until a condition holds; gives up after a deadline of real time.

/** Turns the event loop until `check()` holds; throws naming `what` after `deadlineMs` of real time. */
export async function until (check: () => boolean, what: string, deadlineMs = 5000): Promise<void> {
  const deadline = performance.now() + deadlineMs
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`gave up waiting for ${what} after ${deadlineMs} ms`)
    await new Promise((resolve) => setImmediate(resolve))
  }
}
