import { test } from 'tap'
import { rawRequest } from './helpers/http.js'
import { buildTestApp } from './helpers/stack.js'

test('a request that arrives once the listener is closing gets 503 PROXY_DRAINING', async (t) => {
  const built = await buildTestApp(t, { state: { draining: true, closing: true } })
  const url = await built.app.listen({ host: '127.0.0.1', port: 0 })
  const response = await rawRequest(url, 'GET /api/v1/balances/current HTTP/1.1\r\nHost: localhost\r\n\r\n')
  t.match(response, /^HTTP\/1\.1 503 /)
  t.match(response, /x-roecny-proxy-error: PROXY_DRAINING/)
  t.match(response, /retry-after: 1/i)
  t.match(response, /connection: close/i, 'the client is told to reconnect elsewhere')
  t.equal(built.mock.requests.length, 0)
})
