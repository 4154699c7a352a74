// Each profile's limiter: the account's UPSTREAM_* budget shared, a profile's own cap never delaying another, 429 pauses per account, reloads keeping counts.
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import type { Budget, Lease, Limits } from '../src/limits/limiter.js'
import { MemoryBudget } from '../src/limits/memory-limiter.js'
import { createLogger } from '../src/log.js'
import { loadProfiles } from '../src/profiles/file.js'
import type { ProfilesDescription } from '../src/profiles/file.js'
import { createProfileLimiters } from '../src/profiles/limits.js'
import type { ProfileLimiters, ProfileLimitersDeps } from '../src/profiles/limits.js'
import { testConfig } from './helpers/config.js'
import { ManualClock } from './helpers/manual-clock.js'
import { Recorder } from './helpers/recorder.js'

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)
const C = 'c'.repeat(64)
const D = 'd'.repeat(64)

function accountLimits (overrides: Partial<Limits>): Limits {
  return { maxInFlight: 0, rateLimit: 0, rateBurst: 0, queueTimeoutMs: 10_000, queueMax: 1000, ...overrides }
}

/**
 * A description from a real profiles file: profiles `a` and `b` on the environment's account, `c` on
 * another (its own client ID file), each with the extra YAML lines given.
 */
function describe (t: Test, own: { a?: string, b?: string, c?: string, d?: string }): ProfilesDescription {
  const dir = t.testdir()
  writeFileSync(join(dir, 'other-client-id'), 'other-client')
  chmodSync(join(dir, 'other-client-id'), 0o600)
  const lines = ['profiles:', '  a:', `    accessKeys: ["${A}"]`, ...(own.a === undefined ? [] : [`    ${own.a}`])]
  if (own.b !== undefined) lines.push('  b:', `    accessKeys: ["${B}"]`, `    ${own.b}`)
  if (own.c !== undefined) lines.push('  c:', `    accessKeys: ["${C}"]`, `    clientIdFile: ${join(dir, 'other-client-id')}`, `    ${own.c}`)
  if (own.d !== undefined) lines.push('  d:', `    accessKeys: ["${D}"]`, `    ${own.d}`)
  writeFileSync(join(dir, 'profiles.yaml'), lines.join('\n') + '\n')
  return loadProfiles(join(dir, 'profiles.yaml'), testConfig())
}

interface Setup {
  clock: ManualClock
  limiters: ProfileLimiters
  heard: string[]
  lines: Array<Record<string, unknown>>
  /** A request of `profile`, named `name` in what is heard. */
  admit: (profile: string, name: string) => Recorder
  /** Its exchange ended: the lease goes back through the limiter that granted it. */
  release: (request: Recorder) => void
}

function setup (t: Test, description: ProfilesDescription, limits: Limits | undefined, deps: Partial<ProfileLimitersDeps> = {}): Setup {
  const clock = deps.clock as ManualClock | undefined ?? new ManualClock({ random: 0 })
  const lines: Array<Record<string, unknown>> = []
  const log = createLogger('debug', { write (line: string) { lines.push(JSON.parse(line) as Record<string, unknown>) } })
  const limiters = createProfileLimiters(description, limits, { clock, log, ...deps })
  t.teardown(() => limiters.close())
  const heard: string[] = []
  const grantedBy = new Map<Recorder, ReturnType<ProfileLimiters['forProfile']>>()
  function admit (profile: string, name: string): Recorder {
    const limiter = limiters.forProfile(profile)
    if (limiter === undefined) throw new Error(`profile ${profile} has no limiter`)
    const waiter = new Recorder(name, heard)
    grantedBy.set(waiter, limiter)
    waiter.ticket = limiter.admit(waiter)
    return waiter
  }
  function release (request: Recorder): void {
    grantedBy.get(request)?.release(request.lease as Lease)
  }
  return { clock, limiters, heard, lines, admit, release }
}

