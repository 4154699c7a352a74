// When a failed login is retried: exponential backoff with full jitter, slower for rejected credentials, Retry-After honoured.
import type { LoginFailure } from './login.js'

/** Backoff after a failed login: full jitter over `base * 2^(failures-1)`, capped. */
export const BACKOFF_BASE_MS = 1000
export const BACKOFF_CAP_MS = 60_000
/** Rejected credentials rarely fix themselves within seconds, so they are retried more slowly. */
export const REJECTED_BASE_MS = 10_000
export const REJECTED_CAP_MS = 300_000
/** A Retry-After beyond this is treated as this: a broken header must not park the proxy for days. */
export const MAX_RETRY_AFTER_MS = 3_600_000

/** Exponential backoff with full jitter; `failures` counts from 1. */
export function backoffDelay (failures: number, baseMs: number, capMs: number, random: number): number {
  return random * Math.min(capMs, baseMs * 2 ** Math.min(failures - 1, 30))
}

/** How long Roecny asked us to wait before the next login (its Retry-After, capped); 0 when it did not ask. */
export function retryAfterMs (failure: Pick<LoginFailure, 'retryAfterMs'>): number {
  return failure.retryAfterMs === undefined ? 0 : Math.min(failure.retryAfterMs, MAX_RETRY_AFTER_MS)
}

/** The delay before the retry after the `failures`th failed login in a row: the backoff, or Roecny's Retry-After when longer. */
export function retryDelay (failure: Pick<LoginFailure, 'kind' | 'retryAfterMs'>, failures: number, random: number): number {
  const backoff = failure.kind === 'rejected'
    ? backoffDelay(failures, REJECTED_BASE_MS, REJECTED_CAP_MS, random)
    : backoffDelay(failures, BACKOFF_BASE_MS, BACKOFF_CAP_MS, random)
  return Math.max(backoff, retryAfterMs(failure))
}
