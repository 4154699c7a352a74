// A hand-driven Clock for tests: time moves only in advance(), so a 30-minute token lifecycle runs in milliseconds.
import type { Clock, TimerHandle } from '../../src/clock.js'
import { until } from './until.js'

/** 2025-04-25T07:00:00Z, near the vendor's example answer. */
export const MANUAL_CLOCK_START = Date.UTC(2025, 3, 25, 7, 0, 0)

/** Real time settle() may spend waiting for busy work (loopback IO) before it calls the test broken. */
const SETTLE_BUDGET_MS = 5000
/** Timers one advance() may run; more means a timer loop that never lets time pass. */
const MAX_TIMERS_PER_ADVANCE = 10_000

export interface ManualClockOptions {
  /** Wall-clock ms at monotonic 0 (default MANUAL_CLOCK_START). */
  startWallMs?: number
  /** Added to wallNow() only: simulates a skewed local wall clock. */
  wallOffsetMs?: number
  /** What random() returns: a fixed value, or a sequence whose last value then repeats (default 0.5). */
  random?: number | number[]
}

interface PendingTimer {
  at: number
  seq: number
  fn: () => void
}

function turn (): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

export class ManualClock implements Clock {
  /** Added to wallNow() only; may be changed at any time. */
  wallOffsetMs: number
  readonly #startWallMs: number
  #now = 0
  #seq = 0
  #timers: PendingTimer[] = []
  #random: number[] = [0.5]
  #busy: Array<() => boolean> = []

  constructor (options: ManualClockOptions = {}) {
    this.#startWallMs = options.startWallMs ?? MANUAL_CLOCK_START
    this.wallOffsetMs = options.wallOffsetMs ?? 0
    if (options.random !== undefined) this.setRandom(options.random)
    // Code under test may pass these around detached (e.g. `now: clock.wallNow`).
    this.monotonic = this.monotonic.bind(this)
    this.wallNow = this.wallNow.bind(this)
    this.setTimer = this.setTimer.bind(this)
    this.random = this.random.bind(this)
  }

  monotonic (): number {
    return this.#now
  }

  wallNow (): number {
    return this.#startWallMs + this.#now + this.wallOffsetMs
  }

  setTimer (fn: () => void, ms: number): TimerHandle {
    const timer: PendingTimer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn }
    this.#timers.push(timer)
    const timers = this.#timers
    return {
      cancel () {
        const index = timers.indexOf(timer)
        if (index !== -1) timers.splice(index, 1)
      }
    }
  }

  random (): number {
    const value = this.#random.length > 1 ? this.#random.shift() : this.#random[0]
    return value as number
  }

  /** A fixed value, or a sequence whose last value then repeats. */
  setRandom (value: number | number[]): void {
    const values = Array.isArray(value) ? [...value] : [value]
    if (values.length === 0) throw new Error('setRandom needs at least one value')
    this.#random = values
  }

  /** While any predicate holds (e.g. a login in flight against a real server), settle() keeps turning the event loop. */
  busyWhile (predicate: () => boolean): void {
    this.#busy.push(predicate)
  }

  /** Timers not yet run. */
  pendingTimers (): number {
    return this.#timers.length
  }

  /** Milliseconds until the next timer is due; undefined when none is pending. */
  nextTimerIn (): number | undefined {
    const next = this.#next(Infinity)
    return next === undefined ? undefined : next.at - this.#now
  }

  /** Lets promise callbacks and loopback IO run, waiting out every busy predicate. */
  async settle (): Promise<void> {
    await turn()
    await turn()
    await until(() => !this.#busy.some((busy) => busy()), 'the busy work ManualClock.settle waits out', SETTLE_BUDGET_MS)
    await turn()
  }

  /** Moves time forward by `ms`, running due timers in order and settling after each. */
  async advance (ms: number): Promise<void> {
    const target = this.#now + ms
    await this.settle()
    for (let ran = 0; ; ran++) {
      const next = this.#next(target)
      if (next === undefined) break
      if (ran === MAX_TIMERS_PER_ADVANCE) throw new Error(`ManualClock.advance: more than ${MAX_TIMERS_PER_ADVANCE} timers`)
      this.#timers.splice(this.#timers.indexOf(next), 1)
      this.#now = next.at
      next.fn()
      await this.settle()
    }
    this.#now = target
    await this.settle()
  }

  /** Moves time to the next timer and runs it (and any due with it); returns how far time moved, or undefined when no timer is pending. */
  async runNext (): Promise<number | undefined> {
    const delay = this.nextTimerIn()
    if (delay !== undefined) await this.advance(delay)
    return delay
  }

  #next (notAfter: number): PendingTimer | undefined {
    let best: PendingTimer | undefined
    for (const timer of this.#timers) {
      if (timer.at > notAfter) continue
      if (best === undefined || timer.at < best.at || (timer.at === best.at && timer.seq < best.seq)) best = timer
    }
    return best
  }
}
