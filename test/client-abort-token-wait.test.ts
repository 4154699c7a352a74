import { once } from 'node:events'
import { connect } from 'node:net'
import { test } from 'tap'
import { request } from 'undici'
import { startStack } from './helpers/stack.js'
import { until } from './helpers/until.js'

test('a client that goes away while the first login is awaited leaves the proxy serving', async (t) => {
  // The first login is held at the mock, so the request waits for a token in the proxy.
  const cold = await startStack(t, { ready: false, beforeProxy: (mock) => mock.loginQueue.push({ held: true }) })
  const { hostname, port } = new URL(cold.url)
  const arrived = once(cold.proxy.app.server, 'request')
  const socket = connect({ host: hostname, port: Number(port) })
  socket.write('GET /api/v1/balances/current HTTP/1.1\r\nHost: localhost\r\n\r\n')
  await arrived
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(cold.proxy.tokens.isReady(), false, 'the request is waiting for the first token')
  socket.destroy()
  const aborted = (): Record<string, unknown> | undefined => cold.logs.records().find((r) => r.msg === 'client went away')
  await until(() => aborted() !== undefined, 'the abort to be logged')
  t.match(aborted(), { method: 'GET', path: '/api/v1/balances/current', aborted: true }, 'the abort is logged')
  t.equal(cold.mock.logins.length, 1, 'the first login is still the only one, held')
  cold.mock.releaseLogins()
  const res = await request(`${cold.url}/api/v1/balances/current`)
  await res.body.dump()
  t.equal(res.statusCode, 200, 'the next request is served')
})
