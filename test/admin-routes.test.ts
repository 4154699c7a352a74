import { test } from 'tap'
import { json } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

test('healthz, readyz and status answer without touching Roecny', async (t) => {
  const stack = await startStack(t)
  const health = await json(`${stack.url}/-/healthz`)
  t.equal(health.status, 200)
  t.equal(health.headers['cache-control'], 'no-store')
  const ready = await json(`${stack.url}/-/readyz`)
  t.equal(ready.status, 200)
  t.same(ready.body, { ready: true })
  const status = await json<Record<string, unknown>>(`${stack.url}/-/status`)
  t.equal(status.status, 200)
  t.equal(status.body.ready, true)
  t.type(status.body.version, 'string')
  t.type(status.body.uptimeSeconds, 'number')
  t.match(status.body, { token: { expiresAt: String, obtainedAt: String, refreshAt: String } })
  const text = JSON.stringify(status.body)
  t.notOk(text.includes(stack.mock.issuedTokens[0] ?? 'none'), 'no token in status')
  t.notOk(text.includes('demo-key'), 'no api key in status')
  t.equal(stack.mock.requests.length, 0, 'nothing was forwarded')
})

test('own routes are never forwarded, whatever the method or path', async (t) => {
  const stack = await startStack(t)
  const post = await json<{ code: string }>(`${stack.url}/-/healthz`, { method: 'POST', body: '{}' })
  t.equal(post.status, 405)
  t.equal(post.body.code, 'PROXY_METHOD_NOT_ALLOWED')
  const unknown = await json<{ code: string }>(`${stack.url}/-/nothing-here?x=1`)
  t.equal(unknown.status, 404)
  t.equal(unknown.body.code, 'PROXY_NOT_FOUND')
  t.equal(stack.mock.requests.length, 0)
})

test('readyz is 503 while no token is usable; healthz stays 200', async (t) => {
  const stack = await startStack(t, { mock: { apiKey: 'the-real-key' }, ready: false })
  // The proxy holds demo-key, the mock wants another: credentials are rejected.
  const ready = await json<{ reason: string }>(`${stack.url}/-/readyz`)
  t.equal(ready.status, 503)
  t.equal(ready.body.reason, 'no usable Roecny token')
  const health = await json(`${stack.url}/-/healthz`)
  t.equal(health.status, 200)
  const res = await json<{ code: string }>(`${stack.url}/api/v1/balances/current`)
  t.equal(res.status, 503)
  t.equal(res.body.code, 'PROXY_TOKEN_UNAVAILABLE')
})
