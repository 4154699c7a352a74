// The upstream limits' settings: UPSTREAM_MAX_IN_FLIGHT, UPSTREAM_RATE_*, UPSTREAM_QUEUE_*, and the rules between them.
import type { ProxyEnv } from './variables.js'

export interface LimitSettings {
  readonly upstreamMaxInFlight: number
  readonly upstreamRateLimit: number
  readonly upstreamRateBurst: number
  readonly upstreamQueueTimeoutMs: number
  readonly upstreamQueueMax: number
}

const QUEUE_VARIABLES = ['UPSTREAM_QUEUE_TIMEOUT_MS', 'UPSTREAM_QUEUE_MAX'] as const

/**
 * The limits with the burst filled in (the rate, rounded up, at least 1), or the problems and
 * warnings the combination raises. `parsed` is undefined when the table step failed elsewhere.
 */
export function limitSettings (data: Record<string, string>, parsed: ProxyEnv | undefined, problems: string[], warnings: string[]): LimitSettings | undefined {
  // A burst without a rate would silently do nothing: the operator meant to limit something.
  if (data.UPSTREAM_RATE_BURST !== undefined && (data.UPSTREAM_RATE_LIMIT === undefined || parsed?.UPSTREAM_RATE_LIMIT === 0)) {
    problems.push('UPSTREAM_RATE_BURST is set but UPSTREAM_RATE_LIMIT is not; set UPSTREAM_RATE_LIMIT to limit the rate')
  }
  if (parsed === undefined) return undefined
  const rate = parsed.UPSTREAM_RATE_LIMIT
  const shaping = parsed.UPSTREAM_MAX_IN_FLIGHT > 0 || rate > 0
  const unused = QUEUE_VARIABLES.filter((name) => data[name] !== undefined)
  if (!shaping && unused.length > 0) {
    warnings.push(`${unused.join(' and ')} ${unused.length === 1 ? 'is' : 'are'} not used: neither UPSTREAM_MAX_IN_FLIGHT nor UPSTREAM_RATE_LIMIT is set`)
  }
  return {
    upstreamMaxInFlight: parsed.UPSTREAM_MAX_IN_FLIGHT,
    upstreamRateLimit: rate,
    upstreamRateBurst: rate === 0 ? 0 : parsed.UPSTREAM_RATE_BURST ?? Math.max(1, Math.ceil(rate)),
    upstreamQueueTimeoutMs: parsed.UPSTREAM_QUEUE_TIMEOUT_MS,
    upstreamQueueMax: parsed.UPSTREAM_QUEUE_MAX
  }
}
