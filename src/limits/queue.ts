// Waiting for the limits, first in first out, over any budget: queue bound, wait timeout, clients that leave, 429 pauses.
import type { Logger } from 'pino'
import type { Clock, TimerHandle } from '../clock.js'
import { parseHttpDate, parseRetryAfter } from '../http-date.js'
import { isLease } from './limiter.js'
import type { Budget, Lease, LimiterStatus, Limits, PauseCause, PauseChange, Refusal, Take, Ticket, UpstreamLimiter, Waiter } from './limiter.js'

/** A waiter's place: a node of the queue's doubly linked list, so leaving from the middle costs nothing. */
class Place implements Ticket {
  readonly waiter: Waiter
  readonly enqueuedAt: number
  prev: Place | undefined = undefined
  next: Place | undefined = undefined
  /** Still in the queue (not granted, refused or gone). */
  queued = true
  readonly #queue: QueuedLimiter

  constructor (queue: QueuedLimiter, waiter: Waiter, enqueuedAt: number) {
    this.#queue = queue
    this.waiter = waiter
    this.enqueuedAt = enqueuedAt
  }

  leave (): void {
    if (this.queued) this.#queue.remove(this)
  }
}

function iso (wallMs: number): string {
  return new Date(wallMs).toISOString()
}

/**
 * The queue in front of a budget. A request starts at once when nobody waits and the budget
 * allows; otherwise it waits its turn. The budget is asked again when a lease is released, when
 * it said a start becomes possible (token refill, pause end), and nowhere else: nothing polls.
 * Waits all last the same UPSTREAM_QUEUE_TIMEOUT_MS, so deadlines follow queue order and one
 * timer, for the head's, serves them all.
 */
export class QueuedLimiter implements UpstreamLimiter {
  readonly limits: Limits
  readonly #budget: Budget
  readonly #clock: Clock
  readonly #log: Logger
  #head: Place | undefined
  #tail: Place | undefined
  #length = 0
  #deadlineTimer: TimerHandle | undefined
  #wakeTimer: TimerHandle | undefined
  #wakeAt = Infinity
  #pauseTimer: TimerHandle | undefined
  /** An asynchronous take() is on its way; its answer is the head's. */
  #taking = false
  #draining = false
  readonly #rateLimited: Record<Refusal, number> = { timeout: 0, full: 0 }
  readonly #pauses: Record<PauseCause, number> = { 'retry-after': 0, backoff: 0 }

  constructor (budget: Budget, limits: Limits, deps: { clock: Clock, log: Logger }) {
    this.#budget = budget
    this.limits = limits
    this.#clock = deps.clock
    this.#log = deps.log
  }

  admit (waiter: Waiter): Ticket | undefined {
    let notYet: number | Promise<Take> | undefined
    // Anyone already waiting goes first, even when the budget would allow this one now.
    if (this.#head === undefined && !this.#taking) {
      const took = this.#budget.take()
      if (isLease(took)) {
        waiter.granted(took, 0)
        return undefined
      }
      notYet = took
    }
    if (this.#length >= this.limits.queueMax) {
      if (notYet !== undefined) this.#follow(notYet)
      this.#refuse(waiter, 'full')
      return undefined
    }
    const place = this.#enqueue(waiter)
    if (notYet !== undefined) this.#follow(notYet)
    return place
  }

  release (lease: Lease): void {
    this.#budget.release(lease)
    this.#drain()
  }

  /**
   * The budget may allow a start now though no lease of this queue was released (a budget it shares
   * with other queues freed a slot): the waiting are granted in order, as far as it allows.
   */
  wake (): void {
    this.#drain()
  }

