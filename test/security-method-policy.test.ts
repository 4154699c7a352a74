// PROXY_ALLOW_METHODS: a read-only sidecar forwards GET and HEAD and answers everything else 405 with Allow.
import { test } from 'tap'
import { expectProxyError, send, upstreamView } from './helpers/raw.js'
import { startStack } from './helpers/stack.js'

test('only the listed methods are forwarded', async (t) => {
  const stack = await startStack(t, { config: { allowMethods: ['GET', 'HEAD'] } })
  t.equal((await send(stack.url, { target: '/api/v1/balances/current' })).status, 200, 'GET')
  t.equal((await send(stack.url, { method: 'HEAD', target: '/api/v1/echo/head' })).status, 200, 'HEAD')
  t.same(stack.mock.requests.map((r) => r.method), ['GET', 'HEAD'])
  const view = upstreamView(stack.mock)
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'PROPFIND', 'TRACE', 'get']) {
    const response = await send(stack.url, { method, target: '/api/v1/echo/write', body: '{"amount":1}' })
    if (method === 'get') {
      // Methods are case-sensitive: Node's parser refuses a lower-case one before any route.
      expectProxyError(t, response, 400, 'PROXY_BAD_REQUEST', method)
      continue
    }
    expectProxyError(t, response, 405, 'PROXY_METHOD_NOT_ALLOWED', method)
    t.equal(response.headers.allow, 'GET, HEAD', `${method}: Allow lists what is forwarded`)
  }
  view.untouched(t, 'methods not listed')
})

test('the proxy\'s own routes are outside the method policy', async (t) => {
  const stack = await startStack(t, { config: { allowMethods: ['POST'] } })
  t.equal((await send(stack.url, { target: '/-/healthz' })).status, 200)
  t.equal((await send(stack.url, { target: '/-/status' })).status, 200)
  t.equal((await send(stack.url, { method: 'POST', target: '/api/v1/echo/p', body: '{}' })).status, 200)
  expectProxyError(t, await send(stack.url, { method: 'POST', target: '/api/v1/authentication/login' }), 403, 'PROXY_LOGIN_BLOCKED', 'the login stays blocked')
})