t.test('two profiles on one account share UPSTREAM_MAX_IN_FLIGHT; a slot freed by one wakes the other', async (t) => {
  const { admit, release, heard, limiters } = setup(t, describe(t, { b: 'scope: other' }), accountLimits({ maxInFlight: 2 }))
  const a1 = admit('a', 'a1')
  const b1 = admit('b', 'b1')
  admit('a', 'a2')
  admit('b', 'b2')
  t.same(heard, ['a1 granted', 'b1 granted'], 'two in flight on the account, whichever profile sent them')
  t.match(limiters.status(), { a: { inFlight: 1, queued: 1, maxInFlight: 0 }, b: { inFlight: 1, queued: 1 } })
  release(b1)
  t.same(heard.slice(2), ['a2 granted'], 'b\'s slot went to a\'s waiting request: the account woke a\'s queue')
  release(a1)
  t.same(heard.slice(3), ['b2 granted'])
})

t.test('a profile at its cap waits while another profile\'s requests pass at once', async (t) => {
  const { admit, release, heard } = setup(t, describe(t, { a: 'maxInFlight: 1', b: 'scope: other' }), accountLimits({ maxInFlight: 10 }))
  const a1 = admit('a', 'a1')
  const a2 = admit('a', 'a2')
  t.ok(a2.ticket !== undefined, 'a is at its cap: its second request waits')
  for (const name of ['b1', 'b2', 'b3']) admit('b', name)
  t.same(heard, ['a1 granted', 'b1 granted', 'b2 granted', 'b3 granted'], 'b never waits behind a')
  release(a1)
  t.same(heard.slice(4), ['a2 granted'])
})

t.test('a cap works without account limits; a profile with neither is transparent', async (t) => {
  const { admit, heard, limiters } = setup(t, describe(t, { a: 'maxInFlight: 1', b: 'scope: other' }), undefined)
  t.equal(limiters.forProfile('b'), undefined, 'no limit of its own, none on its account: nothing queued')
  t.equal(limiters.forProfile('nobody'), undefined)
  admit('a', 'a1')
  const a2 = admit('a', 'a2')
  t.same(heard, ['a1 granted'])
  t.match(limiters.status(), { a: { maxInFlight: 1, queueMax: 1000, queueTimeoutMs: 10_000, inFlight: 1, queued: 1 } })
  t.same(Object.keys(limiters.status()), ['a'])
  t.ok(a2.ticket !== undefined)
})

t.test('with no limit anywhere, no profile has a limiter', async (t) => {
  const { limiters } = setup(t, describe(t, { b: 'scope: other' }), undefined)
  t.equal(limiters.forProfile('a'), undefined)
  t.equal(limiters.forProfile('b'), undefined)
  t.same(limiters.status(), {})
})

t.test('a profile\'s rateLimit spreads its own requests while another\'s pass at once', async (t) => {
  const { admit, heard, clock } = setup(t, describe(t, { a: 'rateLimit: 2\n    rateBurst: 1', b: 'scope: other' }), accountLimits({ maxInFlight: 100 }))
  t.equal(clock.monotonic(), 0)
  const a = ['a1', 'a2', 'a3'].map((name) => admit('a', name))
  for (const name of ['b1', 'b2', 'b3', 'b4']) admit('b', name)
  t.same(heard, ['a1 granted', 'b1 granted', 'b2 granted', 'b3 granted', 'b4 granted'])
  await clock.advance(499)
  t.equal(heard.length, 5, 'a\'s second request waits for its token')
  await clock.advance(1)
  t.same(heard.slice(5), ['a2 granted'])
  t.equal(a[1]?.waitedMs, 500)
  await clock.advance(500)
  t.same(heard.slice(6), ['a3 granted'])
  t.equal(a[2]?.waitedMs, 1000)
})

t.test('each profile waits in a queue of its own, bounded by UPSTREAM_QUEUE_MAX and UPSTREAM_QUEUE_TIMEOUT_MS', async (t) => {
  const { admit, heard, clock, limiters } = setup(t, describe(t, { b: 'scope: other' }), accountLimits({ maxInFlight: 1, queueMax: 2, queueTimeoutMs: 1000 }))
  admit('a', 'a0')
  admit('a', 'a1')
  admit('a', 'a2')
  const a3 = admit('a', 'a3')
  admit('b', 'b1')
  admit('b', 'b2')
  const b3 = admit('b', 'b3')
  t.same(heard, ['a0 granted', 'a3 refused: full', 'b3 refused: full'], 'a full queue of a leaves b its own two places')
  t.equal(a3.refusal?.retryAfterSeconds, 1)
  t.equal(b3.refusal?.reason, 'full')
  t.match(limiters.status(), { a: { queued: 2, rateLimited: { full: 1 } }, b: { queued: 2, rateLimited: { full: 1 } } })
  await clock.advance(1000)
  t.same(heard.slice(3).sort(), ['a1 refused: timeout', 'a2 refused: timeout', 'b1 refused: timeout', 'b2 refused: timeout'])
})

