// The admin listener (ADMIN_HOST, ADMIN_PORT): only /-/healthz, /-/readyz and /-/metrics; it forwards nothing.
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { test } from 'tap'
import { request } from 'undici'
import { createLogger } from '../src/log.js'
import { startProxy } from '../src/server.js'
import { testConfig } from './helpers/config.js'
import { get, json, rawRequest } from './helpers/http.js'
import { ManualClock } from './helpers/manual-clock.js'
import { scrape } from './helpers/metrics.js'
import { startMock, startStack } from './helpers/stack.js'
import { until } from './helpers/until.js'

const ADMIN = { adminHost: '127.0.0.1', adminPort: 0 }

test('without ADMIN_PORT there is no admin listener', async (t) => {
  const stack = await startStack(t)
  t.equal(stack.proxy.adminUrl, undefined)
})

test('the admin listener serves the probes and the metrics on its own port', async (t) => {
  const stack = await startStack(t, { config: ADMIN })
  const admin = stack.proxy.adminUrl as string
  t.match(admin, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.not(admin, stack.url)
  t.ok(stack.logs.records().some((r) => r.msg === 'roecny-auth-proxy listening' && r.adminAddress === admin), 'its address is logged')

  const health = await json(`${admin}/-/healthz`)
  t.equal(health.status, 200)
  t.same(health.body, { status: 'ok' })
  t.equal(health.headers['cache-control'], 'no-store')
  const ready = await json(`${admin}/-/readyz`)
  t.equal(ready.status, 200)
  t.same(ready.body, { ready: true })
  t.equal((await request(`${admin}/-/healthz`, { method: 'HEAD' })).statusCode, 200)

  await get(`${stack.url}/api/v1/balances/current`)
  const m = await scrape(admin)
  t.equal(m.status, 200)
  t.equal(m.value('roecny_proxy_requests_total', { method: 'GET', status_class: '2xx' }), 1, 'the same counts as the proxy\'s listener')
  t.equal(m.value('roecny_proxy_logins_total', { result: 'ok' }), 1)
})

test('everything else on the admin listener is refused and never forwarded', async (t) => {
  const stack = await startStack(t, { config: ADMIN })
  const admin = stack.proxy.adminUrl as string
  for (const path of ['/-/status', '/-/nothing', '/api/v1/balances/current', '/api/v1/authentication/login', '/']) {
    const res = await json<{ code: string }>(`${admin}${path}`)
    t.equal(res.status, 404, path)
    t.equal(res.body.code, 'PROXY_NOT_FOUND', path)
  }
  const post = await json<{ code: string }>(`${admin}/-/healthz?x=1`, { method: 'POST', body: '{"a":1}' })
  t.equal(post.status, 405)
  t.equal(post.body.code, 'PROXY_METHOD_NOT_ALLOWED')
  const bad = await rawRequest(admin, 'GET /-/%zz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
  t.match(bad, /^HTTP\/1\.1 400 /, 'a target that cannot be decoded')
  t.match(bad, /x-roecny-proxy-error: PROXY_BAD_REQUEST/)
  t.equal(stack.mock.requests.length, 0, 'Roecny received nothing')
  const status = await get(`${admin}/-/status`)
  t.notOk(status.body.includes('expiresAt'), 'no status on the admin listener')
})

test('admin readiness follows the token; liveness does not', async (t) => {
  const stack = await startStack(t, { config: ADMIN, mock: { apiKey: 'the-real-key' }, ready: false })
  const admin = stack.proxy.adminUrl as string
  const ready = await json<{ reason: string }>(`${admin}/-/readyz`)
  t.equal(ready.status, 503)
  t.equal(ready.body.reason, 'no usable Roecny token')
  t.equal((await get(`${admin}/-/healthz`)).status, 200)
})

test('during shutdown the admin listener keeps answering: readiness fails, liveness holds; then it closes', async (t) => {
  const clock = new ManualClock()
  const stack = await startStack(t, { clock, mock: { now: () => clock.wallNow() }, config: { ...ADMIN, shutdownDelayMs: 5000 } })
  const admin = stack.proxy.adminUrl as string
  const inFlight = request(`${stack.url}/api/v1/test/held`)
  await until(() => stack.mock.held.length > 0, 'the request to be held at the mock')

  const stopped = stack.proxy.shutdown()
  const ready = await json<{ reason: string }>(`${admin}/-/readyz`)
  t.equal(ready.status, 503)
  t.equal(ready.body.reason, 'draining')
  await clock.advance(5000)
  t.equal(stack.proxy.app.server.listening, false, 'the proxy listener is closing')
  t.equal((await get(`${admin}/-/healthz`)).status, 200, 'liveness holds while requests drain')
  stack.mock.releaseHeld()
  t.equal((await inFlight).statusCode, 200)
  await stopped
  await t.rejects(get(`${admin}/-/healthz`), { code: 'ECONNREFUSED' }, 'closed once the proxy stopped')
})

test('an admin port that cannot be bound fails the start and leaves nothing listening', async (t) => {
  const taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => taken.close(() => resolve())))
  const free = createServer()
  await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve))
  const proxyPort = (free.address() as AddressInfo).port
  await new Promise<void>((resolve) => free.close(() => resolve()))

  const mock = await startMock(t)
  const config = testConfig({ baseUrl: mock.url, proxyPort, adminHost: '127.0.0.1', adminPort: (taken.address() as AddressInfo).port })
  await t.rejects(startProxy(config, { logger: createLogger('silent') }), { code: 'EADDRINUSE' })
  await t.rejects(get(`http://127.0.0.1:${proxyPort}/-/healthz`), { code: 'ECONNREFUSED' }, 'the proxy listener was closed again')
  t.equal(mock.logins.length, 0, 'no login was started')
})
