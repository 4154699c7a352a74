// Fleet mode with real processes (SPEC §12): replicas of the built CLI on one real redis-server, the mock counting logins.
import t from 'tap'
import { request } from 'undici'
import { get, queued, spawnReplica } from './helpers/fleet.js'
import type { ReplicaProcess } from './helpers/fleet.js'
import { NO_REDIS, startRedis } from './helpers/redis.js'
import { startMock } from './helpers/stack.js'
import { until } from './helpers/until.js'

/** Real time for many processes to start on a loaded machine. */
const START_DEADLINE_MS = 120_000

async function isReady (replica: ReplicaProcess): Promise<boolean> {
  const res = await request(`${replica.url}/-/readyz`)
  await res.body.dump()
  return res.statusCode === 200
}

async function allReady (replicas: ReplicaProcess[]): Promise<boolean> {
  return (await Promise.all(replicas.map(isReady))).every(Boolean)
}

t.test('20 replicas cold-started together cost one login', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const replicas = await Promise.all(Array.from({ length: 20 }, async () => await spawnReplica(t, mock, redis.url)))
  await until(async () => await allReady(replicas), 'all 20 replicas to be ready', START_DEADLINE_MS)
  t.equal(mock.logins.length, 1, 'one login for 20 replicas')
  t.same(new Set(await Promise.all(replicas.map((replica) => get(replica)))), new Set([200]), 'every replica forwards with it')
  const states = await Promise.all(replicas.map(async (replica) => (await replica.status()).fleet))
  t.same(new Set(states), new Set(['joined']))
})

t.test('a refresh across 3 replicas costs one login per token lifetime', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  // 4 s tokens: refreshed at about 2.6 s (TOKEN_REFRESH_RATIO 0.67), handed out until 3.6 s.
  const lifetimeMs = 4000
  const mock = await startMock(t, { tokenLifetimeSeconds: lifetimeMs / 1000 })
  const replicas = await Promise.all([1, 2, 3].map(async () => await spawnReplica(t, mock, redis.url)))
  await until(async () => await allReady(replicas), 'the 3 replicas to be ready', START_DEADLINE_MS)
  // Four logins: the first, then three refreshes, about 10 s of real time; requests keep flowing meanwhile.
  const answers: number[] = []
  await until(async () => {
    answers.push(...await Promise.all(replicas.map((replica) => get(replica))))
    return mock.logins.length >= 4
  }, 'three refreshes', 60_000)
  t.same(new Set(answers), new Set([200]), 'no request went without a token across the refreshes')
  const times = mock.logins.map((login) => login.arrivedAt)
  for (let i = 1; i < times.length; i++) {
    // Without fleet mode the 3 replicas would log in within milliseconds of each other, 3 per lifetime.
    t.ok((times[i] as number) - (times[i - 1] as number) >= lifetimeMs / 2, `refresh ${i} came half a lifetime or more after the one before`)
  }
  const tokens = new Set(await Promise.all(replicas.map(async (replica) => (await replica.status()).token)))
  t.ok(tokens.size >= 1)
})

t.test('an upstream 401 costs one fleet login across 3 replicas', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const replicas = await Promise.all([1, 2, 3].map(async () => await spawnReplica(t, mock, redis.url)))
  await until(async () => await allReady(replicas), 'the 3 replicas to be ready', START_DEADLINE_MS)
  t.equal(mock.logins.length, 1)
  mock.revokeAll()
  t.same(await Promise.all(replicas.map((replica) => get(replica))), [200, 200, 200], 'each request replayed with the new token')
  t.equal(mock.logins.length, 2, 'one login after the 401s')
})

t.test('Redis killed and restarted mid-load: no request is lost and the fleet rejoins', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const replicas = await Promise.all([1, 2, 3].map(async () => await spawnReplica(t, mock, redis.url)))
  await until(async () => await allReady(replicas), 'the 3 replicas to be ready', START_DEADLINE_MS)
  const answers: number[] = []
  const run = { loading: true }
  // Four clients per replica, each sending request after request until told to stop.
  const load = Promise.all(replicas.flatMap((replica) => [1, 2, 3, 4].map(async () => {
    while (run.loading) answers.push(await get(replica))
  })))
  await until(() => answers.length >= 50, 'the load to run')
  await redis.kill()
  await until(async () => (await Promise.all(replicas.map(async (r) => (await r.status()).fleet))).every((s) => s === 'degraded'), 'every replica to go on alone')
  const during = answers.length
  await until(() => answers.length >= during + 50, 'requests to flow while Redis is away')
  await redis.restart()
  await until(async () => (await Promise.all(replicas.map(async (r) => (await r.status()).fleet))).every((s) => s === 'joined'), 'every replica to rejoin', 30_000)
  const after = answers.length
  await until(() => answers.length >= after + 50, 'requests to flow after the rejoin')
  run.loading = false
  await load
  t.same(new Set(answers), new Set([200]), `all ${answers.length} requests answered 200`)
  for (const replica of replicas) {
    const warnings = replica.child.stdout.filter((line) => line.includes('fleet: Redis is unavailable'))
    t.equal(warnings.length, 1, 'one warning per replica')
  }
  // Back in the fleet: one login for the next 401.
  const before = mock.logins.length
  mock.revokeAll()
  t.same(await Promise.all(replicas.map((replica) => get(replica))), [200, 200, 200])
  t.equal(mock.logins.length, before + 1, 'one fleet login again')
})

t.test('a killed replica\'s in-flight slots come back to the fleet within seconds', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const env = { UPSTREAM_MAX_IN_FLIGHT: '2', UPSTREAM_QUEUE_TIMEOUT_MS: '30000' }
  const [doomed, survivor] = await Promise.all([1, 2].map(async () => await spawnReplica(t, mock, redis.url, env))) as [ReplicaProcess, ReplicaProcess]
  await until(async () => await allReady([doomed, survivor]), 'both replicas to be ready', START_DEADLINE_MS)
  // The doomed replica takes both of the fleet's slots, then dies holding them.
  const cut = [1, 2].map(async () => await get(doomed, '/api/v1/test/held').catch(() => 0))
  await until(() => mock.held.length === 2, 'both slots in use at Roecny')
  const waiting = get(survivor)
  await until(async () => await queued(survivor) === 1, 'the survivor\'s request to wait for a slot')
  const killedAt = performance.now()
  doomed.child.process.kill('SIGKILL')
  await Promise.all(cut)
  t.equal(await waiting, 200, 'the waiting request got a slot the dead replica held')
  const waitedMs = performance.now() - killedAt
  t.ok(waitedMs < 10_000, `the slots came back ${Math.round(waitedMs)} ms after the kill`)
})
