import { test } from 'tap'
import { request } from 'undici'
import { get, json } from './helpers/http.js'
import { MANUAL_CLOCK_START, ManualClock } from './helpers/manual-clock.js'
import { until } from './helpers/until.js'
import { DEMO_API_KEY, DEMO_CLIENT_ID, formatExpiresAt, startMockRoecny } from '../src/mock/roecny.js'

test('the mock logs in with the demo credentials and answers in the vendor\'s shape', async (t) => {
  const mock = await startMockRoecny()
  t.teardown(mock.close)
  const login = await json<{ token: string, expires_at: string }>(`${mock.url}/api/v1/authentication/login`, {
    method: 'POST', headers: { 'x-client-id': DEMO_CLIENT_ID, 'x-api-key': DEMO_API_KEY }
  })
  t.equal(login.status, 200)
  t.match(login.body.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$/)
  t.match(login.body.token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'a JWT')
  t.ok(login.headers.date, 'a Date header')
  const bad = await json<{ code: string }>(`${mock.url}/api/v1/authentication/login`, {
    method: 'POST', headers: { 'x-client-id': DEMO_CLIENT_ID, 'x-api-key': 'wrong' }
  })
  t.equal(bad.status, 401)
  t.equal(bad.body.code, 'credentials_invalid')
  const balances = await json(`${mock.url}/api/v1/balances/current`, { headers: { authorization: `Bearer ${login.body.token}` } })
  t.equal(balances.status, 200)
  const missing = await json(`${mock.url}/api/v1/balances/current`)
  t.equal(missing.status, 401)
  const unknown = await json<{ code: string }>(`${mock.url}/api/v1/nothing`, { headers: { authorization: `Bearer ${login.body.token}` } })
  t.equal(unknown.status, 404)
  t.equal(formatExpiresAt(Date.UTC(2025, 3, 25, 7, 27, 4)), '2025-04-25T07:27:04+0000', "the vendor's example form")
})

test('a mock with a path prefix answers only under it', async (t) => {
  const mock = await startMockRoecny({ pathPrefix: '/gw' })
  t.teardown(mock.close)
  const outside = await json<{ code: string }>(`${mock.url}/api/v1/balances/current`)
  t.equal(outside.status, 404)
  const inside = await json(`${mock.url}/gw/api/v1/balances/current`)
  t.equal(inside.status, 401, 'inside the prefix the API asks for a token')
})

test('the mock can listen on IPv6 loopback', async (t) => {
  const mock = await startMockRoecny({}, '::1', 0)
  t.teardown(mock.close)
  t.match(mock.url, /^http:\/\/\[::1\]:\d+$/)
})

test('the mock refuses a login without credentials, streams odd sizes, keeps the last 1,000 requests', async (t) => {
  const mock = await startMockRoecny({ faultRoutes: true })
  t.teardown(mock.close)
  const anonymous = await json(`${mock.url}/api/v1/authentication/login`, { method: 'POST' })
  t.equal(anonymous.status, 401)
  mock.defaultLogin = { lifetimeSeconds: 60 }
  const login = await json<{ token: string }>(`${mock.url}/api/v1/authentication/login`, {
    method: 'POST', headers: { 'x-client-id': DEMO_CLIENT_ID, 'x-api-key': DEMO_API_KEY }
  })
  const auth = { authorization: `Bearer ${login.body.token}` }
  const odd = await get(`${mock.url}/api/v1/test/bytes/${64 * 1024 + 10}`, { headers: auth })
  t.equal(odd.body.length, 64 * 1024 + 10)
  for (let i = 0; i < 1001; i++) await get(`${mock.url}/api/v1/echo/${i}`, { headers: auth })
  t.equal(mock.requests.length, 1000)
  t.equal(mock.requests[0]?.url, '/api/v1/echo/1', 'the oldest two of 1,002 were let go')
})

