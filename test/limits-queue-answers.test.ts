// The queue's bounds: a full queue and a wait that times out get 429 PROXY_RATE_LIMITED, and a client that leaves frees its place; none reaches Roecny.
import { test } from 'tap'
import { request } from 'undici'
import { get, json } from './helpers/http.js'
import { limitStatus, untilLimits } from './helpers/limits.js'
import { ManualClock } from './helpers/manual-clock.js'
import { scrape } from './helpers/metrics.js'
import { startStack } from './helpers/stack.js'
import { until } from './helpers/until.js'

const LIMITED = { code: 'PROXY_RATE_LIMITED', source: 'roecny-auth-proxy' }

test('a full queue answers 429 PROXY_RATE_LIMITED at once; a wait of UPSTREAM_QUEUE_TIMEOUT_MS too', async (t) => {
  const clock = new ManualClock()
  const stack = await startStack(t, { config: { upstreamMaxInFlight: 1, upstreamQueueMax: 1, upstreamQueueTimeoutMs: 3000 }, clock })
  const first = get(`${stack.url}/api/v1/test/held`)
  await until(() => stack.mock.held.length === 1, 'the first request held at the mock')
  const waiting = json<Record<string, unknown>>(`${stack.url}/api/v1/echo/waiting`)
  await untilLimits(stack.url, (s) => s.queued === 1)

  const full = await json<Record<string, unknown>>(`${stack.url}/api/v1/echo/full`)
  t.equal(full.status, 429)
  t.match(full.body, LIMITED)
  t.equal(full.headers['x-roecny-proxy-error'], 'PROXY_RATE_LIMITED')
  t.equal(full.headers['retry-after'], '1', 'at least 1 s')

  await clock.advance(2999)
  t.equal((await limitStatus(stack.url)).queued, 1, 'still waiting at 2,999 ms')
  await clock.advance(1)
  const timedOut = await waiting
  t.equal(timedOut.status, 429)
  t.match(timedOut.body, LIMITED)
  t.ok(Number(timedOut.headers['retry-after']) >= 1)

  t.same(stack.mock.requests.map((r) => r.url), ['/api/v1/test/held'], 'nothing else reached Roecny')
  const metrics = await scrape(stack.url)
  t.equal(metrics.value('roecny_proxy_rate_limited_total', { reason: 'full' }), 1)
  t.equal(metrics.value('roecny_proxy_rate_limited_total', { reason: 'timeout' }), 1)
  t.match(await limitStatus(stack.url), { rateLimited: { full: 1, timeout: 1 }, queued: 0, inFlight: 1, pause: null, pauses: { 'retry-after': 0, backoff: 0 } },
    'the proxy\'s own 429s pause nothing')
  const lines = stack.logs.records().filter((r) => r.msg === 'request' && r.status === 429)
  t.equal(lines.length, 2, 'each refusal has its access-log line, and no other line of its own')
  stack.mock.releaseHeld()
  t.equal((await first).status, 200)
})

test('a client that leaves the queue frees its place at once and never reaches Roecny', async (t) => {
  const clock = new ManualClock()
  const stack = await startStack(t, { config: { upstreamMaxInFlight: 1, upstreamQueueMax: 1 }, clock })
  const first = get(`${stack.url}/api/v1/test/held`)
  await until(() => stack.mock.held.length === 1, 'the first request held at the mock')
  const controller = new AbortController()
  const leaving = request(`${stack.url}/api/v1/echo/leaving`, { signal: controller.signal })
  await untilLimits(stack.url, (s) => s.queued === 1)
  controller.abort()
  await t.rejects(leaving)
  await untilLimits(stack.url, (s) => s.queued === 0)
  const next = get(`${stack.url}/api/v1/echo/next`)
  await untilLimits(stack.url, (s) => s.queued === 1)
  t.equal((await limitStatus(stack.url)).rateLimited.full, 0, 'the freed place was there for the next client')
  stack.mock.releaseHeld()
  t.equal((await first).status, 200)
  t.equal((await next).status, 200)
  t.same(stack.mock.requests.map((r) => r.url), ['/api/v1/test/held', '/api/v1/echo/next'], 'the client that left never reached Roecny')
})
