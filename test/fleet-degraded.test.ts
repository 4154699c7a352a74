// Redis is never a single point of failure (SPEC §12): down, frozen or gone mid-run, each replica goes on alone,
// says so once in its log, its /-/status and a metric, stays ready, and rejoins by itself.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { tokenKeys } from '../src/fleet/keys.js'
import { DEMO_API_KEY, DEMO_CLIENT_ID } from '../src/mock/roecny.js'
import { startReplica, TEST_TIMINGS } from './helpers/fleet.js'
import type { Replica } from './helpers/fleet.js'
import { NO_REDIS, startRedis } from './helpers/redis.js'
import { startMock } from './helpers/stack.js'
import { until } from './helpers/until.js'

const DEGRADED = 'fleet: Redis is unavailable; this replica goes on alone (own login, local limits) until it is back'
const REJOINED = 'fleet: Redis answers again; rejoined the fleet'

function count (replica: Replica, message: string): number {
  return replica.logs.records().filter((record) => record.msg === message).length
}

async function fleetState (replica: Replica): Promise<unknown> {
  return (await replica.status()).fleet
}

/** The login lock of the fleet of the demo credentials in front of `baseUrl`, as a replica names it. */
function lockOf (baseUrl: string): string {
  return tokenKeys('roecny-auth-proxy', { baseUrl, clientId: DEMO_CLIENT_ID, apiKey: DEMO_API_KEY, scope: undefined, loginAs: undefined }).lock
}

async function get (replica: Replica): Promise<number> {
  const res = await request(`${replica.url}/api/v1/balances/current`)
  await res.body.dump()
  return res.statusCode
}

t.test('Redis down at start: the replica logs in alone, is ready, shows degraded once, and joins when Redis comes', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t, { password: 'pw-91x7' })
  await redis.kill()
  const mock = await startMock(t)
  const replica = await startReplica(t, mock, redis.url)
  await until(() => replica.proxy.tokens.isReady(), 'a token of its own')
  t.equal(mock.logins.length, 1)
  t.equal((await request(`${replica.url}/-/readyz`)).statusCode, 200, 'readiness does not depend on Redis')
  t.equal(await fleetState(replica), 'degraded')
  t.match(await (await request(`${replica.url}/-/metrics`)).body.text(), /^roecny_proxy_fleet_degraded 1$/m)
  t.equal(await get(replica), 200)
  await redis.restart()
  await until(async () => await fleetState(replica) === 'joined', 'the replica to join', 15_000)
  t.equal(count(replica, DEGRADED), 1, 'one warning, not one per attempt')
  t.equal(count(replica, REJOINED), 1, 'one line when it rejoins')
  const warning = replica.logs.records().find((record) => record.msg === DEGRADED) as Record<string, unknown>
  t.equal(warning.level, 'warn')
  t.notMatch(replica.logs.lines.join('\n'), 'pw-91x7', 'the Redis password is in no log line')
  t.match(await (await request(`${replica.url}/-/metrics`)).body.text(), /^roecny_proxy_fleet_degraded 0$/m)
})

t.test('Redis killed mid-run: requests go on, a 401 costs each replica a login of its own, and the fleet rejoins', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const a = await startReplica(t, mock, redis.url)
  await until(() => a.proxy.tokens.isReady(), 'the first token')
  const b = await startReplica(t, mock, redis.url)
  await until(() => b.proxy.tokens.isReady(), 'the adopted token')
  t.equal(mock.logins.length, 1)
  await redis.kill()
  await until(async () => await fleetState(a) === 'degraded' && await fleetState(b) === 'degraded', 'both replicas to notice')
  t.same(await Promise.all([get(a), get(b)]), [200, 200], 'the token they hold keeps serving')
  mock.revokeAll()
  t.same(await Promise.all([get(a), get(b)]), [200, 200], 'a 401 is answered by a login of their own')
  t.equal(mock.logins.length, 3)
  await redis.restart()
  await until(async () => await fleetState(a) === 'joined' && await fleetState(b) === 'joined', 'both replicas to rejoin', 15_000)
  // Back in the fleet: the next 401 costs one login again.
  mock.revokeAll()
  t.same(await Promise.all([get(a), get(b)]), [200, 200])
  t.equal(mock.logins.length, 4, 'one fleet login after rejoining')
})