test('the mock answers scripted statuses first, counts requests in flight and records arrival times', async (t) => {
  const clock = new ManualClock()
  const mock = await startMockRoecny({ now: clock.wallNow, setTimer: clock.setTimer, faultRoutes: true })
  t.teardown(mock.close)
  mock.apiQueue.push({ status: 429, headers: { 'retry-after': '3' } }, { status: 429, body: 'slow down' }, { status: 503 })
  const first = await json<{ code: string }>(`${mock.url}/api/v1/balances/current`)
  t.equal(first.status, 429, 'scripted answers come before the token check')
  t.equal(first.headers['retry-after'], '3')
  t.equal(first.body.code, 'too_many_requests')
  const second = await get(`${mock.url}/api/v1/echo/x`)
  t.same([second.status, second.body, second.headers['retry-after']], [429, 'slow down', undefined])
  t.match(await json(`${mock.url}/api/v1/echo/y`), { status: 503, body: { code: 'mock_status' } })
  t.equal((await get(`${mock.url}/api/v1/balances/current`)).status, 401, 'the script is used up')

  const login = await json<{ token: string }>(`${mock.url}/api/v1/authentication/login`, {
    method: 'POST', headers: { 'x-client-id': DEMO_CLIENT_ID, 'x-api-key': DEMO_API_KEY }
  })
  const auth = { authorization: `Bearer ${login.body.token}` }
  mock.peakInFlight = 0
  await clock.advance(1000)
  const slow = [get(`${mock.url}/api/v1/test/slow/500`, { headers: auth }), get(`${mock.url}/api/v1/test/slow/500`, { headers: auth })]
  await until(() => mock.inFlight === 2, 'two slow requests in flight')
  await clock.advance(499)
  t.equal(mock.inFlight, 2, 'not answered before its time')
  await clock.advance(1)
  const answers = await Promise.all(slow)
  t.same(answers.map((a) => [a.status, JSON.parse(a.body)]), [[200, { slowMs: 500 }], [200, { slowMs: 500 }]])
  await until(() => mock.inFlight === 0, 'both answered')
  t.equal(mock.peakInFlight, 2)
  t.same(mock.requests.slice(-2).map((r) => r.arrivedAt), [MANUAL_CLOCK_START + 1000, MANUAL_CLOCK_START + 1000], 'arrival on the mock\'s clock')
  t.equal(mock.logins[0]?.arrivedAt, MANUAL_CLOCK_START)
})

test('a slow answer is dropped when its client goes away; real timers by default', async (t) => {
  const clock = new ManualClock()
  const timed = await startMockRoecny({ setTimer: clock.setTimer, faultRoutes: true })
  t.teardown(timed.close)
  const controller = new AbortController()
  const login = await json<{ token: string }>(`${timed.url}/api/v1/authentication/login`, {
    method: 'POST', headers: { 'x-client-id': DEMO_CLIENT_ID, 'x-api-key': DEMO_API_KEY }
  })
  const gone = request(`${timed.url}/api/v1/test/slow/1000`, { headers: { authorization: `Bearer ${login.body.token}` }, signal: controller.signal })
  await until(() => timed.inFlight === 1, 'the slow request in flight')
  t.equal(clock.pendingTimers(), 1)
  controller.abort()
  await t.rejects(gone)
  await until(() => timed.inFlight === 0, 'the slow request gone')
  t.equal(clock.pendingTimers(), 0, 'its timer was cancelled')

  const real = await startMockRoecny({ faultRoutes: true })
  t.teardown(real.close)
  const token = await json<{ token: string }>(`${real.url}/api/v1/authentication/login`, {
    method: 'POST', headers: { 'x-client-id': DEMO_CLIENT_ID, 'x-api-key': DEMO_API_KEY }
  })
  const res = await json(`${real.url}/api/v1/test/slow/0`, { headers: { authorization: `Bearer ${token.body.token}` } })
  t.same(res.body, { slowMs: 0 })
})

/** One target per fault route; each would hang, reset, hold, wait or answer oddly if it were served. */
const FAULT_TARGETS = ['/api/v1/test/hang', '/api/v1/test/held', '/api/v1/test/reset', '/api/v1/test/reset-mid-body', '/api/v1/test/bytes/10', '/api/v1/test/status/500', '/api/v1/test/slow/60000']

test('without faultRoutes (as demo and mock run it) the fault routes are plain 404s', async (t) => {
  const mock = await startMockRoecny()
  t.teardown(mock.close)
  const login = await json<{ token: string }>(`${mock.url}/api/v1/authentication/login`, {
    method: 'POST', headers: { 'x-client-id': DEMO_CLIENT_ID, 'x-api-key': DEMO_API_KEY }
  })
  const auth = { authorization: `Bearer ${login.body.token}` }
  for (const target of FAULT_TARGETS) {
    const res = await json<{ code: string }>(`${mock.url}${target}`, { headers: auth })
    t.equal(res.status, 404, target)
    t.equal(res.body.code, 'not_found', target)
  }
  t.equal(mock.held.length, 0, 'nothing held')
  const balances = await get(`${mock.url}/api/v1/balances/current`, { headers: auth })
  t.equal(balances.status, 200, 'the API itself is served')
})
