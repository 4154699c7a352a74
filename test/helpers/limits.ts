// Reading the upstream limits from outside, as an operator does: the `limits` part of /-/status.
import type { LimiterStatus } from '../../src/limits/limiter.js'
import { json } from './http.js'
import type { ManualClock } from './manual-clock.js'
import type { Stack } from './stack.js'

export async function limitStatus (baseUrl: string): Promise<LimiterStatus> {
  const res = await json<{ limits: LimiterStatus }>(`${baseUrl}/-/status`)
  return res.body.limits
}

/**
 * A teardown for a stack on a ManualClock: time first moves past every wait and pause (60 s at
 * most, 10 s by default), so a test that failed with requests still queued cannot hold the shutdown.
 */
export function closeAfterWaits (clock: ManualClock, stack: Stack): () => Promise<void> {
  return async function close () {
    await clock.advance(61_000)
    await stack.close()
  }
}

/** Polls /-/status over HTTP until the limits show what `check` wants; fails after 5 s of real time. */
export async function untilLimits (baseUrl: string, check: (status: LimiterStatus) => boolean): Promise<LimiterStatus> {
  const deadline = performance.now() + 5000
  for (;;) {
    const status = await limitStatus(baseUrl)
    if (check(status)) return status
    if (performance.now() > deadline) throw new Error(`the limits never matched; last seen: ${JSON.stringify(status)}`)
  }
}
