// Waiting for the limits: first in first out, bounded in length and time, clients that leave, pauses, a budget that answers later.
import t from 'tap'
import type { Budget, Lease, Limits, Take } from '../src/limits/limiter.js'
import { createMemoryLimiter, MemoryBudget } from '../src/limits/memory-limiter.js'
import { QueuedLimiter } from '../src/limits/queue.js'
import { createLogger } from '../src/log.js'
import { MANUAL_CLOCK_START, ManualClock } from './helpers/manual-clock.js'
import { Recorder } from './helpers/recorder.js'

function limits (overrides: Partial<Limits>): Limits {
  return { maxInFlight: 0, rateLimit: 0, rateBurst: 0, queueTimeoutMs: 10_000, queueMax: 1000, ...overrides }
}

function setup (overrides: Partial<Limits>, random = 0): {
  clock: ManualClock
  limiter: ReturnType<typeof createMemoryLimiter>
  heard: string[]
  lines: Array<Record<string, unknown>>
  admit: (name: string) => Recorder
} {
  const clock = new ManualClock({ random })
  const lines: Array<Record<string, unknown>> = []
  const log = createLogger('debug', { write (line: string) { lines.push(JSON.parse(line) as Record<string, unknown>) } })
  const limiter = createMemoryLimiter(limits(overrides), { clock, log })
  const heard: string[] = []
  function admit (name: string): Recorder {
    const waiter = new Recorder(name, heard)
    waiter.ticket = limiter.admit(waiter)
    return waiter
  }
  return { clock, limiter, heard, lines, admit }
}

t.test('requests start at once while the limits allow, then wait their turn in order', async (t) => {
  const { limiter, heard, admit, clock } = setup({ maxInFlight: 2 })
  const a = admit('a')
  const b = admit('b')
  t.equal(a.ticket, undefined, 'granted at once: no place in the queue')
  t.same(heard, ['a granted', 'b granted'])
  const c = admit('c')
  const d = admit('d')
  t.ok(c.ticket !== undefined && d.ticket !== undefined)
  t.equal(limiter.status().queued, 2)
  await clock.advance(250)
  limiter.release(a.lease as Lease)
  t.same(heard.slice(2), ['c granted'])
  t.equal(c.waitedMs, 250)
  limiter.release(b.lease as Lease)
  limiter.release(c.lease as Lease)
  t.same(heard.slice(3), ['d granted'])
  t.match(limiter.status(), { inFlight: 1, queued: 0 })
})

t.test('a full queue refuses at once; a wait that reaches the timeout is refused', async (t) => {
  const { limiter, heard, admit, clock } = setup({ maxInFlight: 1, queueMax: 2, queueTimeoutMs: 1000 })
  admit('a')
  admit('b')
  await clock.advance(400)
  admit('c')
  const d = admit('d')
  t.same(heard, ['a granted', 'd refused: full'])
  t.same(d.refusal, { reason: 'full', retryAfterSeconds: 1 })
  await clock.advance(599)
  t.equal(heard.length, 2, 'b still waits at 999 ms')
  await clock.advance(1)
  t.same(heard.slice(2), ['b refused: timeout'])
  await clock.advance(400)
  t.same(heard.slice(3), ['c refused: timeout'], 'c waited its own 1000 ms')
  t.match(limiter.status(), { queued: 0, inFlight: 1, rateLimited: { timeout: 2, full: 1 } })
  t.equal(clock.pendingTimers(), 0, 'an empty queue keeps no timer')
})

t.test('a queue of 0 refuses whatever cannot start at once', async (t) => {
  const { heard, admit } = setup({ maxInFlight: 1, queueMax: 0 })
  admit('a')
  admit('b')
  t.same(heard, ['a granted', 'b refused: full'])
})

t.test('a waiter that leaves frees its place at once and never hears back', async (t) => {
  const { limiter, heard, admit } = setup({ maxInFlight: 1, queueMax: 2 })
  const a = admit('a')
  const b = admit('b')
  admit('c')
  t.equal(admit('x').refusal?.reason, 'full')
  b.ticket?.leave()
  b.ticket?.leave()
  t.equal(limiter.status().queued, 1, 'one place freed, once')
  const d = admit('d')
  t.ok(d.ticket !== undefined, 'the freed place is taken')
  limiter.release(a.lease as Lease)
  t.same(heard, ['a granted', 'x refused: full', 'c granted'])
  d.ticket?.leave()
  t.equal(limiter.status().queued, 0)
})