t.test('the queue settings serve profiles with caps when the account has no limit', async (t) => {
  const { admit, heard } = setup(t, describe(t, { a: 'maxInFlight: 1' }), undefined, { queue: { queueMax: 1, queueTimeoutMs: 50 } })
  admit('a', 'a1')
  admit('a', 'a2')
  admit('a', 'a3')
  t.same(heard, ['a1 granted', 'a3 refused: full'])
})

t.test('a 429 pauses every limited profile of the account, and not another account\'s', async (t) => {
  const description = describe(t, { a: 'maxInFlight: 5', b: 'scope: other', c: 'maxInFlight: 5', d: 'maxInFlight: 5' })
  const { admit, release, heard, clock, limiters, lines } = setup(t, description, undefined)
  t.equal(limiters.forProfile('b'), undefined, 'b has no limit: it is not held (the proxy stays transparent for it)')
  const a1 = admit('a', 'a1')
  limiters.forProfile('a')?.throttled(a1.lease as Lease, '2', undefined)
  release(a1)
  admit('a', 'a2')
  admit('d', 'd1')
  admit('c', 'c1')
  t.same(heard, ['a1 granted', 'c1 granted'], 'a and d (same account) are held; c (another account) is not')
  t.match(limiters.status(), { a: { pause: { cause: 'retry-after' } }, d: { pause: { cause: 'retry-after' } }, c: { pause: null } })
  t.ok(lines.some((line) => line.msg === 'Roecny answered 429: requests to it are held' && line.profile === 'a'), 'the log names the profile')
  await clock.advance(2000)
  t.same(heard.slice(2).sort(), ['a2 granted', 'd1 granted'], 'both resume when the pause ends')
})

t.test('two accounts are independent', async (t) => {
  const { admit, heard } = setup(t, describe(t, { c: 'scope: x' }), accountLimits({ maxInFlight: 1 }))
  admit('a', 'a1')
  admit('a', 'a2')
  admit('c', 'c1')
  t.same(heard, ['a1 granted', 'c1 granted'], 'a\'s account is full; c\'s has its own UPSTREAM_MAX_IN_FLIGHT')
})

t.test('a freed slot goes to each profile\'s queue in turn: none starves', async (t) => {
  const { admit, release, heard } = setup(t, describe(t, { b: 'scope: other' }), accountLimits({ maxInFlight: 1 }))
  const held = admit('a', 'held')
  const waiting = ['a1', 'a2'].map((name) => admit('a', name)).concat(['b1', 'b2'].map((name) => admit('b', name)))
  release(held)
  for (let i = 0; i < 3; i++) {
    const next = waiting.find((request) => request.lease !== undefined && !heard.includes(`${request.name} released`))
    heard.push(`${next?.name ?? 'none'} released`)
    release(next as Recorder)
  }
  t.same(heard.filter((line) => line.endsWith('granted')), ['held granted', 'a1 granted', 'b1 granted', 'a2 granted', 'b2 granted'])
})

t.test('a cap\'s rate token comes back when the account says no', async (t) => {
  const { admit, release, heard } = setup(t, describe(t, { a: 'rateLimit: 1', b: 'scope: other' }), accountLimits({ maxInFlight: 1 }))
  const b1 = admit('b', 'b1')
  admit('a', 'a1')
  t.same(heard, ['b1 granted'])
  release(b1)
  t.same(heard, ['b1 granted', 'a1 granted'], 'a\'s one token was given back when the account was full, so a starts at once')
})

