// A budget of two: a start needs both an inner budget (a profile's cap) and an outer one (its account's), taken in that order.
import { isLease } from './limiter.js'
import type { Budget, Lease, Pause, PauseChange, Take } from './limiter.js'

/** A start held in both budgets; its episode is the outer budget's, where Roecny's 429s pause. */
export interface ComposedLease extends Lease {
  readonly inner: Lease
  readonly outer: Lease
}

function composed (inner: Lease, outer: Lease): ComposedLease {
  return { episode: outer.episode, inner, outer }
}

/**
 * The inner budget is asked first, so a caller at its own cap never takes a share of the outer one;
 * when the outer one says no, the inner lease is given back (untake(), else release()). Roecny's
 * 429s pause the outer budget: every budget composed over it waits. `onRelease` is told each time a
 * lease goes back, so the other queues drawing on the outer budget can be woken.
 */
export class ComposedBudget implements Budget {
  readonly #inner: Budget
  readonly #outer: Budget
  readonly #onRelease: () => void

  constructor (inner: Budget, outer: Budget, onRelease: () => void) {
    this.#inner = inner
    this.#outer = outer
    this.#onRelease = onRelease
  }

  take (): Take | Promise<Take> {
    const inner = this.#inner.take()
    if (isLease(inner)) return this.#withOuter(inner)
    if (typeof inner === 'number') return inner
    return inner.then((took) => isLease(took) ? this.#withOuter(took) : took)
  }

  #withOuter (inner: Lease): Take | Promise<Take> {
    const outer = this.#outer.take()
    if (isLease(outer)) return composed(inner, outer)
    if (typeof outer === 'number') {
      this.#giveBack(inner)
      return outer
    }
    // A budget's promise never rejects: a shared one whose store fails answers from local state.
    return outer.then((took) => {
      if (isLease(took)) return composed(inner, took)
      this.#giveBack(inner)
      return took
    })
  }

  #giveBack (inner: Lease): void {
    if (this.#inner.untake === undefined) this.#inner.release(inner)
    else this.#inner.untake(inner)
  }

  release (lease: Lease): void {
    const { inner, outer } = lease as ComposedLease
    this.#inner.release(inner)
    this.#outer.release(outer)
    this.#onRelease()
  }

  throttled (lease: Lease, retryAfterMs: number | undefined): PauseChange | undefined {
    return this.#outer.throttled((lease as ComposedLease).outer, retryAfterMs)
  }

  answered (lease: Lease): void {
    this.#outer.answered((lease as ComposedLease).outer)
  }

  /** The inner budget's count: what this caller has in flight. */
  inFlight (): number {
    return this.#inner.inFlight()
  }

  pause (): Pause | undefined {
    return this.#outer.pause()
  }
}
