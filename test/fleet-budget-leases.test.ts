// The fleet's budget on its own against a real redis-server, on a hand-driven clock: one count of what a replica has
// in flight whichever budget granted it, leases granted while Redis was away counted once it is back, no lease left
// by a take answered too late, and an expiry on every key it writes.
import t from 'tap'
import type { Test } from 'tap'
import { FleetBudget, RECHECK_MS } from '../src/fleet/fleet-budget.js'
import { budgetKeys } from '../src/fleet/keys.js'
import { FleetLink } from '../src/fleet/link.js'
import { ComposedBudget } from '../src/limits/composed-budget.js'
import type { Lease, Limits, Take } from '../src/limits/limiter.js'
import { isLease } from '../src/limits/limiter.js'
import { createLogger } from '../src/log.js'
import { ManualClock } from './helpers/manual-clock.js'
import { NO_REDIS, startRedis } from './helpers/redis.js'
import type { TestRedis } from './helpers/redis.js'
import { until } from './helpers/until.js'

const KEYS = budgetKeys('budget-test', { baseUrl: 'https://roecny.test', clientId: 'client-1' })
const COMMAND_TIMEOUT_MS = 2000
const PROBE_MS = 250
// Redis counts a lease on its own clock, in real time, while this clock stands still unless advanced: long enough for a loaded machine.
const LEASE_MS = 10_000
const RENEW_MS = 200

function limits (overrides: Partial<Limits>): Limits {
  return { maxInFlight: 0, rateLimit: 0, rateBurst: 0, queueTimeoutMs: 10_000, queueMax: 1000, ...overrides }
}

interface Side { link: FleetLink, budget: FleetBudget }

/** A replica's link and budget on `redis`, on `clock`; joined before it returns. */
async function side (t: Test, redis: TestRedis, clock: ManualClock, overrides: Partial<Limits>): Promise<Side> {
  const link = new FleetLink({
    url: redis.url,
    ca: undefined,
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
    joinTimeoutMs: 60_000,
    clock,
    log: createLogger('silent'),
    probeMs: PROBE_MS,
    reconnectCapMs: 500
  })
  t.teardown(() => link.close())
  const budget = new FleetBudget(limits(overrides), { link, keys: KEYS, clock, leaseMs: LEASE_MS, renewMs: RENEW_MS })
  await until(() => link.state() === 'joined', 'the link to join')
  return { link, budget }
}

async function lease (took: Take | Promise<Take>): Promise<Lease & { id?: string }> {
  const answer = await took
  if (!isLease(answer)) throw new Error(`expected a lease, got ${String(answer)}`)
  return answer
}

async function members (redis: TestRedis): Promise<string[]> {
  return (await (await redis.client()).zRange(KEYS.leases, 0, -1)).sort()
}

t.test('one count per replica: at its limit no start is asked of Redis, whichever budget granted its leases', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const clock = new ManualClock()
  const { budget } = await side(t, redis, clock, { maxInFlight: 2 })
  const first = await lease(budget.take())
  await lease(budget.take())
  t.equal(budget.inFlight(), 2)
  t.equal(budget.take(), Infinity, 'at its own limit: wait for a release of its own, Redis not asked')
  budget.release(first)
  t.equal(budget.inFlight(), 1)
  await lease(budget.take())
  t.same((await members(redis)).length, 2, 'two leases in the fleet\'s set')
})