  throttled (lease: Lease, retryAfter: string | undefined, date: string | undefined): void {
    // A Retry-After date is read against the answer's own Date, so a skewed clock on either side changes nothing.
    const retryAfterMs = parseRetryAfter(retryAfter, parseHttpDate(date) ?? this.#clock.wallNow())
    const change = this.#budget.throttled(lease, retryAfterMs)
    if (change !== undefined) this.#paused(change)
  }

  answered (lease: Lease): void {
    this.#budget.answered(lease)
  }

  status (): LimiterStatus {
    const pause = this.#budget.pause()
    const now = this.#clock.monotonic()
    return {
      enabled: true,
      ...this.limits,
      inFlight: this.#budget.inFlight(),
      queued: this.#length,
      pause: pause === undefined
        ? null
        : { until: iso(this.#clock.wallNow() + pause.untilMs - now), remainingMs: Math.ceil(pause.untilMs - now), cause: pause.cause, consecutive429s: pause.consecutive429s },
      rateLimited: { ...this.#rateLimited },
      pauses: { ...this.#pauses }
    }
  }

  close (): void {
    this.#deadlineTimer?.cancel()
    this.#deadlineTimer = undefined
    this.#cancelWake()
    this.#pauseTimer?.cancel()
    this.#pauseTimer = undefined
  }

  /** Unlinks a place (its waiter left, or its turn came); when the queue empties, its timers go. */
  remove (place: Place): void {
    place.queued = false
    if (place.prev === undefined) this.#head = place.next
    else place.prev.next = place.next
    if (place.next === undefined) this.#tail = place.prev
    else place.next.prev = place.prev
    place.prev = undefined
    place.next = undefined
    this.#length--
    if (this.#length === 0) {
      this.#deadlineTimer?.cancel()
      this.#deadlineTimer = undefined
      this.#cancelWake()
    }
  }

  #enqueue (waiter: Waiter): Place {
    const place = new Place(this, waiter, this.#clock.monotonic())
    if (this.#tail === undefined) this.#head = place
    else {
      this.#tail.next = place
      place.prev = this.#tail
    }
    this.#tail = place
    this.#length++
    if (this.#deadlineTimer === undefined) this.#armDeadline()
    return place
  }

  /** Grants the head, in order, for as long as the budget allows. */
  #drain (): void {
    // A grant runs the request on synchronously, which may release a lease and call back in here.
    if (this.#draining || this.#taking) return
    this.#draining = true
    try {
      while (this.#head !== undefined) {
        const took = this.#budget.take()
        if (!isLease(took)) {
          this.#follow(took)
          return
        }
        this.#grant(this.#head, took)
      }
    } finally {
      this.#draining = false
    }
  }

  #grant (place: Place, lease: Lease): void {
    this.remove(place)
    place.waiter.granted(lease, this.#clock.monotonic() - place.enqueuedAt)
  }

  /** What the budget said when it granted nothing: wait for a release, a time, or its asynchronous answer. */
  #follow (took: number | Promise<Take>): void {
    if (typeof took === 'number') {
      this.#wakeIn(took)
      return
    }
    this.#taking = true
    took.then((result) => {
      this.#taking = false
      if (isLease(result)) {
        // The waiter it was asked for may have left meanwhile: the next one gets it, or the budget does.
        if (this.#head === undefined) this.#budget.release(result)
        else this.#grant(this.#head, result)
        this.#drain()
      } else {
        this.#wakeIn(result)
      }
    })
  }

  #wakeIn (ms: number): void {
    // Infinity: a release will drain. Nobody waiting: the next admit asks the budget itself.
    if (ms === Infinity || this.#head === undefined) return
    const at = this.#clock.monotonic() + ms
    if (this.#wakeTimer !== undefined && this.#wakeAt <= at) return
    this.#wakeTimer?.cancel()
    this.#wakeAt = at
    this.#wakeTimer = this.#clock.setTimer(() => {
      this.#wakeTimer = undefined
      this.#wakeAt = Infinity
      this.#drain()
    }, ms)
  }

  #cancelWake (): void {
    this.#wakeTimer?.cancel()
    this.#wakeTimer = undefined
    this.#wakeAt = Infinity
  }

  #armDeadline (): void {
    const head = this.#head
    if (head === undefined) return
    const ms = head.enqueuedAt + this.limits.queueTimeoutMs - this.#clock.monotonic()
    this.#deadlineTimer = this.#clock.setTimer(() => this.#expire(), Math.max(0, ms))
  }

  /** Refuses every waiter whose time is up (they are at the head: deadlines follow queue order). */
  #expire (): void {
    this.#deadlineTimer = undefined
    const now = this.#clock.monotonic()
    while (this.#head !== undefined && this.#head.enqueuedAt + this.limits.queueTimeoutMs <= now) {
      const place = this.#head
      this.remove(place)
      this.#refuse(place.waiter, 'timeout')
    }
    this.#armDeadline()
  }

  #refuse (waiter: Waiter, reason: Refusal): void {
    this.#rateLimited[reason]++
    waiter.refused(reason, this.#retryAfterSeconds())
  }

  /** A guess a client can act on: the pause left, or the time the queue takes to drain at the rate; at least 1 s. */
  #retryAfterSeconds (): number {
    let ms = 1000
    const pause = this.#budget.pause()
    if (pause !== undefined) ms = Math.max(ms, pause.untilMs - this.#clock.monotonic())
    if (this.limits.rateLimit > 0) ms = Math.max(ms, this.#length * 1000 / this.limits.rateLimit)
    return Math.ceil(ms / 1000)
  }

  /** One line when a pause starts and one when it ends, never one per request. */
  #paused ({ pause, started }: PauseChange): void {
    const now = this.#clock.monotonic()
    const fields = {
      pauseMs: Math.round(pause.untilMs - now),
      cause: pause.cause,
      consecutive429s: pause.consecutive429s,
      until: iso(this.#clock.wallNow() + pause.untilMs - now),
      queued: this.#length
    }
    if (started) {
      this.#pauses[pause.cause]++
      this.#log.info(fields, 'Roecny answered 429: requests to it are held')
    } else {
      this.#log.debug(fields, 'another 429: the pause is longer')
    }
    this.#pauseTimer?.cancel()
    this.#pauseTimer = this.#clock.setTimer(() => this.#pauseOver(), pause.untilMs - now)
  }

  #pauseOver (): void {
    this.#pauseTimer = undefined
    const pause = this.#budget.pause()
    if (pause !== undefined) {
      // A shared budget may have been paused longer by another replica.
      this.#pauseTimer = this.#clock.setTimer(() => this.#pauseOver(), pause.untilMs - this.#clock.monotonic())
      return
    }
    this.#log.info({ queued: this.#length }, 'pause over: requests to Roecny resume')
    this.#drain()
  }
}