t.test('a frozen Redis (connections open, no answer) holds no login up: the replica degrades after a bounded wait', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  redis.freeze()
  const started = performance.now()
  const replica = await startReplica(t, mock, redis.url, { LOGIN_TIMEOUT_MS: '1500' })
  await until(() => replica.proxy.tokens.isReady(), 'a token of its own')
  // Unbounded, the first connection would wait as long as Redis stays frozen (slack for a loaded machine).
  t.ok(performance.now() - started < 6000, 'ready within one LOGIN_TIMEOUT_MS (1.5 s) and a login')
  t.equal(await fleetState(replica), 'degraded')
  redis.thaw()
  await until(async () => await fleetState(replica) === 'joined', 'the replica to join', 15_000)
  t.equal(count(replica, DEGRADED), 1)
})

t.test('Redis answering too slowly mid-run: a command times out, the replica degrades, then probes its way back', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const replica = await startReplica(t, mock, redis.url)
  await until(() => replica.proxy.tokens.isReady(), 'the first token')
  t.equal(await fleetState(replica), 'joined')
  redis.freeze()
  mock.revokeAll()
  t.equal(await get(replica), 200, 'the 401 is answered by a login of its own once Redis times out')
  t.equal(await fleetState(replica), 'degraded')
  t.equal(mock.logins.length, 2)
  redis.thaw()
  await until(async () => await fleetState(replica) === 'joined', 'the probe to find Redis back', 15_000)
  t.equal(count(replica, REJOINED), 1)
})

t.test('a replica that died holding the fleet\'s lock blocks the others no longer than LOGIN_TIMEOUT_MS', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const client = await redis.client()
  // The lock of the default fleet, as a replica that died mid-login left it.
  const first = await startReplica(t, mock, redis.url, { LOGIN_TIMEOUT_MS: '1000' })
  await until(() => first.proxy.tokens.isReady(), 'the first token')
  // On a loaded machine the first connection may outlast LOGIN_TIMEOUT_MS: the replica then joins a moment later.
  await until(async () => await fleetState(first) === 'joined', 'the replica to join')
  const lockKey = lockOf(mock.url)
  await client.set(lockKey, 'a-replica-that-died', { expiration: { type: 'PX', value: 60_000 } })
  mock.revokeAll()
  const started = performance.now()
  const res = await request(`${first.url}/api/v1/balances/current`)
  await res.body.dump()
  t.equal(res.statusCode, 503, 'no token within LOGIN_TIMEOUT_MS: the request gets the usual 503')
  // Unbounded, it would wait for the lock's 60 s (slack for a loaded machine).
  t.ok(performance.now() - started < 6000, 'the wait was bounded by LOGIN_TIMEOUT_MS (1 s)')
  const status = await first.status()
  t.match(status.lastLoginError, { message: 'the fleet\'s login did not finish within LOGIN_TIMEOUT_MS' })
  t.equal(mock.logins.length, 1, 'it did not log in past the lock')
  await client.del(lockKey)
  await until(() => first.proxy.tokens.isReady(), 'the retry to log in once the lock is gone', 15_000)
  t.equal(mock.logins.length, 2)
})

