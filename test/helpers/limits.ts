// Reading the upstream limits from outside, as an operator does: the `limits` part of /-/status.
import type { LimiterStatus } from '../../src/limits/limiter.js'
import { json } from './http.js'
import { until } from './until.js'

export async function limitStatus (baseUrl: string): Promise<LimiterStatus> {
  const res = await json<{ limits: LimiterStatus }>(`${baseUrl}/-/status`)
  return res.body.limits
}

/** Polls /-/status over HTTP on until()'s timer until the limits show what `check` wants; fails after 5 s of real time. */
export async function untilLimits (baseUrl: string, check: (status: LimiterStatus) => boolean): Promise<LimiterStatus> {
  let status: LimiterStatus | undefined
  await until(async () => check(status = await limitStatus(baseUrl)), () => `the limits to match (last seen: ${JSON.stringify(status)})`, 5000)
  return status as LimiterStatus
}
