// Request metrics: counts by method and status class, whole-request and upstream latency, upstream errors by code.
import { test } from 'tap'
import { get } from './helpers/http.js'
import { scrape } from './helpers/metrics.js'
import { startStack } from './helpers/stack.js'

test('requests are counted by method and status class; the proxy\'s own /-/ routes are not', async (t) => {
  const stack = await startStack(t)
  await get(`${stack.url}/api/v1/balances/current`)
  await get(`${stack.url}/api/v1/balances/current?page=2`)
  await get(`${stack.url}/api/v1/echo/x`, { method: 'POST', body: 'hello' })
  await get(`${stack.url}/api/v1/test/status/302`)
  await get(`${stack.url}/api/v1/test/status/404`)
  await get(`${stack.url}/api/v1/test/status/503`)
  // Refused by the proxy itself: counted, but it never reached Roecny.
  const blocked = await get(`${stack.url}/api/v1/authentication/login`, { method: 'POST' })
  t.equal(blocked.status, 403)
  for (const route of ['/-/healthz', '/-/readyz', '/-/status', '/-/metrics']) await get(stack.url + route)

  const m = await scrape(stack.url)
  const requests = (method: string, statusClass: string): number | undefined =>
    m.value('roecny_proxy_requests_total', { method, status_class: statusClass })
  t.equal(requests('GET', '2xx'), 2)
  t.equal(requests('POST', '2xx'), 1)
  t.equal(requests('GET', '3xx'), 1)
  t.equal(requests('GET', '4xx'), 1)
  t.equal(requests('POST', '4xx'), 1)
  t.equal(requests('GET', '5xx'), 1)
  const total = [...m.samples].filter(([key]) => key.startsWith('roecny_proxy_requests_total{')).reduce((sum, [, value]) => sum + value, 0)
  t.equal(total, 7, 'no own route was counted')
  t.equal(m.value('roecny_proxy_request_duration_seconds_count'), 7)
  t.equal(m.value('roecny_proxy_request_duration_seconds_bucket', { le: '+Inf' }), 7)
  t.equal(m.value('roecny_proxy_upstream_duration_seconds_count'), 6, 'the blocked login has no upstream part')
})

test('the latency histograms observe exactly the durations of the access log', async (t) => {
  const stack = await startStack(t)
  for (let i = 0; i < 5; i++) await get(`${stack.url}/api/v1/echo/${i}`, { method: 'PUT', body: 'x'.repeat(10_000) })
  const m = await scrape(stack.url)
  const lines = stack.logs.records().filter((r) => r.msg === 'request' && String(r.path).startsWith('/api/'))
  t.equal(lines.length, 5)
  const loggedTotal = lines.reduce((sum, r) => sum + Number(r.durationMs), 0) / 1000
  const loggedUpstream = lines.reduce((sum, r) => sum + Number(r.upstreamMs), 0) / 1000
  // The log rounds each duration to 0.01 ms.
  t.ok(Math.abs((m.value('roecny_proxy_request_duration_seconds_sum') as number) - loggedTotal) < 5 * 0.00001, 'whole request')
  t.ok(Math.abs((m.value('roecny_proxy_upstream_duration_seconds_sum') as number) - loggedUpstream) < 5 * 0.00001, 'upstream part')
  t.ok(loggedUpstream > 0 && loggedUpstream < loggedTotal, 'the upstream part is a part of the whole')
})

test('upstream failures are counted by the PROXY_* code answered', async (t) => {
  const stack = await startStack(t, { config: { upstreamTimeoutMs: 100 } })
  const before = await scrape(stack.url)
  t.equal(before.value('roecny_proxy_upstream_errors_total', { code: 'PROXY_UPSTREAM_UNREACHABLE' }), 0, 'known codes start at 0')
  t.equal(before.value('roecny_proxy_upstream_errors_total', { code: 'PROXY_UPSTREAM_TIMEOUT' }), 0)

  t.equal((await get(`${stack.url}/api/v1/test/reset`)).status, 502)
  t.equal((await get(`${stack.url}/api/v1/test/reset`)).status, 502)
  t.equal((await get(`${stack.url}/api/v1/test/hang`)).status, 504)
  const m = await scrape(stack.url)
  t.equal(m.value('roecny_proxy_upstream_errors_total', { code: 'PROXY_UPSTREAM_UNREACHABLE' }), 2)
  t.equal(m.value('roecny_proxy_upstream_errors_total', { code: 'PROXY_UPSTREAM_TIMEOUT' }), 1)
  t.equal(m.value('roecny_proxy_requests_total', { method: 'GET', status_class: '5xx' }), 3)
  t.equal(m.value('roecny_proxy_upstream_duration_seconds_count'), 0, 'no response headers came back')
})
