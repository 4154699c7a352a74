// One budget for the fleet (SPEC §11, §12): in-flight slots, the rate and Roecny's 429 pause count across replicas,
// through a real redis-server; while Redis is away each replica keeps its own limits.
import t from 'tap'
import { get, queued, startReplica } from './helpers/fleet.js'
import type { Replica } from './helpers/fleet.js'
import { NO_REDIS, startRedis } from './helpers/redis.js'
import { startMock } from './helpers/stack.js'
import { until } from './helpers/until.js'

async function ready (...replicas: Replica[]): Promise<void> {
  await until(() => replicas.every((replica) => replica.proxy.tokens.isReady()), 'the replicas to hold a token')
}

t.test('UPSTREAM_MAX_IN_FLIGHT counts for the fleet: a slot held by one replica makes the other wait', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const env = { UPSTREAM_MAX_IN_FLIGHT: '1' }
  const a = await startReplica(t, mock, redis.url, env)
  const b = await startReplica(t, mock, redis.url, env)
  await ready(a, b)
  const held = get(a, '/api/v1/test/held')
  await until(() => mock.held.length === 1, 'the first request to be held at Roecny')
  const waiting = get(b)
  await until(async () => await queued(b) === 1, 'the other replica\'s request to wait')
  t.equal(mock.inFlight, 1, 'nothing more reached Roecny')
  mock.releaseHeld()
  t.same(await Promise.all([held, waiting]), [200, 200], 'the waiting request went once the slot was free')
  t.equal(mock.peakInFlight, 1, 'never more than one in flight across the fleet')
  t.same(Object.keys(await redis.dump()).filter((key) => key.endsWith(':leases')), [], 'no slot left behind')
})

t.test('UPSTREAM_RATE_LIMIT counts for the fleet: two replicas share one bucket', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const env = { UPSTREAM_RATE_LIMIT: '2', UPSTREAM_RATE_BURST: '1' }
  const a = await startReplica(t, mock, redis.url, env)
  const b = await startReplica(t, mock, redis.url, env)
  await ready(a, b)
  // Each replica's first request opens its connection to Roecny: slower, it would shorten the spread measured below.
  t.same([await get(a), await get(b)], [200, 200])
  const before = mock.requests.length
  t.same(await Promise.all([get(a), get(b), get(a), get(b)]), [200, 200, 200, 200])
  const arrivals = mock.requests.slice(before).map((r) => r.arrivedAt).sort((x, y) => x - y)
  t.equal(arrivals.length, 4)
  // Two per second for the fleet, one at a time: four starts take at least 1.5 s (each 2 per second alone would take 0.5 s).
  t.ok((arrivals[3] as number) - (arrivals[0] as number) >= 1400, `the four starts were spread over ${(arrivals[3] as number) - (arrivals[0] as number)} ms`)
})

t.test('Roecny\'s 429 to one replica pauses the others too', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const env = { UPSTREAM_MAX_IN_FLIGHT: '10' }
  const a = await startReplica(t, mock, redis.url, env)
  const b = await startReplica(t, mock, redis.url, env)
  await ready(a, b)
  mock.apiQueue.push({ status: 429, headers: { 'retry-after': '2' } })
  t.equal(await get(a), 429, 'the 429 goes to its client unchanged')
  // The pause runs 2 s from the 429's arrival at the replica, a moment before this point: on a
  // loaded machine the wait below may take a while, so the time is counted from here, not from b's request.
  const paused = performance.now()
  await until(async () => Object.keys(await redis.dump()).some((key) => key.endsWith(':pause')), 'the fleet\'s pause to be stored')
  t.equal(await get(b), 200)
  t.ok(performance.now() - paused >= 1000, 'the other replica\'s request waited for the fleet\'s pause')
  t.equal(((await b.status()).limits as { inFlight: number }).inFlight, 0, 'its slot released')
})

t.test('Redis away: each replica keeps its own limits, and the fleet\'s budget is used again once it is back', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const env = { UPSTREAM_MAX_IN_FLIGHT: '1' }
  const a = await startReplica(t, mock, redis.url, env)
  const b = await startReplica(t, mock, redis.url, env)
  await ready(a, b)
  await redis.kill()
  await until(async () => (await a.status()).fleet === 'degraded' && (await b.status()).fleet === 'degraded', 'both replicas to go on alone')
  const heldA = get(a, '/api/v1/test/held')
  const heldB = get(b, '/api/v1/test/held')
  await until(() => mock.held.length === 2, 'one request of each replica at Roecny: the limit is each one\'s own')
  const third = get(a)
  await until(async () => await queued(a) === 1, 'a second request of one replica to wait for its own slot')
  mock.releaseHeld()
  t.same(await Promise.all([heldA, heldB, third]), [200, 200, 200])
  await redis.restart()
  await until(async () => (await a.status()).fleet === 'joined' && (await b.status()).fleet === 'joined', 'both replicas to rejoin', 15_000)
  const held = get(a, '/api/v1/test/held')
  await until(() => mock.held.length === 3, 'a request held at Roecny')
  const waiting = get(b)
  await until(async () => await queued(b) === 1, 'the other replica to wait: the fleet\'s limit again')
  mock.releaseHeld()
  t.same(await Promise.all([held, waiting]), [200, 200])
})

t.test('a slot held longer than its lease stays held while its replica lives: the replica renews it', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const env = { UPSTREAM_MAX_IN_FLIGHT: '1' }
  const a = await startReplica(t, mock, redis.url, env)
  const b = await startReplica(t, mock, redis.url, env)
  await ready(a, b)
  const client = await redis.client()
  const held = get(a, '/api/v1/test/held')
  await until(() => mock.held.length === 1, 'the request to be held at Roecny')
  const leasesKey = Object.keys(await redis.dump()).find((key) => key.endsWith(':leases')) as string
  const [first] = await client.zRangeWithScores(leasesKey, 0, -1)
  await until(async () => ((await client.zRangeWithScores(leasesKey, 0, -1))[0]?.score ?? 0) > (first?.score ?? Infinity), 'the lease to be renewed')
  const waiting = get(b)
  await until(async () => await queued(b) === 1, 'the other replica to wait')
  mock.releaseHeld()
  t.same(await Promise.all([held, waiting]), [200, 200])
})

t.test('Redis frozen at a take: after the bounded wait the request goes on under the replica\'s own limits', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const a = await startReplica(t, mock, redis.url, { UPSTREAM_MAX_IN_FLIGHT: '1' })
  await ready(a)
  redis.freeze()
  const started = performance.now()
  t.equal(await get(a), 200)
  // Unbounded, it would wait as long as Redis stays frozen; the bound is 2 s a command (slack for a loaded machine).
  t.ok(performance.now() - started < 8000, 'the wait on Redis was bounded')
  t.equal((await a.status()).fleet, 'degraded')
  redis.thaw()
})