t.test('budgets come from the factory: the account\'s, and each cap by account and profile (none for a profile without caps); one without untake() gets release()', async (t) => {
  const made: Array<{ account: object, profile: string | undefined, limits: Limits }> = []
  const clock = new ManualClock()
  const description = describe(t, { a: 'rateLimit: 1', b: 'scope: other' })
  const { admit, release, heard } = setup(t, description, accountLimits({ maxInFlight: 1 }), {
    clock,
    budgetFor (account, profile, limits) {
      made.push({ account, profile, limits })
      const memory = new MemoryBudget(limits, clock)
      const budget: Budget = {
        take: () => memory.take(),
        release: (lease) => memory.release(lease),
        throttled: (lease, ms) => memory.throttled(lease, ms),
        answered: (lease) => memory.answered(lease),
        inFlight: () => memory.inFlight(),
        pause: () => memory.pause()
      }
      return budget
    }
  })
  const account = { baseUrl: description.accounts[0]?.baseUrl, clientId: description.accounts[0]?.clientId }
  t.match(made, [
    { account, profile: undefined, limits: { maxInFlight: 1 } },
    { account, profile: 'a', limits: { maxInFlight: 0, rateLimit: 1, rateBurst: 1 } }
  ])
  t.equal(made.length, 2, 'b has no cap: nothing to ask a shared store for')
  const b1 = admit('b', 'b1')
  admit('a', 'a1')
  release(b1)
  t.same(heard, ['b1 granted'], 'without untake() the cap\'s token is spent: a waits for its refill')
  await clock.advance(1000)
  t.same(heard, ['b1 granted', 'a1 granted'])
})

t.test('apply() keeps the budgets of what remains, with their counts; removed profiles finish their requests', async (t) => {
  const before = describe(t, { b: 'scope: other', c: 'scope: x' })
  const { admit, release, heard, limiters } = setup(t, before, accountLimits({ maxInFlight: 1 }))
  const a = limiters.forProfile('a')
  const a1 = admit('a', 'a1')
  const b = limiters.forProfile('b')
  const c1 = admit('c', 'c1')
  limiters.apply(describe(t, { d: 'scope: other', c: 'maxInFlight: 3' }))
  t.equal(limiters.forProfile('a'), a, 'a remains: same limiter, same queue')
  t.equal(limiters.forProfile('b'), undefined, 'b is gone')
  t.not(b, undefined)
  t.not(limiters.forProfile('c'), undefined)
  t.match(limiters.status(), { a: { inFlight: 1 }, c: { maxInFlight: 3, inFlight: 0 } }, 'c\'s caps changed: a new limiter; its account kept its count')
  admit('d', 'd1')
  admit('c', 'c2')
  t.same(heard, ['a1 granted', 'c1 granted'], 'the account still counts a1 (d waits) and c1 (c2 waits)')
  release(a1)
  t.same(heard.slice(2), ['d1 granted'])
  release(c1)
  t.same(heard.slice(3), ['c2 granted'], 'c1 went back through its old limiter to the account kept across the reload')
  t.same(Object.keys(limiters.status()), ['a', 'c', 'd'])
})

t.test('a removed profile\'s waiting requests are still served; close() ends every timer, retired limiters\' too', async (t) => {
  const { admit, release, limiters, clock, heard } = setup(t, describe(t, { a: 'rateLimit: 1', b: 'scope: other' }), accountLimits({ maxInFlight: 1 }))
  const a1 = admit('a', 'a1')
  admit('a', 'a2')
  admit('b', 'b1')
  t.ok(clock.pendingTimers() > 0, 'the queues have their deadline timers')
  limiters.apply(describe(t, {}))
  t.match(limiters.status(), { a: { maxInFlight: 0, rateLimit: 0, queued: 0 } }, 'a\'s caps changed: a new limiter')
  release(a1)
  t.same(heard, ['a1 granted', 'b1 granted'], 'b was removed, but the request it had waiting is served; a2 still waits for a\'s old rate')
  limiters.apply(describe(t, { c: 'scope: x' }))
  t.same(Object.keys(limiters.status()), ['a', 'c'])
  limiters.close()
  t.equal(clock.pendingTimers(), 0)
})

t.test('an account dropped and back while its requests are in flight keeps counting them', async (t) => {
  const { admit, release, heard, limiters } = setup(t, describe(t, { c: 'scope: x' }), accountLimits({ maxInFlight: 1 }))
  const c1 = admit('c', 'c1')
  limiters.apply(describe(t, {}))
  t.equal(limiters.forProfile('c'), undefined)
  limiters.apply(describe(t, { c: 'scope: x' }))
  admit('c', 'c2')
  t.same(heard, ['c1 granted'], 'c1 still holds the account\'s one slot')
  release(c1)
  t.same(heard, ['c1 granted', 'c2 granted'])
})