t.test('with a rate, waiters start as tokens come, each after its wait', async (t) => {
  const { heard, admit, clock, limiter } = setup({ rateLimit: 2, rateBurst: 1 })
  admit('a')
  const b = admit('b')
  const c = admit('c')
  t.same(heard, ['a granted'])
  await clock.advance(499)
  t.same(heard, ['a granted'])
  await clock.advance(1)
  t.same(heard, ['a granted', 'b granted'])
  t.equal(b.waitedMs, 500)
  await clock.advance(500)
  t.equal(c.waitedMs, 1000)
  t.equal(limiter.status().inFlight, 3)
})

t.test('PROXY_RATE_LIMITED asks the client to come back when the queue would have drained at the rate', async (t) => {
  const { admit } = setup({ rateLimit: 2, rateBurst: 1, queueMax: 4 })
  for (const name of ['a', 'b', 'c', 'd', 'e']) admit(name)
  t.same(admit('f').refusal, { reason: 'full', retryAfterSeconds: 2 }, '4 waiting at 2 per second')
})

t.test('a 429 holds every start for its Retry-After; one line when the pause starts and one when it ends', async (t) => {
  const { heard, admit, clock, limiter, lines } = setup({ maxInFlight: 5 }, 0.5)
  const a = admit('a')
  const b = admit('b')
  limiter.throttled(a.lease as Lease, '2', undefined)
  limiter.release(a.lease as Lease)
  t.match(limiter.status(), { pause: { remainingMs: 2200, cause: 'retry-after', consecutive429s: 1, until: new Date(MANUAL_CLOCK_START + 2200).toISOString() }, pauses: { 'retry-after': 1, backoff: 0 } })
  t.match(lines.at(-1), { level: 'info', msg: 'Roecny answered 429: requests to it are held', pauseMs: 2200, cause: 'retry-after' })
  admit('c')
  admit('d')
  limiter.throttled(b.lease as Lease, '3', undefined)
  limiter.release(b.lease as Lease)
  t.match(lines.at(-1), { level: 'debug', msg: 'another 429: the pause is longer', pauseMs: 3300 })
  await clock.advance(3299)
  t.same(heard, ['a granted', 'b granted'], 'nothing starts during the pause')
  await clock.advance(1)
  t.same(heard.slice(2), ['c granted', 'd granted'])
  t.match(lines.at(-1), { level: 'info', msg: 'pause over: requests to Roecny resume', queued: 2 })
  t.equal(lines.filter((l) => l.level === 'info').length, 2, 'two info lines for the whole pause')
  t.equal(limiter.status().pause, null)
})

t.test('a Retry-After date is read against the answer\'s own Date', async (t) => {
  const { limiter, admit } = setup({ maxInFlight: 5 })
  const a = admit('a')
  const serverNow = Date.UTC(2030, 0, 1, 0, 0, 0)
  limiter.throttled(a.lease as Lease, new Date(serverNow + 5000).toUTCString(), new Date(serverNow).toUTCString())
  t.equal(limiter.status().pause?.remainingMs, 5000, 'the proxy\'s clock (2025) does not matter')
  limiter.throttled(a.lease as Lease, 'soon', undefined)
  t.equal(limiter.status().pause?.remainingMs, 5000, 'an unreadable Retry-After is a backoff step (1 s), shorter: no change')
})

t.test('PROXY_RATE_LIMITED during a pause asks the client to come back after it', async (t) => {
  const { limiter, admit, clock } = setup({ maxInFlight: 5, queueTimeoutMs: 1000 })
  const a = admit('a')
  limiter.throttled(a.lease as Lease, '30', undefined)
  const b = admit('b')
  await clock.advance(1000)
  t.same(b.refusal, { reason: 'timeout', retryAfterSeconds: 29 })
})

