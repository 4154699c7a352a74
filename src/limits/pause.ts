// How long Roecny's 429 holds every request: its Retry-After as a floor, else a doubling backoff; jitter only adds.
import type { PauseCause } from './limiter.js'

/** No pause is longer: a broken or hostile Retry-After must not park the proxy. */
export const MAX_PAUSE_MS = 60_000
/** Without a Retry-After: 1 s for the first 429, doubling over 429s in a row up to 16 s. */
export const BACKOFF_START_MS = 1000
export const BACKOFF_CAP_MS = 16_000
/**
 * Jitter adds up to this share of the pause (of 1 s for shorter ones), so that sidecars and
 * requests held by the same 429 do not all return at the same instant.
 */
export const PAUSE_JITTER_RATIO = 0.2
const JITTER_FLOOR_MS = 1000

/**
 * The pause for a 429: its Retry-After (capped at MAX_PAUSE_MS) when it gave one, else the
 * backoff step of `consecutive` 429s in a row (counted from 1); then jitter from `random` in [0, 1).
 */
export function pauseLength (retryAfterMs: number | undefined, consecutive: number, random: number): { ms: number, cause: PauseCause } {
  const cause: PauseCause = retryAfterMs === undefined ? 'backoff' : 'retry-after'
  const base = retryAfterMs === undefined
    ? Math.min(BACKOFF_CAP_MS, BACKOFF_START_MS * 2 ** Math.min(Math.max(consecutive, 1) - 1, 30))
    : Math.min(retryAfterMs, MAX_PAUSE_MS)
  const jitter = random * PAUSE_JITTER_RATIO * Math.max(base, JITTER_FLOOR_MS)
  return { ms: Math.min(MAX_PAUSE_MS, base + jitter), cause }
}
