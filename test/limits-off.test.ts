// With neither UPSTREAM_MAX_IN_FLIGHT nor UPSTREAM_RATE_LIMIT, the proxy stays transparent: no hook, no queue, no pause.
import { test } from 'tap'
import { get, json } from './helpers/http.js'
import { ManualClock } from './helpers/manual-clock.js'
import { scrape } from './helpers/metrics.js'
import { startStack } from './helpers/stack.js'
import { until } from './helpers/until.js'

const LIMIT_HOOKS = ['waitForLimits', 'readRoecnyAnswer', 'releaseWhenAnswered', 'releaseWhenGone']

test('without limits nothing is queued or paused, and none of their hooks is on the request path', async (t) => {
  const clock = new ManualClock()
  const stack = await startStack(t, { clock })
  const routes = stack.proxy.app.printRoutes({ includeHooks: true, commonPrefix: false })
  for (const hook of LIMIT_HOOKS) t.notMatch(routes, hook, `no ${hook} hook`)
  t.match(routes, 'attachToken', 'the forwarded routes\' hooks are listed')

  const many = Array.from({ length: 30 }, () => get(`${stack.url}/api/v1/test/held`))
  await until(() => stack.mock.held.length === 30, 'thirty requests held at the mock')
  t.equal(stack.mock.inFlight, 30, 'every request reached Roecny at once')
  stack.mock.releaseHeld()
  await Promise.all(many)

  stack.mock.apiQueue.push({ status: 429, headers: { 'retry-after': '30' } })
  t.equal((await get(`${stack.url}/api/v1/echo/1`)).status, 429)
  t.equal((await get(`${stack.url}/api/v1/echo/2`)).status, 200, 'Roecny\'s 429 paused nothing')

  const status = await json<{ limits: unknown }>(`${stack.url}/-/status`)
  t.same(status.body.limits, { enabled: false })
  const metrics = await scrape(stack.url)
  for (const name of ['roecny_proxy_upstream_in_flight', 'roecny_proxy_upstream_queue_length', 'roecny_proxy_upstream_queue_wait_seconds', 'roecny_proxy_rate_limited_total', 'roecny_proxy_upstream_pauses_total']) {
    t.notMatch(metrics.text, name, `no ${name}`)
  }
})

test('with a limit, its hooks are on the forwarded routes, and the status and metrics show it', async (t) => {
  const clock = new ManualClock()
  const stack = await startStack(t, { clock, config: { upstreamMaxInFlight: 5, upstreamRateLimit: 20, upstreamRateBurst: 10, upstreamQueueMax: 50, upstreamQueueTimeoutMs: 2000 } })
  const routes = stack.proxy.app.printRoutes({ includeHooks: true, commonPrefix: false })
  for (const hook of LIMIT_HOOKS) t.match(routes, hook)
  t.match(routes, '["waitForLimits()","attachToken()"]', 'the wait comes before the token')

  t.equal((await get(`${stack.url}/api/v1/echo/1`)).status, 200)
  const status = await json<{ limits: unknown }>(`${stack.url}/-/status`)
  t.same(status.body.limits, {
    enabled: true,
    maxInFlight: 5,
    rateLimit: 20,
    rateBurst: 10,
    queueTimeoutMs: 2000,
    queueMax: 50,
    inFlight: 0,
    queued: 0,
    pause: null,
    rateLimited: { timeout: 0, full: 0 },
    pauses: { 'retry-after': 0, backoff: 0 }
  })
  const metrics = await scrape(stack.url)
  t.equal(metrics.value('roecny_proxy_upstream_in_flight'), 0)
  t.equal(metrics.value('roecny_proxy_upstream_queue_length'), 0)
  t.equal(metrics.value('roecny_proxy_upstream_queue_wait_seconds_count'), 1)
  t.equal(metrics.value('roecny_proxy_upstream_queue_wait_seconds_bucket', { le: '0' }), 1, 'it started at once')
  t.equal(metrics.value('roecny_proxy_rate_limited_total', { reason: 'timeout' }), 0)
  t.equal(metrics.value('roecny_proxy_upstream_pauses_total', { cause: 'backoff' }), 0)
  t.equal(metrics.value('roecny_proxy_upstream_pause_seconds'), 0)
  t.match(stack.logs.records().find((r) => r.msg === 'roecny-auth-proxy listening'), { limits: { maxInFlight: 5, rateLimit: 20 } }, 'the start line says what is limited')
})

test('the queue wait histogram and the gauges follow the traffic', async (t) => {
  const clock = new ManualClock()
  const stack = await startStack(t, { clock, config: { upstreamMaxInFlight: 1 } })
  const first = get(`${stack.url}/api/v1/test/held`)
  await until(() => stack.mock.held.length === 1, 'the first request held at the mock')
  const second = get(`${stack.url}/api/v1/echo/second`)
  let metrics = await scrape(stack.url)
  await until(async () => (metrics = await scrape(stack.url)).value('roecny_proxy_upstream_queue_length') === 1, 'the second request to queue')
  t.equal(metrics.value('roecny_proxy_upstream_in_flight'), 1)
  await clock.advance(300)
  stack.mock.releaseHeld()
  await Promise.all([first, second])
  metrics = await scrape(stack.url)
  t.equal(metrics.value('roecny_proxy_upstream_queue_wait_seconds_count'), 2)
  t.equal(metrics.value('roecny_proxy_upstream_queue_wait_seconds_sum'), 0.3, 'the second waited 300 ms')
  t.equal(metrics.value('roecny_proxy_upstream_queue_wait_seconds_bucket', { le: '0.25' }), 1)
  t.equal(metrics.value('roecny_proxy_upstream_queue_wait_seconds_bucket', { le: '0.5' }), 2)
})
