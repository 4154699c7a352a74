// A token's time, planned in one place: when it expires, when it stops being handed out, when it is refreshed.

/** A token is never handed out within min(30 s, 10 % of its lifetime) of its expiry. */
export const SAFETY_MARGIN_CAP_MS = 30_000
export const SAFETY_MARGIN_RATIO = 0.1
/** The refresh happens up to this share of its delay earlier, so replicas do not log in in step. */
export const REFRESH_JITTER_RATIO = 0.05
/** A lifetime beyond this is planned as this: we still refresh daily, and timers stay in range. */
export const MAX_LIFETIME_MS = 86_400_000
/** Floor for the refresh delay: a server granting absurdly short lifetimes must not cause a login storm. */
export const MIN_REFRESH_DELAY_MS = 1000

/** What the plan is made from. Times are monotonic ms: the wall clock (ours or the server's) decides nothing. */
export interface PlanInput {
  /** The lifetime Roecny granted. */
  readonly lifetimeMs: number
  /** When it was granted: when the login that obtained it was sent. */
  readonly grantedAt: number
  /** When this token manager takes it up (after its own login, or when it adopts the fleet's token). */
  readonly now: number
  /** TOKEN_REFRESH_RATIO. */
  readonly refreshRatio: number
  /** In [0, 1): how much of the jitter this refresh gets. */
  readonly random: number
}

/** A token's times, monotonic ms. */
export interface TokenPlan {
  /** The lifetime the plan runs on: the granted one, at most MAX_LIFETIME_MS. */
  readonly lifetimeMs: number
  /** When the token is treated as expired: never later than Roecny's own expiry. */
  readonly expiresAt: number
  /** From then on the token is no longer handed out: its safety margin before expiresAt. */
  readonly usableUntil: number
  /** When the refresh login is due. */
  readonly refreshAt: number
  /** refreshAt - now: what the refresh timer is set to. */
  readonly refreshDelayMs: number
}

/** How long before its expiry a token with this lifetime stops being handed out: min(30 s, 10 %). */
export function safetyMarginMs (lifetimeMs: number): number {
  return Math.min(SAFETY_MARGIN_CAP_MS, lifetimeMs * SAFETY_MARGIN_RATIO)
}

/** How long after it was granted a token with this lifetime may be handed out: the lifetime less its margin. */
export function usableSpanMs (lifetimeMs: number): number {
  return lifetimeMs - safetyMarginMs(lifetimeMs)
}

/**
 * The plan for one token. A lifetime longer than MAX_LIFETIME_MS is planned as the stretch of
 * MAX_LIFETIME_MS that starts when the token is taken up (or its last MAX_LIFETIME_MS, when less is
 * left): a long-lived token adopted late is neither expired on arrival nor planned past its real expiry.
 * The refresh comes at refreshRatio of that stretch, up to REFRESH_JITTER_RATIO of it earlier, never
 * past the safety margin, and never sooner than MIN_REFRESH_DELAY_MS from now.
 */
export function planToken (input: PlanInput): TokenPlan {
  const { grantedAt, now, refreshRatio, random } = input
  const lifetimeMs = Math.min(input.lifetimeMs, MAX_LIFETIME_MS)
  const start = input.lifetimeMs > MAX_LIFETIME_MS ? Math.min(now, grantedAt + input.lifetimeMs - MAX_LIFETIME_MS) : grantedAt
  const expiresAt = start + lifetimeMs
  const margin = safetyMarginMs(lifetimeMs)
  const planned = Math.min(lifetimeMs * refreshRatio, lifetimeMs - margin)
  const refreshDelayMs = Math.max(MIN_REFRESH_DELAY_MS, start + planned * (1 - REFRESH_JITTER_RATIO * random) - now)
  return { lifetimeMs, expiresAt, usableUntil: expiresAt - margin, refreshAt: now + refreshDelayMs, refreshDelayMs }
}
