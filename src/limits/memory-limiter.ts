// The limits of one process: a budget in memory (in-flight count, token bucket, pause) behind the waiting queue.
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import type { Budget, Lease, Limits, Pause, PauseChange, Take, UpstreamLimiter } from './limiter.js'
import { pauseLength } from './pause.js'
import { QueuedLimiter } from './queue.js'

/** Float tolerance of the bucket: a refill that lands a hair below a whole token still grants it. */
const EPSILON = 1e-9

export class MemoryBudget implements Budget {
  readonly #limits: Limits
  readonly #clock: Clock
  #inFlight = 0
  #tokens: number
  #refilledAt: number
  #pause: Pause | undefined
  /** Bumped when a 429 to a request sent since the last one begins a new pause. */
  #episode = 0
  #consecutive = 0

  constructor (limits: Limits, clock: Clock) {
    this.#limits = limits
    this.#clock = clock
    this.#tokens = limits.rateBurst
    this.#refilledAt = clock.monotonic()
  }

  take (): Take {
    const now = this.#clock.monotonic()
    const pause = this.#pause
    if (pause !== undefined && now < pause.untilMs) return pause.untilMs - now
    const { maxInFlight, rateLimit, rateBurst } = this.#limits
    if (maxInFlight > 0 && this.#inFlight >= maxInFlight) return Infinity
    if (rateLimit > 0) {
      this.#tokens = Math.min(rateBurst, this.#tokens + (now - this.#refilledAt) * rateLimit / 1000)
      this.#refilledAt = now
      // Whole milliseconds, rounded up, so the next try finds the token there.
      if (this.#tokens < 1 - EPSILON) return Math.ceil((1 - this.#tokens) * 1000 / rateLimit - EPSILON)
      this.#tokens -= 1
    }
    this.#inFlight++
    return { episode: this.#episode }
  }

  /** Counts in flight a lease another budget granted (a fleet's), so that this one count holds every request the process runs. */
  count (): void {
    this.#inFlight++
  }

  release (_lease: Lease): void {
    this.#inFlight--
  }

  untake (_lease: Lease): void {
    this.#inFlight--
    if (this.#limits.rateLimit > 0) this.#tokens = Math.min(this.#limits.rateBurst, this.#tokens + 1)
  }

  throttled (lease: Lease, retryAfterMs: number | undefined): PauseChange | undefined {
    const now = this.#clock.monotonic()
    if (lease.episode === this.#episode) {
      this.#episode++
      this.#consecutive++
    }
    const { ms, cause } = pauseLength(retryAfterMs, this.#consecutive, this.#clock.random())
    const untilMs = now + ms
    const current = this.pause()
    // Retry-After: 0 holds nothing; a pause already as long stays as it is.
    if (untilMs <= (current?.untilMs ?? now)) return undefined
    this.#pause = { startedAtMs: current?.startedAtMs ?? now, untilMs, cause, consecutive429s: this.#consecutive }
    return { pause: this.#pause, started: current === undefined }
  }

  answered (lease: Lease): void {
    // An answer to a request sent before the latest pause says nothing about whether it worked.
    if (lease.episode === this.#episode) this.#consecutive = 0
  }

  inFlight (): number {
    return this.#inFlight
  }

  /** The pause episode now: what a lease granted now carries (a shared budget grants leases of its own). */
  episode (): number {
    return this.#episode
  }

  pause (): Pause | undefined {
    const pause = this.#pause
    return pause !== undefined && this.#clock.monotonic() < pause.untilMs ? pause : undefined
  }
}

export interface MemoryLimiterDeps {
  clock: Clock
  log: Logger
}

/** The limits for one process. */
export function createMemoryLimiter (limits: Limits, deps: MemoryLimiterDeps): UpstreamLimiter {
  return new QueuedLimiter(new MemoryBudget(limits, deps.clock), limits, deps)
}
