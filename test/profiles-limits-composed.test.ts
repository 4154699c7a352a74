// The composed budget under a profile's limiter: cap first, then the account; the cap given back when the account says no, also when either answers later.
import t from 'tap'
import { ComposedBudget } from '../src/limits/composed-budget.js'
import type { ComposedLease } from '../src/limits/composed-budget.js'
import { isLease } from '../src/limits/limiter.js'
import type { Budget, Lease, Limits, Take } from '../src/limits/limiter.js'
import { MemoryBudget } from '../src/limits/memory-limiter.js'
import { ManualClock } from './helpers/manual-clock.js'

function limits (overrides: Partial<Limits>): Limits {
  return { maxInFlight: 0, rateLimit: 0, rateBurst: 0, queueTimeoutMs: 10_000, queueMax: 1000, ...overrides }
}

/** A budget that answers take() later, as a shared one asks its store, with a memory budget's answer. */
function later (memory: MemoryBudget): Budget {
  return {
    take: async (): Promise<Take> => memory.take(),
    release: (lease) => memory.release(lease),
    throttled: (lease, ms) => memory.throttled(lease, ms),
    answered: (lease) => memory.answered(lease),
    inFlight: () => memory.inFlight(),
    pause: () => memory.pause()
  }
}

t.test('a start takes the cap, then the account; a release gives both back and is told', async (t) => {
  const clock = new ManualClock()
  const cap = new MemoryBudget(limits({ maxInFlight: 1 }), clock)
  const account = new MemoryBudget(limits({ maxInFlight: 5 }), clock)
  let released = 0
  const budget = new ComposedBudget(cap, account, () => { released++ })
  const lease = budget.take()
  t.ok(isLease(lease))
  t.equal(budget.take(), Infinity, 'the cap is full; the account is not asked')
  t.equal(account.inFlight(), 1)
  t.equal(budget.inFlight(), 1, 'in flight: the cap\'s count')
  budget.answered(lease as Lease)
  budget.release(lease as Lease)
  t.equal(released, 1)
  t.equal(account.inFlight(), 0)
  t.equal(cap.inFlight(), 0)
})

t.test('the account says no: the cap\'s slot and token come back (untake)', async (t) => {
  const clock = new ManualClock()
  const cap = new MemoryBudget(limits({ maxInFlight: 1, rateLimit: 1, rateBurst: 1 }), clock)
  const account = new MemoryBudget(limits({ maxInFlight: 1 }), clock)
  const held = account.take() as Lease
  const budget = new ComposedBudget(cap, account, () => {})
  t.equal(budget.take(), Infinity)
  t.equal(cap.inFlight(), 0, 'the slot came back')
  account.release(held)
  t.ok(isLease(budget.take()), 'and the token: the cap grants at once')
})

t.test('a 429 pauses the account, which every budget composed over it then sees', async (t) => {
  const clock = new ManualClock({ random: 0 })
  const account = new MemoryBudget(limits({}), clock)
  const a = new ComposedBudget(new MemoryBudget(limits({ maxInFlight: 2 }), clock), account, () => {})
  const b = new ComposedBudget(new MemoryBudget(limits({ maxInFlight: 2 }), clock), account, () => {})
  const lease = a.take() as ComposedLease
  t.match(a.throttled(lease, 3000), { started: true, pause: { cause: 'retry-after' } })
  t.equal(b.take(), 3000)
  t.equal(b.pause(), account.pause())
  t.equal(b.inFlight(), 0, 'b\'s cap was given back')
})

t.test('budgets that answer later: the cap or the account, either refusing', async (t) => {
  const clock = new ManualClock()
  const cap = new MemoryBudget(limits({ maxInFlight: 1 }), clock)
  const account = new MemoryBudget(limits({ maxInFlight: 1 }), clock)
  const both = new ComposedBudget(later(cap), later(account), () => {})
  const first = await both.take()
  t.ok(isLease(first), 'both answered with a lease')
  t.equal(await both.take(), Infinity, 'the cap answered later that it is full')
  both.release(first as Lease)

  const accountFull = new MemoryBudget(limits({ maxInFlight: 1 }), clock)
  const held = accountFull.take() as Lease
  const capOnly = new MemoryBudget(limits({ maxInFlight: 1 }), clock)
  const refused = new ComposedBudget(capOnly, later(accountFull), () => {})
  t.equal(await refused.take(), Infinity, 'the account answered later that it is full')
  t.equal(capOnly.inFlight(), 0, 'the cap was given back')
  accountFull.release(held)
})
