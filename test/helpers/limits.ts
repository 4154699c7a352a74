// Reading the upstream limits from outside, as an operator does: the `limits` part of /-/status.
import type { LimiterStatus } from '../../src/limits/limiter.js'
import { json } from './http.js'

export async function limitStatus (baseUrl: string): Promise<LimiterStatus> {
  const res = await json<{ limits: LimiterStatus }>(`${baseUrl}/-/status`)
  return res.body.limits
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
