// The in-memory budget: requests in flight, the token bucket, and the pause a 429 starts.
import t from 'tap'
import type { Lease, Limits } from '../src/limits/limiter.js'
import { isLease } from '../src/limits/limiter.js'
import { MemoryBudget } from '../src/limits/memory-limiter.js'
import { ManualClock } from './helpers/manual-clock.js'

function limits (overrides: Partial<Limits>): Limits {
  return { maxInFlight: 0, rateLimit: 0, rateBurst: 0, queueTimeoutMs: 10_000, queueMax: 1000, ...overrides }
}

function lease (took: Lease | number | Promise<unknown>): Lease {
  if (typeof took !== 'object' || took instanceof Promise) throw new Error(`expected a lease, got ${String(took)}`)
  return took
}

t.test('at most maxInFlight leases at once; a release frees one', async (t) => {
  const budget = new MemoryBudget(limits({ maxInFlight: 2 }), new ManualClock())
  const first = lease(budget.take())
  lease(budget.take())
  t.equal(budget.take(), Infinity, 'full: wait for a release')
  t.equal(budget.inFlight(), 2)
  budget.release(first)
  t.equal(budget.inFlight(), 1)
  t.ok(isLease(budget.take()))
})

t.test('the bucket starts full, refills at the rate, and never holds more than the burst', async (t) => {
  const clock = new ManualClock()
  const budget = new MemoryBudget(limits({ rateLimit: 5, rateBurst: 3 }), clock)
  for (let i = 0; i < 3; i++) lease(budget.take())
  t.equal(budget.take(), 200, 'the next token in 1/5 s')
  await clock.advance(100)
  t.equal(budget.take(), 100)
  await clock.advance(100)
  lease(budget.take())
  t.equal(budget.take(), 200)
  await clock.advance(60_000)
  for (let i = 0; i < 3; i++) lease(budget.take())
  t.equal(budget.take(), 200, 'a long quiet spell still allows only the burst')
  t.equal(budget.inFlight(), 7, 'without maxInFlight, in flight is only counted')
})

t.test('a rate whose interval is not a whole number of ms waits the ms rounded up, then grants', async (t) => {
  const clock = new ManualClock()
  const budget = new MemoryBudget(limits({ rateLimit: 3, rateBurst: 1 }), clock)
  lease(budget.take())
  const wait = budget.take() as number
  t.equal(wait, 334)
  await clock.advance(wait)
  t.ok(isLease(budget.take()))
})

t.test('a 429 pauses every start; a 429 to a request sent before the pause began lengthens it without counting', async (t) => {
  const clock = new ManualClock({ random: 0 })
  const budget = new MemoryBudget(limits({ maxInFlight: 10 }), clock)
  const a = lease(budget.take())
  const b = lease(budget.take())
  const change = budget.throttled(a, undefined)
  t.match(change, { started: true, pause: { startedAtMs: 0, untilMs: 1000, cause: 'backoff', consecutive429s: 1 } })
  t.equal(budget.take(), 1000, 'paused: nothing starts')
  await clock.advance(500)
  t.match(budget.throttled(b, 3000), { started: false, pause: { startedAtMs: 0, untilMs: 3500, cause: 'retry-after', consecutive429s: 1 } },
    'b was in flight when the pause began: longer, but still one 429 in a row')
  t.equal(budget.throttled(b, 1000), undefined, 'a shorter pause changes nothing')
  await clock.advance(3000)
  t.equal(budget.pause(), undefined)
  const c = lease(budget.take())
  t.match(budget.throttled(c, undefined), { started: true, pause: { startedAtMs: 3500, untilMs: 5500, consecutive429s: 2 } }, 'sent after the pause: the second in a row, 2 s')
})

t.test('an answer other than 429 ends the run of 429s, unless its request was sent before the latest pause', async (t) => {
  const clock = new ManualClock({ random: 0 })
  const budget = new MemoryBudget(limits({ maxInFlight: 10 }), clock)
  const old = lease(budget.take())
  budget.throttled(lease(budget.take()), undefined)
  await clock.advance(1000)
  budget.answered(old)
  budget.throttled(lease(budget.take()), undefined)
  t.equal(budget.pause()?.consecutive429s, 2, 'the old request\'s answer did not reset the run')
  await clock.advance(2000)
  budget.answered(lease(budget.take()))
  t.match(budget.throttled(lease(budget.take()), undefined), { started: true, pause: { untilMs: 4000, consecutive429s: 1 } }, 'back to 1 s')
})

t.test('Retry-After 0 holds nothing', async (t) => {
  const budget = new MemoryBudget(limits({ maxInFlight: 1 }), new ManualClock({ random: 0 }))
  const only = lease(budget.take())
  t.equal(budget.throttled(only, 0), undefined)
  t.equal(budget.pause(), undefined)
  budget.release(only)
  t.ok(isLease(budget.take()))
})
