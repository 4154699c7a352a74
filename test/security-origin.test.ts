// Browsers: cross-site requests are refused; PROXY_CORS_ORIGINS lets listed origins in, with the proxy answering preflights.
import { test } from 'tap'
import { expectProxyError, send, upstreamView } from './helpers/raw.js'
import { startStack } from './helpers/stack.js'

const APP_ORIGIN = 'http://localhost:3000'

test('without PROXY_CORS_ORIGINS every cross-site browser request gets 403 PROXY_FORBIDDEN_ORIGIN', async (t) => {
  const stack = await startStack(t)
  const view = upstreamView(stack.mock)
  const cases: Array<[string, Record<string, string>, string?]> = [
    ['GET', { Origin: 'https://evil.example' }],
    ['GET', { Origin: 'null' }],
    ['GET', { Origin: 'http://localhost:3000' }],
    ['GET', { 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'no-cors', 'Sec-Fetch-Dest': 'image' }],
    ['GET', { 'Sec-Fetch-Site': 'same-site', 'Sec-Fetch-Mode': 'navigate' }],
    // The "simple" requests a page may send without a preflight: the browser sends them, so the proxy must refuse them.
    ['POST', { Origin: 'https://evil.example', 'Content-Type': 'text/plain' }, '{"amount":1000,"to":"attacker"}'],
    ['POST', { Origin: 'null', 'Content-Type': 'application/x-www-form-urlencoded' }, 'amount=1000&to=attacker'],
    ['POST', { 'Sec-Fetch-Site': 'cross-site', 'Content-Type': 'multipart/form-data; boundary=x' }, '--x--'],
    ['DELETE', { Origin: 'https://evil.example' }],
    ['OPTIONS', { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' }]
  ]
  for (const [method, headers, body] of cases) {
    const response = await send(stack.url, { method, target: '/api/v1/echo/transfer', headers, body })
    expectProxyError(t, response, 403, 'PROXY_FORBIDDEN_ORIGIN', `${method} ${JSON.stringify(headers)}`)
    t.notOk(response.headers['access-control-allow-origin'], 'no CORS header on the refusal')
  }
  expectProxyError(t, await send(stack.url, { target: '/-/status', headers: { Origin: 'https://evil.example' } }), 403, 'PROXY_FORBIDDEN_ORIGIN', '/-/status')
  view.untouched(t, 'cross-site requests')
})

test('same-origin and non-browser requests go through', async (t) => {
  const stack = await startStack(t)
  for (const headers of [{}, { 'Sec-Fetch-Site': 'same-origin' }, { 'Sec-Fetch-Site': 'none' }] as Array<Record<string, string>>) {
    t.equal((await send(stack.url, { target: '/api/v1/echo/ok', headers })).status, 200, JSON.stringify(headers))
  }
  t.equal(stack.mock.requests.length, 3)
})

test('without PROXY_CORS_ORIGINS the upstream\'s Access-Control-* headers never reach the client', async (t) => {
  const stack = await startStack(t)
  // The mock answers this route with Access-Control-Allow-Origin: *.
  const response = await send(stack.url, { target: '/api/v1/test/status/200' })
  t.equal(response.status, 200)
  t.equal(stack.mock.requests.length, 1)
  t.notOk(Object.keys(response.headers).some((name) => name.startsWith('access-control-')), 'no Access-Control-* header')
})

test('with PROXY_CORS_ORIGINS the proxy answers preflights for listed origins and never forwards them', async (t) => {
  const stack = await startStack(t, { config: { corsOrigins: [APP_ORIGIN, 'https://app.example'] } })
  const view = upstreamView(stack.mock)
  const preflight = await send(stack.url, {
    method: 'OPTIONS',
    target: '/api/v1/echo/transfer',
    headers: { Origin: APP_ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type, x-request-id', 'Sec-Fetch-Site': 'same-site' }
  })
  t.equal(preflight.status, 204)
  t.equal(preflight.headers['access-control-allow-origin'], APP_ORIGIN)
  t.equal(preflight.headers['access-control-allow-methods'], 'POST')
  t.equal(preflight.headers['access-control-allow-headers'], 'content-type, x-request-id')
  t.equal(preflight.headers['access-control-max-age'], '600')
  t.match(preflight.headers.vary, /Origin/)
  t.equal(preflight.body, '')
  const bare = await send(stack.url, { method: 'OPTIONS', target: '/api/v1/echo/x', headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'GET' } })
  t.equal(bare.status, 204)
  t.notOk(bare.headers['access-control-allow-headers'], 'no headers asked, none allowed')
  expectProxyError(t, await send(stack.url, { method: 'OPTIONS', target: '/api/v1/echo/x', headers: { Origin: APP_ORIGIN, 'Access-Control-Request-Method': 'TRACE' } }), 405, 'PROXY_METHOD_NOT_ALLOWED', 'a preflight for TRACE')
  for (const origin of ['https://evil.example', 'null', 'http://localhost:3001', 'https://app.example.evil.example', 'http://app.example']) {
    const refused = await send(stack.url, { method: 'OPTIONS', target: '/api/v1/echo/x', headers: { Origin: origin, 'Access-Control-Request-Method': 'GET' } })
    expectProxyError(t, refused, 403, 'PROXY_FORBIDDEN_ORIGIN', `preflight from ${origin}`)
    t.notOk(refused.headers['access-control-allow-origin'])
  }
  view.untouched(t, 'preflights')
})

test('with PROXY_CORS_ORIGINS a listed origin calls through and may read the answer', async (t) => {
  const stack = await startStack(t, { config: { corsOrigins: [APP_ORIGIN] } })
  // A page on localhost:3000 calling localhost:8080 is same-site for the browser; its Origin is listed, so that is fine.
  const response = await send(stack.url, { method: 'POST', target: '/api/v1/echo/cors', headers: { Origin: APP_ORIGIN, 'Sec-Fetch-Site': 'same-site', 'Content-Type': 'application/json' }, body: '{}' })
  t.equal(response.status, 200)
  t.equal(response.headers['access-control-allow-origin'], APP_ORIGIN)
  t.match(response.headers.vary, /\bOrigin\b/)
  t.equal(stack.mock.requests.length, 1)
  t.equal(stack.mock.requests[0]?.headers.origin, APP_ORIGIN, 'Origin is forwarded as sent')

  // The mock answers this route with Access-Control-Allow-Origin: *; the proxy decides who reads it.
  const overridden = await send(stack.url, { target: '/api/v1/test/status/200', headers: { Origin: APP_ORIGIN } })
  t.equal(overridden.headers['access-control-allow-origin'], APP_ORIGIN)
  t.equal(overridden.headers.vary, 'Accept-Encoding, Origin', 'Roecny\'s Vary is kept and Origin added')
  const noOrigin = await send(stack.url, { target: '/api/v1/test/status/200' })
  t.equal(noOrigin.headers['access-control-allow-origin'], '*', 'Roecny\'s own CORS headers pass when CORS is configured')
  t.match(noOrigin.headers.vary, /\bOrigin\b/, 'caches keep answers for different origins apart')

  const view = upstreamView(stack.mock)
  const refused = await send(stack.url, { target: '/api/v1/echo/cors', headers: { Origin: 'https://evil.example' } })
  expectProxyError(t, refused, 403, 'PROXY_FORBIDDEN_ORIGIN', 'an origin not listed')
  t.notOk(refused.headers['access-control-allow-origin'])
  expectProxyError(t, await send(stack.url, { target: '/api/v1/echo/cors', headers: { 'Sec-Fetch-Site': 'cross-site' } }), 403, 'PROXY_FORBIDDEN_ORIGIN', 'cross-site without Origin')
  view.untouched(t, 'origins not listed')
})

test('a listed origin can read the proxy\'s own errors', async (t) => {
  const stack = await startStack(t, { config: { corsOrigins: [APP_ORIGIN], accessKeys: ['browser-app-key-0123456789'], allowMethods: ['GET', 'POST'] } })
  const view = upstreamView(stack.mock)
  // The preflight needs no key (a browser sends none with it); the request itself does.
  const preflight = await send(stack.url, { method: 'OPTIONS', target: '/api/v1/echo/x', headers: { Origin: APP_ORIGIN, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'x-proxy-key' } })
  t.equal(preflight.status, 204)
  t.equal(preflight.headers['access-control-allow-headers'], 'x-proxy-key')
  const denied = await send(stack.url, { target: '/api/v1/echo/x', headers: { Origin: APP_ORIGIN } })
  expectProxyError(t, denied, 401, 'PROXY_ACCESS_DENIED', 'no key')
  t.equal(denied.headers['access-control-allow-origin'], APP_ORIGIN)
  t.equal(denied.headers['access-control-expose-headers'], 'x-roecny-proxy-error, retry-after')
  const method = await send(stack.url, { method: 'OPTIONS', target: '/api/v1/echo/x', headers: { Origin: APP_ORIGIN, 'Access-Control-Request-Method': 'DELETE' } })
  expectProxyError(t, method, 405, 'PROXY_METHOD_NOT_ALLOWED', 'a preflight for a method the policy refuses')
  t.equal(method.headers.allow, 'GET, POST')
  view.untouched(t, 'refused browser requests')
  const allowed = await send(stack.url, { target: '/api/v1/echo/x', headers: { Origin: APP_ORIGIN, 'x-proxy-key': 'browser-app-key-0123456789' } })
  t.equal(allowed.status, 200)
  t.equal(allowed.headers['access-control-allow-origin'], APP_ORIGIN)
  t.notOk(allowed.headers['access-control-expose-headers'], 'Roecny\'s answer exposes what Roecny says')
})