t.test('close() cancels every timer', async (t) => {
  const { limiter, admit, clock } = setup({ rateLimit: 1, rateBurst: 1 })
  const a = admit('a')
  admit('b')
  limiter.throttled(a.lease as Lease, '5', undefined)
  t.equal(clock.pendingTimers(), 3, 'deadline, wake and pause end')
  limiter.close()
  t.equal(clock.pendingTimers(), 0)
})

/** A budget that answers take() later, as one kept in a shared store does, and can be paused from outside. */
class SharedBudgetDouble implements Budget {
  readonly inner: MemoryBudget
  /** Answers take() gives before the inner budget's (what the other replicas' traffic would cause). */
  readonly script: number[] = []
  constructor (inner: MemoryBudget) { this.inner = inner }
  async take (): Promise<Take> {
    await new Promise((resolve) => setImmediate(resolve))
    return this.script.shift() ?? this.inner.take()
  }

  release (lease: Lease): void { this.inner.release(lease) }
  throttled (lease: Lease, ms: number | undefined): ReturnType<Budget['throttled']> { return this.inner.throttled(lease, ms) }
  answered (lease: Lease): void { this.inner.answered(lease) }
  inFlight (): number { return this.inner.inFlight() }
  pause (): ReturnType<Budget['pause']> { return this.inner.pause() }
}

function sharedSetup (overrides: Partial<Limits>): ReturnType<typeof setup> & { budget: SharedBudgetDouble } {
  const clock = new ManualClock({ random: 0 })
  const lines: Array<Record<string, unknown>> = []
  const log = createLogger('debug', { write (line: string) { lines.push(JSON.parse(line) as Record<string, unknown>) } })
  const budget = new SharedBudgetDouble(new MemoryBudget(limits(overrides), clock))
  const limiter = new QueuedLimiter(budget, limits(overrides), { clock, log })
  const heard: string[] = []
  function admit (name: string): Recorder {
    const waiter = new Recorder(name, heard)
    waiter.ticket = limiter.admit(waiter)
    return waiter
  }
  return { clock, limiter, heard, lines, admit, budget }
}

t.test('a budget that answers later: waiters are granted in order once it answers', async (t) => {
  const { heard, admit, clock, limiter } = sharedSetup({ maxInFlight: 2 })
  const a = admit('a')
  admit('b')
  admit('c')
  t.same(heard, [], 'nobody is granted before the budget answers')
  await clock.settle()
  t.same(heard, ['a granted', 'b granted'])
  limiter.release(a.lease as Lease)
  await clock.settle()
  t.same(heard, ['a granted', 'b granted', 'c granted'])
})

t.test('a budget that answers later: the lease of a waiter that left goes to the next one, or back', async (t) => {
  const { heard, admit, clock, limiter, budget } = sharedSetup({ maxInFlight: 1 })
  const a = admit('a')
  const b = admit('b')
  a.ticket?.leave()
  await clock.settle()
  t.same(heard, ['b granted'], 'a left while the budget was asked: b got the lease')
  const c = admit('c')
  await clock.settle()
  c.ticket?.leave()
  limiter.release(b.lease as Lease)
  t.same(heard, ['b granted'])
  t.equal(budget.inFlight(), 0)
  const d = admit('d')
  d.ticket?.leave()
  await clock.settle()
  t.equal(budget.inFlight(), 0, 'nobody left to take it: the lease went back')
})

t.test('a budget that answers later: a full queue still lets its answer go back', async (t) => {
  const { heard, admit, clock, budget } = sharedSetup({ maxInFlight: 1, queueMax: 0 })
  admit('a')
  t.same(heard, ['a refused: full'], 'no queue: refused while the budget is asked')
  await clock.settle()
  t.equal(budget.inFlight(), 0)
})

t.test('a budget that answers later: a delay it answers is waited', async (t) => {
  const { heard, admit, clock } = sharedSetup({ rateLimit: 1, rateBurst: 1 })
  admit('a')
  admit('b')
  await clock.settle()
  t.same(heard, ['a granted'])
  await clock.advance(999)
  t.same(heard, ['a granted'], 'not before the bucket has a token again')
  await clock.advance(1)
  t.same(heard, ['a granted', 'b granted'])
})