t.test('leases granted while Redis was away count against the fleet\'s limit once it is back', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const clock = new ManualClock()
  const a = await side(t, redis, clock, { maxInFlight: 2 })
  const b = await side(t, redis, clock, { maxInFlight: 2 })
  await redis.kill()
  await until(() => a.link.state() === 'degraded' && b.link.state() === 'degraded', 'both links to notice')
  const held = [await lease(a.budget.take()), await lease(a.budget.take()), await lease(b.budget.take())]
  t.equal(a.budget.take(), Infinity, 'alone, each replica keeps its own limit')
  // Granted and released while Redis is away: nothing of it was sent, nothing is registered.
  b.budget.release(await lease(b.budget.take()))
  t.equal(b.budget.inFlight(), 1)
  await redis.restart()
  await until(() => a.link.state() === 'joined' && b.link.state() === 'joined', 'both links to rejoin', 20_000)
  await until(async () => (await members(redis)).length === 3, 'the three leases still in flight to be registered')
  t.same(await members(redis), held.map((l) => l.id).sort(), 'registered under their own ids')
  t.equal(await b.budget.take(), RECHECK_MS, 'the fleet is at its limit (3 of 2 in flight): the other replica waits')
  a.budget.release(held[0] as Lease)
  a.budget.release(held[1] as Lease)
  await until(async () => (await members(redis)).length === 1, 'the released leases to leave the set')
  const next = await lease(b.budget.take())
  t.equal(b.budget.inFlight(), 2, 'granted once below the limit, counted with the one held')
  t.same(await members(redis), [held[2]?.id, next.id].sort())
})

t.test('a take answered too late leaves no lease: the one it made is taken back behind it', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const clock = new ManualClock()
  const { link, budget } = await side(t, redis, clock, { maxInFlight: 3 })
  const shared = await lease(budget.take())
  redis.freeze()
  const pending = budget.take()
  await clock.advance(COMMAND_TIMEOUT_MS)
  t.equal(link.state(), 'degraded', 'no answer within the bound')
  const local = await lease(pending)
  t.equal(budget.inFlight(), 2, 'the request went on under the replica\'s own budget')
  redis.thaw()
  // The stalled connection runs what waited on it in order: the late take, the lease taken back, the probe's PING.
  await until(async () => {
    await clock.advance(PROBE_MS)
    return link.state() === 'joined'
  }, 'the probe to find Redis back')
  await until(async () => (await members(redis)).includes(local.id as string), 'the local lease to be registered')
  t.same(await members(redis), [shared.id, local.id].sort(), 'only the leases held: none made by the late take')
})

t.test('every key the budget writes expires by itself: leases, bucket, pause', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const clock = new ManualClock()
  const { budget } = await side(t, redis, clock, { maxInFlight: 2, rateLimit: 5, rateBurst: 5 })
  const held = await lease(budget.take())
  budget.throttled(held, 3000)
  const client = await redis.client()
  await until(async () => await client.exists(KEYS.pause) === 1, 'the fleet\'s pause to be stored')
  const ttls = await redis.ttls()
  t.same(Object.keys(ttls).sort(), [KEYS.bucket, KEYS.leases, KEYS.pause].sort())
  for (const [key, ms] of Object.entries(ttls)) t.ok(ms > 0, `${key} expires (PTTL ${ms})`)
  t.ok((ttls[KEYS.leases] as number) <= LEASE_MS, 'the leases\' set lapses with its last lease')
  const wait = await budget.take()
  t.ok(typeof wait === 'number' && wait > 1000 && wait <= 3600, `paused: a start waits for the fleet's pause (3 s and its jitter: ${String(wait)} ms)`)
  // Renewed: the set's expiry moves with its leases.
  await client.pExpire(KEYS.leases, 100)
  await clock.advance(RENEW_MS)
  await until(async () => await client.pTTL(KEYS.leases) > 100, 'the renewal to push the set\'s expiry')
  budget.release(held)
  await until(async () => await client.exists(KEYS.leases) === 0, 'the set gone with its last lease')
})

t.test('with a rate limit only, leases carry no id and still count in flight, in the fleet or alone', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const clock = new ManualClock()
  const { budget } = await side(t, redis, clock, { rateLimit: 100, rateBurst: 2 })
  const shared = await lease(budget.take())
  t.equal(shared.id, undefined)
  t.equal(budget.inFlight(), 1)
  await redis.kill()
  const local = await lease(budget.take())
  t.equal(local.id, undefined, 'granted alone: Redis away')
  await lease(budget.take())
  t.equal(budget.inFlight(), 3)
  t.equal(await budget.take(), 10, 'the local bucket (burst 2) is spent: 10 ms to the next token')
  budget.release(shared)
  budget.release(local)
  t.equal(budget.inFlight(), 1)
})

