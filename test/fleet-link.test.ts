// The fleet's Redis connection on its own: a URL rotated twice while still connecting ends at the last one, the
// credentials of a URL never reach a message, and reconnection backs off.
import { once } from 'node:events'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { systemClock } from '../src/clock.js'
import { FleetLink, RECONNECT_CAP_MS, reconnectDelay, redact } from '../src/fleet/link.js'
import type { FleetState } from '../src/fleet/link.js'
import { createLogger } from '../src/log.js'
import { NO_REDIS, startRedis } from './helpers/redis.js'
import { captureLogs } from './helpers/stack.js'
import { until } from './helpers/until.js'

t.test('redact takes the URL and its user and password out of a message', async (t) => {
  const url = 'redis://fleet-user:p%40ss-w0rd@redis.internal:6379/2'
  t.equal(redact(`connect to ${url} failed`, url), 'connect to redis-url failed')
  t.equal(redact('AUTH p@ss-w0rd refused for fleet-user', url), 'AUTH *** refused for ***')
  t.equal(redact('ECONNREFUSED 127.0.0.1:6379', 'redis://127.0.0.1:6379'), 'ECONNREFUSED 127.0.0.1:6379', 'nothing to take out')
})

t.test('a URL replaced twice before the first connection is made joins the last one, counted once per change', { skip: NO_REDIS }, async (t) => {
  const one = await startRedis(t)
  const two = await startRedis(t)
  const { stream, logs } = captureLogs()
  const states: FleetState[] = []
  const link = new FleetLink({
    url: 'redis://127.0.0.1:1',
    ca: undefined,
    commandTimeoutMs: 2000,
    joinTimeoutMs: 5000,
    clock: systemClock,
    log: createLogger('info', stream),
    onState: (state) => states.push(state),
    probeMs: 250,
    reconnectCapMs: 1000
  })
  t.teardown(() => link.close())
  t.equal(link.state(), 'joining')
  t.equal(link.replaceUrl(one.url), true)
  t.equal(link.replaceUrl(two.url), true)
  t.equal(link.replaceUrl(two.url), false, 'the URL in use: nothing to do')
  await until(() => link.state() === 'joined', 'the link to join')
  t.equal(await link.run(async (client) => await client.set('where', 'two')), 'OK')
  const client = await two.client()
  t.equal(await client.get('where'), 'two', 'the command went to the last URL')
  t.same(states, ['joined'], 'still joining after each change: one change of state')
  t.same(logs.records().filter((r) => r.level === 'warn'), [], 'no warning: the replaced connections were not failures')
})

t.test('reconnection delays double from 100 ms up to the cap, the upper half of each at random', async (t) => {
  const rows: Array<[retries: number, capMs: number, random: number, delayMs: number, why: string]> = [
    [0, RECONNECT_CAP_MS, 0, 50, 'the first step is 100 ms: at least half of it'],
    [0, RECONNECT_CAP_MS, 0.999, 100, 'at most all of it'],
    [3, RECONNECT_CAP_MS, 0.5, 600, 'the fourth step is 800 ms: half, and half of the other half'],
    [8, RECONNECT_CAP_MS, 0, 12_800, 'doubling goes on'],
    [9, RECONNECT_CAP_MS, 0, 15_000, 'capped: never less than half the cap'],
    [40, RECONNECT_CAP_MS, 0.999, 29_985, 'nor more than the cap, however many attempts'],
    [5, 1000, 0, 500, 'a cap of the tests\' own']
  ]
  for (const [retries, capMs, random, delayMs, why] of rows) t.equal(reconnectDelay(retries, capMs, random), delayMs, why)
  t.equal(RECONNECT_CAP_MS, 30_000, 'by default, tens of seconds between attempts to a Redis that stays away')
})

t.test('a Redis that drops every connection is tried again after growing delays, one connection per attempt', async (t) => {
  let connections = 0
  const server = createServer((socket) => {
    connections++
    socket.destroy()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const { stream, logs } = captureLogs()
  const link = new FleetLink({
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    ca: undefined,
    commandTimeoutMs: 2000,
    joinTimeoutMs: 5000,
    // The lower end of every delay: the sequence is known.
    clock: { ...systemClock, random: () => 0 },
    log: createLogger('debug', stream),
    probeMs: 250,
    reconnectCapMs: 400
  })
  t.teardown(() => link.close())
  function attempts (connection?: string): Array<{ attempt: number, delayMs: number }> {
    return logs.records().filter((r) => r.msg === 'fleet: connecting to Redis again after a delay' && (connection === undefined || r.connection === connection)) as unknown as Array<{ attempt: number, delayMs: number }>
  }
  await until(() => attempts('commands').length >= 6, 'six attempts of the command connection')
  t.same(attempts('commands').slice(0, 6).map((a) => a.delayMs), [50, 100, 200, 200, 200, 200], 'doubling, then the cap (half of it at random 0)')
  t.same(attempts('commands').slice(0, 6).map((a) => a.attempt), [1, 2, 3, 4, 5, 6])
  const logged = attempts().length
  // Each client's first connection, then one per attempt (the last may still be on its way).
  t.ok(connections >= logged && connections <= logged + 2, `${connections} connections for ${logged} attempts logged`)
  t.equal(link.state(), 'degraded')
})
