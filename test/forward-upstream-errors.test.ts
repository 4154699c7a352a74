import { test } from 'tap'
import { request } from 'undici'
import { json } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

test('slow upstream headers answer 504 PROXY_UPSTREAM_TIMEOUT', async (t) => {
  const stack = await startStack(t, { config: { upstreamTimeoutMs: 150 } })
  const res = await json<{ code: string, source: string }>(`${stack.url}/api/v1/test/hang`)
  t.equal(res.status, 504)
  t.equal(res.body.code, 'PROXY_UPSTREAM_TIMEOUT')
  t.equal(res.body.source, 'roecny-auth-proxy')
  t.equal(res.headers['x-roecny-proxy-error'], 'PROXY_UPSTREAM_TIMEOUT')
})

test('a refused connection answers 502 PROXY_UPSTREAM_UNREACHABLE', async (t) => {
  const stack = await startStack(t)
  // Stop the API after the login: the token is good, the next connection is refused.
  await stack.mock.close()
  const res = await json<{ code: string }>(`${stack.url}/api/v1/balances/current`)
  t.equal(res.status, 502)
  t.equal(res.body.code, 'PROXY_UPSTREAM_UNREACHABLE')
  t.equal(res.headers['x-roecny-proxy-error'], 'PROXY_UPSTREAM_UNREACHABLE')
})

test('an upstream that resets the connection before answering gives 502', async (t) => {
  const stack = await startStack(t)
  const res = await json<{ code: string }>(`${stack.url}/api/v1/test/reset`)
  t.equal(res.status, 502)
  t.equal(res.body.code, 'PROXY_UPSTREAM_UNREACHABLE')
  t.equal(stack.proxy.app.server.listening, true, 'the proxy still serves')
})

test('an upstream that dies mid-body aborts the client response', async (t) => {
  const stack = await startStack(t)
  const res = await request(`${stack.url}/api/v1/test/reset-mid-body`)
  t.equal(res.statusCode, 200, 'headers were already on their way')
  await t.rejects(res.body.arrayBuffer(), 'the client sees an aborted body, never a short one that looks complete')
})