t.test('close(): no renewal after it, and a rejoin registers nothing of it', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const clock = new ManualClock()
  const { link, budget } = await side(t, redis, clock, { maxInFlight: 2 })
  const held = await lease(budget.take())
  t.same(await members(redis), [held.id])
  budget.close()
  await (await redis.client()).del(KEYS.leases)
  await redis.kill()
  await until(() => link.state() === 'degraded', 'the link to notice')
  await redis.restart()
  await until(() => link.state() === 'joined', 'the link to rejoin')
  await clock.advance(RENEW_MS * 3)
  t.same(await members(redis), [], 'the closed budget\'s lease was neither renewed nor registered again')
})

t.test('untake(): a start the account refused gives the cap its slot and its rate token back, in the fleet and alone', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const clock = new ManualClock()
  const { link, budget: account } = await side(t, redis, clock, { maxInFlight: 1 })
  const client = await redis.client()
  // A cap with slots and a rate, and one with a rate only (its leases carry no id).
  const caps = ['reporting', 'exports'].map((name, i) => {
    const keys = budgetKeys('budget-test', { baseUrl: 'https://roecny.test', clientId: 'client-1' }, name)
    const cap = new FleetBudget(limits({ maxInFlight: i === 0 ? 5 : 0, rateLimit: 1, rateBurst: 1 }), { link, keys, clock, leaseMs: LEASE_MS, renewMs: RENEW_MS })
    t.teardown(() => cap.close())
    return { keys, cap, composed: new ComposedBudget(cap, account, () => {}) }
  })
  const holder = await lease(account.take())
  for (const { keys, cap, composed } of caps) {
    t.equal(await composed.take(), Infinity, 'the account is full: the cap\'s lease went back')
    await until(async () => await client.zCard(keys.leases) === 0 && Number(await client.hGet(keys.bucket, 'tokens')) === 1, 'the cap\'s slot to leave Redis and its one token to come back')
    t.equal(cap.inFlight(), 0)
  }
  account.release(holder)
  await until(async () => await client.zCard(KEYS.leases) === 0, 'the account\'s slot to be free')
  for (const { composed } of caps) {
    const started = await lease(composed.take())
    t.ok(started, 'the capped caller starts at once: its rate was not spent on the refusal')
    composed.release(started)
  }

  await redis.kill()
  await until(() => link.state() === 'degraded', 'the link to notice')
  const { composed } = caps[0] as { composed: ComposedBudget }
  const alone = await lease(account.take())
  t.equal(await composed.take(), Infinity, 'alone, the account is full')
  account.release(alone)
  const local = await lease(composed.take())
  t.ok(local, 'the cap\'s local token came back too')
  composed.release(local)
})

t.test('a lease released while the link is still joining is not registered when it joins', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const clock = new ManualClock()
  redis.freeze()
  t.teardown(() => redis.thaw())
  const link = new FleetLink({ url: redis.url, ca: undefined, commandTimeoutMs: COMMAND_TIMEOUT_MS, joinTimeoutMs: 60_000, clock, log: createLogger('silent'), probeMs: PROBE_MS, reconnectCapMs: 500 })
  t.teardown(() => link.close())
  const budget = new FleetBudget(limits({ maxInFlight: 2 }), { link, keys: KEYS, clock, leaseMs: LEASE_MS, renewMs: RENEW_MS })
  t.teardown(() => budget.close())
  const held = await lease(budget.take())
  await clock.advance(RENEW_MS)
  t.equal(link.state(), 'joining', 'Redis holds the connection and answers nothing: the renewal waits for the join')
  budget.release(held)
  redis.thaw()
  await until(() => link.state() === 'joined', 'the link to join')
  const other = await lease(budget.take())
  t.same(await members(redis), [other.id], 'only the lease taken after the join: the released one was not registered by the waiting renewal')
})