/** A budget in memory that says when it is closed. */
function closable (limits: Limits, clock: ManualClock, closed: string[], name: string): Budget {
  const memory = new MemoryBudget(limits, clock)
  return {
    take: () => memory.take(),
    release: (lease) => memory.release(lease),
    throttled: (lease, ms) => memory.throttled(lease, ms),
    answered: (lease) => memory.answered(lease),
    inFlight: () => memory.inFlight(),
    pause: () => memory.pause(),
    close: () => { closed.push(name) }
  }
}

t.test('a budget no longer used is closed once nothing of it runs: a replaced cap, a dropped account, and all at close()', async (t) => {
  const clock = new ManualClock()
  const closed: string[] = []
  const { admit, release, limiters } = setup(t, describe(t, { a: 'maxInFlight: 2', c: 'maxInFlight: 1' }), undefined, {
    clock,
    budgetFor: (account, profile, limits) => closable(limits, clock, closed, `${account.clientId}/${profile ?? '*'}`)
  })
  const a1 = admit('a', 'a1')
  const c1 = admit('c', 'c1')
  limiters.apply(describe(t, { a: 'maxInFlight: 3' }))
  t.same(closed, [], 'a\'s old cap and c\'s account still hold a request each')
  release(a1)
  t.same(closed, ['demo-client/a'], 'a\'s old cap goes with its last request; a\'s account stays')
  release(c1)
  t.same(closed, ['demo-client/a', 'other-client/c', 'other-client/*'], 'c\'s cap, then its account, which no profile uses any more')
  limiters.close()
  t.same(closed.slice(3), ['demo-client/a', 'demo-client/*'], 'at close(): the caps and accounts in use')
})

t.test('accountsStatus(): the account-wide limits, and each account named by its limited profiles, with its count and pause', async (t) => {
  const { admit, limiters, clock } = setup(t, describe(t, { b: 'scope: other', c: 'maxInFlight: 1', d: 'scope: d' }), accountLimits({ maxInFlight: 4 }))
  const a1 = admit('a', 'a1')
  admit('b', 'b1')
  admit('c', 'c1')
  limiters.forProfile('a')?.throttled(a1.lease as Lease, '2', undefined)
  t.same(limiters.accountsStatus(), {
    enabled: true,
    per: 'account',
    maxInFlight: 4,
    rateLimit: 0,
    rateBurst: 0,
    queueTimeoutMs: 10_000,
    queueMax: 1000,
    accounts: [
      { profiles: ['a', 'b', 'd'], inFlight: 2, pause: { until: new Date(clock.wallNow() + 2000).toISOString(), remainingMs: 2000, cause: 'retry-after', consecutive429s: 1 } },
      { profiles: ['c'], inFlight: 1, pause: null }
    ]
  })
  limiters.apply(describe(t, {}))
  t.match(limiters.accountsStatus(), { enabled: true, accounts: [{ profiles: ['a'] }] })
  const none = setup(t, describe(t, { b: 'scope: other' }), undefined)
  t.same(none.limiters.accountsStatus(), { enabled: false, per: 'account', maxInFlight: 0, rateLimit: 0, rateBurst: 0, queueTimeoutMs: 10_000, queueMax: 1000, accounts: [] }, 'no limit anywhere')
})

t.test('a retired limiter whose waiters all timed out is closed at the next release in its account', async (t) => {
  const clock = new ManualClock()
  const closed: string[] = []
  const { admit, release, limiters, heard } = setup(t, describe(t, { a: 'maxInFlight: 2', b: 'scope: other' }), accountLimits({ maxInFlight: 1, queueTimeoutMs: 1000 }), {
    clock,
    budgetFor: (account, profile, limits) => closable(limits, clock, closed, `${account.clientId}/${profile ?? '*'}`)
  })
  const b1 = admit('b', 'b1')
  admit('a', 'a1')
  limiters.apply(describe(t, { a: 'maxInFlight: 3', b: 'scope: other' }))
  await clock.advance(1000)
  t.same(heard, ['b1 granted', 'a1 refused: timeout'], 'a1 waited in a\'s old limiter until its deadline')
  t.same(closed, [], 'nothing of the old limiter ran or waited, but no release has happened yet')
  release(b1)
  t.same(closed, ['demo-client/a'], 'the next release closes a\'s old cap')
})
