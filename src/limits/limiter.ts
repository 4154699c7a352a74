// The upstream limits as forwarding sees them, and the budget they draw on: where fleet mode plugs in a shared one.
import type { LimitSettings } from '../config/limits.js'

/** What UPSTREAM_* configures; 0 turns a limit off. */
export interface Limits {
  /** Most forwarded requests in flight to Roecny at once. */
  readonly maxInFlight: number
  /** Most forwarded requests started per second (token bucket). */
  readonly rateLimit: number
  /** How many may start at once after a quiet spell (the bucket's size). */
  readonly rateBurst: number
  /** Longest wait for the limits before 429 PROXY_RATE_LIMITED. */
  readonly queueTimeoutMs: number
  /** Most requests waiting; one more gets 429 PROXY_RATE_LIMITED at once. */
  readonly queueMax: number
}

/** The limits configured, or undefined when neither UPSTREAM_MAX_IN_FLIGHT nor UPSTREAM_RATE_LIMIT is set (the proxy stays transparent). */
export function limitsOf (config: LimitSettings): Limits | undefined {
  if (config.upstreamMaxInFlight === 0 && config.upstreamRateLimit === 0) return undefined
  return Object.freeze({
    maxInFlight: config.upstreamMaxInFlight,
    rateLimit: config.upstreamRateLimit,
    rateBurst: config.upstreamRateBurst,
    queueTimeoutMs: config.upstreamQueueTimeoutMs,
    queueMax: config.upstreamQueueMax
  })
}

/** One forwarded request's share of the budget: held from its start toward Roecny until its exchange ends. */
export interface Lease {
  /**
   * The pause episode in force when the lease was taken. A 429 to a request sent before the
   * current pause began belongs to that pause: it may lengthen it, never count as another 429 in a row.
   */
  readonly episode: number
}

/** A lease, or the milliseconds until one may be granted (Infinity: when a lease is released). */
export type Take = Lease | number

export type PauseCause = 'retry-after' | 'backoff'

/** Roecny's 429 stops every start until `untilMs` (monotonic). */
export interface Pause {
  readonly startedAtMs: number
  readonly untilMs: number
  readonly cause: PauseCause
  /** 429s in a row that each began a pause, without an answer of another status in between. */
  readonly consecutive429s: number
}

/** What a 429 did to the pause: started one, or made the one in force longer. */
export interface PauseChange {
  readonly pause: Pause
  readonly started: boolean
}

/**
 * The shared state the limits are checked against: requests in flight, the token bucket, the pause.
 * In memory for one process; fleet mode keeps it in Redis for every replica. Only take() may be
 * asynchronous (a shared budget asks its store); the others change local state at once, and a
 * shared budget may carry the change to its store in the background.
 */
export interface Budget {
  /**
   * A lease when every limit allows a start now (the start is counted), else how long to wait. A
   * promise never rejects: a shared budget whose store fails answers from local state instead.
   */
  take: () => Take | Promise<Take>
  /** The exchange holding `lease` ended, however it ended. Called once per lease. */
  release: (lease: Lease) => void
  /**
   * Gives back a lease whose request never started (another budget it was composed with said no):
   * the slot and the rate's token return, as if never taken. Optional: without it, release() serves.
   */
  untake?: (lease: Lease) => void
  /** Roecny answered 429 to the request holding `lease`, asking to wait `retryAfterMs` (undefined: it did not say). */
  throttled: (lease: Lease, retryAfterMs: number | undefined) => PauseChange | undefined
  /** Roecny answered the request holding `lease` with another status: 429s are no longer in a row. */
  answered: (lease: Lease) => void
  inFlight: () => number
  /** The pause in force, if any. */
  pause: () => Pause | undefined
  /** Stops what it runs in the background (a shared budget's renewals and listeners), once it is no longer used. Optional: a budget in memory runs nothing. */
  close?: () => void
}

export type Refusal = 'timeout' | 'full'

/** A forwarded request asking the limits for its start. */
export interface Waiter {
  /** It may start now, holding `lease` until its exchange ends; it waited `waitedMs` for it. */
  granted: (lease: Lease, waitedMs: number) => void
  /** It waited UPSTREAM_QUEUE_TIMEOUT_MS, or found the queue full: 429 PROXY_RATE_LIMITED. */
  refused: (reason: Refusal, retryAfterSeconds: number) => void
}

/** A waiter's place in the queue. */
export interface Ticket {
  /** The client went away: the place is freed at once and the waiter never hears back. Idempotent. */
  leave: () => void
}

/** What /-/status shows and the metrics read. */
export interface LimiterStatus {
  readonly enabled: true
  readonly maxInFlight: number
  readonly rateLimit: number
  readonly rateBurst: number
  readonly queueTimeoutMs: number
  readonly queueMax: number
  readonly inFlight: number
  readonly queued: number
  /** The pause in force; `until` is ISO wall-clock time. */
  readonly pause: { until: string, remainingMs: number, cause: PauseCause, consecutive429s: number } | null
  /** PROXY_RATE_LIMITED answers so far, by reason. */
  readonly rateLimited: Record<Refusal, number>
  /** Pauses started so far, by cause. */
  readonly pauses: Record<PauseCause, number>
}

/** The limits as forwarding uses them: admission in order, release, and what Roecny answered. */
export interface UpstreamLimiter {
  readonly limits: Limits
  /**
   * Grants at once (calling `waiter.granted` before returning), refuses at once, or queues the
   * waiter and returns its ticket; the waiter then hears back exactly once unless it leaves.
   */
  admit: (waiter: Waiter) => Ticket | undefined
  /** The exchange holding `lease` ended, however it ended; the next waiter may start. Called once per lease. */
  release: (lease: Lease) => void
  /** Roecny answered 429, with these Retry-After and Date header values. */
  throttled: (lease: Lease, retryAfter: string | undefined, date: string | undefined) => void
  /** Roecny answered with another status. */
  answered: (lease: Lease) => void
  status: () => LimiterStatus
  /** Cancels timers (at shutdown, once no request is left). */
  close: () => void
}

/** True when the value is a lease, not a delay or a pending take. */
export function isLease (took: Take | Promise<Take>): took is Lease {
  return typeof took === 'object' && !(took instanceof Promise)
}