t.test('a rotated REDIS_URL_FILE moves the replica to the new Redis', { skip: NO_REDIS }, async (t) => {
  const one = await startRedis(t)
  const two = await startRedis(t)
  const mock = await startMock(t)
  const dir = t.testdir({ url: one.url })
  const replica = await startReplica(t, mock, undefined, { REDIS_URL_FILE: join(dir, 'url'), SECRETS_POLL_MS: '0' })
  await until(() => replica.proxy.tokens.isReady(), 'the first token')
  t.equal(await fleetState(replica), 'joined')
  writeFileSync(join(dir, 'url'), two.url)
  replica.proxy.reloadSecrets()
  const client = await two.client()
  await until(async () => (await client.clientList()).length >= 3, 'the replica\'s two connections at the new Redis')
  await until(async () => await fleetState(replica) === 'joined', 'the replica to join the new Redis')
  // The next login is stored in the new Redis.
  mock.revokeAll()
  t.equal(await get(replica), 200)
  await until(async () => Object.keys(await two.dump()).some((key) => key.endsWith(':token')), 'the token stored at the new Redis')
  t.notMatch(replica.logs.lines.join('\n'), one.url, 'no log line holds the URL')
})

t.test('stopping the token lifecycle while it waits for another replica\'s login ends the wait at once', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const first = await startReplica(t, mock, redis.url)
  await until(() => first.proxy.tokens.isReady(), 'the first token')
  await until(async () => await fleetState(first) === 'joined', 'the replica to join')
  const lockKey = lockOf(mock.url)
  const client = await redis.client()
  await client.set(lockKey, 'a-replica-logging-in', { expiration: { type: 'PX', value: 60_000 } })
  mock.revokeAll()
  // The 401 retires the token; the new login waits for the lock's holder (LOGIN_TIMEOUT_MS, 10 s by default).
  const pending = request(`${first.url}/api/v1/balances/current`).then(async (res) => {
    await res.body.dump()
    return res.statusCode
  })
  await until(() => !first.proxy.tokens.isReady() && first.proxy.tokens.loginInFlight(), 'the wait for the fleet\'s login')
  const started = performance.now()
  // What shutdown does once the last request is answered (and new credentials do to a login in flight).
  await first.proxy.tokens.stop()
  // Waiting it out would take LOGIN_TIMEOUT_MS, 10 s (slack for a loaded machine).
  t.ok(performance.now() - started < 5000, 'stopped without waiting out LOGIN_TIMEOUT_MS')
  t.equal(await pending, 503, 'the waiting request got its answer: no token')
  t.equal(mock.logins.length, 1, 'no login past the lock')
})

t.test('a Redis that stalls shows as degraded within seconds on a replica that sends it nothing (no limits)', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const replica = await startReplica(t, mock, redis.url)
  await until(() => replica.proxy.tokens.isReady(), 'the first token')
  await until(async () => await fleetState(replica) === 'joined', 'the replica to join')
  redis.freeze()
  const stalled = performance.now()
  // Its bound: one probe period and one command's timeout (2 s); five times that for a loaded machine.
  const boundMs = TEST_TIMINGS.probeMs + 2000
  await until(async () => await fleetState(replica) === 'degraded', 'the replica to notice the stall', 5 * boundMs)
  t.ok(performance.now() - stalled < 5 * boundMs, `degraded ${Math.round(performance.now() - stalled)} ms after the stall`)
  t.equal(count(replica, DEGRADED), 1)
  redis.thaw()
  await until(async () => await fleetState(replica) === 'joined', 'the replica to rejoin', 5 * boundMs)
  t.equal(count(replica, REJOINED), 1)
})

t.test('a replica that went on alone and is moved to another Redis by REDIS_URL_FILE logs its return', { skip: NO_REDIS }, async (t) => {
  const one = await startRedis(t)
  const two = await startRedis(t)
  const mock = await startMock(t)
  const dir = t.testdir({ url: one.url })
  const replica = await startReplica(t, mock, undefined, { REDIS_URL_FILE: join(dir, 'url'), SECRETS_POLL_MS: '0' })
  await until(async () => await fleetState(replica) === 'joined', 'the replica to join')
  await one.kill()
  await until(async () => await fleetState(replica) === 'degraded', 'the replica to go on alone')
  writeFileSync(join(dir, 'url'), two.url)
  replica.proxy.reloadSecrets()
  await until(async () => await fleetState(replica) === 'joined', 'the replica to join the new Redis')
  t.equal(count(replica, DEGRADED), 1)
  t.equal(count(replica, REJOINED), 1, 'its return is logged, whichever way it came')
})
