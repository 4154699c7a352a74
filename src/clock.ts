// Time and randomness, injected so token lifecycles can be driven in tests without waiting.

export interface TimerHandle {
  cancel: () => void
}

export interface Clock {
  /** Monotonic milliseconds; only differences are meaningful. */
  monotonic: () => number
  /** Wall-clock milliseconds since the epoch (used for logs and for reading `Date`). */
  wallNow: () => number
  /** Runs `fn` after `ms` milliseconds; the timer never keeps the process alive. */
  setTimer: (fn: () => void, ms: number) => TimerHandle
  /** A number in [0, 1). */
  random: () => number
}

export const systemClock: Clock = {
  monotonic: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer (fn, ms) {
    const timer = setTimeout(fn, ms)
    timer.unref()
    return { cancel: () => clearTimeout(timer) }
  },
  random: Math.random
}