t.test('a pause made longer elsewhere (a shared budget) keeps the queue held until it ends', async (t) => {
  const { heard, admit, clock, limiter, budget, lines } = sharedSetup({ maxInFlight: 5 })
  const a = admit('a')
  await clock.settle()
  limiter.throttled(a.lease as Lease, '1', undefined)
  // Another replica's 429 lengthens the shared pause without this queue hearing of it.
  budget.inner.throttled({ episode: 0 }, 4000)
  admit('b')
  await clock.advance(1000)
  t.same(heard, ['a granted'])
  t.notOk(lines.some((l) => l.msg === 'pause over: requests to Roecny resume'))
  await clock.advance(3000)
  t.same(heard, ['a granted', 'b granted'])
  t.equal(lines.filter((l) => l.msg === 'pause over: requests to Roecny resume').length, 1)
})

t.test('leaving from the middle or the end of the queue keeps the others in order', async (t) => {
  const { limiter, heard, admit } = setup({ maxInFlight: 1 })
  const a = admit('a')
  admit('b')
  const c = admit('c')
  const d = admit('d')
  admit('e')
  c.ticket?.leave()
  limiter.release(a.lease as Lease)
  const tail = admit('f')
  tail.ticket?.leave()
  d.ticket?.leave()
  t.equal(limiter.status().queued, 1)
  t.same(heard, ['a granted', 'b granted'])
})

t.test('429s in a row double the pause; an answer in between starts over at 1 s', async (t) => {
  const { limiter, admit, clock } = setup({ maxInFlight: 5 })
  const pauses: number[] = []
  for (const answer of ['429', '429', '429', '200', '429']) {
    const waiter = admit('w')
    await clock.settle()
    if (answer === '429') {
      limiter.throttled(waiter.lease as Lease, undefined, undefined)
      pauses.push(limiter.status().pause?.remainingMs as number)
      await clock.advance(pauses.at(-1) as number)
    } else {
      limiter.answered(waiter.lease as Lease)
    }
    limiter.release(waiter.lease as Lease)
  }
  t.same(pauses, [1000, 2000, 4000, 1000])
  t.same(limiter.status().pauses, { 'retry-after': 0, backoff: 4 })
})

t.test('a release before the next token keeps the one wake-up timer', async (t) => {
  const { limiter, heard, admit, clock } = setup({ rateLimit: 1, rateBurst: 1, queueTimeoutMs: 60_000 })
  const a = admit('a')
  admit('b')
  t.equal(clock.pendingTimers(), 2, 'the deadline and one wake-up')
  await clock.advance(100)
  limiter.release(a.lease as Lease)
  t.equal(clock.pendingTimers(), 2)
  await clock.advance(900)
  t.same(heard, ['a granted', 'b granted'])
})

t.test('a request that ends as soon as it is granted lets the next ones start in the same turn, in order', async (t) => {
  const { limiter, heard, admit } = setup({ maxInFlight: 1 })
  const first = admit('a')
  const quick: Recorder[] = []
  for (const name of ['b', 'c', 'd']) {
    const waiter = new Recorder(name, heard)
    // Its exchange ends at once (e.g. it was answered from the token step), inside the grant.
    waiter.granted = function grantedAndDone (lease) { heard.push(`${name} granted`); limiter.release(lease) }
    waiter.ticket = limiter.admit(waiter)
    quick.push(waiter)
  }
  limiter.release(first.lease as Lease)
  t.same(heard, ['a granted', 'b granted', 'c granted', 'd granted'])
  t.match(limiter.status(), { inFlight: 0, queued: 0 })
})

t.test('a shared budget that names an earlier time moves the one wake-up timer earlier', async (t) => {
  const { heard, admit, clock, budget, limiter } = sharedSetup({ maxInFlight: 5 })
  const a = admit('a')
  await clock.settle()
  budget.script.push(5000, 1000)
  admit('b')
  await clock.settle()
  t.equal(clock.nextTimerIn(), 5000)
  limiter.release(a.lease as Lease)
  await clock.settle()
  t.equal(clock.nextTimerIn(), 1000)
  await clock.advance(1000)
  t.same(heard, ['a granted', 'b granted'])
  t.equal(clock.pendingTimers(), 0, 'the 5 s timer was cancelled')
})
