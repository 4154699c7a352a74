import { test } from 'tap'
import { Agent, request } from 'undici'
import { ManualClock } from './helpers/manual-clock.js'
import { startStack } from './helpers/stack.js'
import { until } from './helpers/until.js'

test('1,000 concurrent requests on a cold proxy cause exactly one login and all succeed', async (t) => {
  // The first login is held at the mock until every request has reached the proxy. On a manual
  // clock its timeout cannot run out meanwhile, however long a busy machine takes to connect them.
  const clock = new ManualClock()
  const cold = await startStack(t, { clock, mock: { now: () => clock.wallNow() }, ready: false, beforeProxy: (mock) => mock.loginQueue.push({ held: true }) })
  const agent = new Agent({ connections: 1000 })
  t.teardown(() => agent.close())
  const answers = Array.from({ length: 1000 }, () =>
    request(`${cold.url}/api/v1/balances/current`, { dispatcher: agent }).then(async (res) => {
      await res.body.dump()
      return res.statusCode
    }))
  // Wait on I/O, not on time, until every client is connected, so the burst meets the login in flight.
  const connections = (): Promise<number> => new Promise((resolve) => cold.proxy.app.server.getConnections((_err, n) => resolve(n)))
  // A thousand connections on two busy cores may take a while: a longer deadline than the usual.
  await until(async () => await connections() >= 1000, 'every client to connect', 120_000)
  t.equal(cold.mock.logins.length, 1, 'one login in flight')
  t.equal(cold.proxy.tokens.isReady(), false, 'the proxy is still cold')
  cold.mock.releaseLogins()
  const statuses = await Promise.all(answers)
  t.same([...new Set(statuses)], [200], 'every request succeeded')
  t.equal(cold.mock.logins.length, 1, 'exactly one login')
})
