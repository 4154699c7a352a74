// The fleet's Redis connection on its own: a URL rotated twice while still connecting ends at the last one, and
// the credentials of a URL never reach a message.
import t from 'tap'
import { systemClock } from '../src/clock.js'
import { FleetLink, redact } from '../src/fleet/link.js'
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
    onState: (state) => states.push(state)
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
