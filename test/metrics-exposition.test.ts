// GET /-/metrics: Prometheus text, every name prefixed roecny_proxy_, process metrics included, no secret anywhere.
import { test } from 'tap'
import { createMetrics } from '../src/metrics.js'
import { VERSION } from '../src/version.js'
import { scrape } from './helpers/metrics.js'
import { startStack } from './helpers/stack.js'

const OWN_METRICS: Record<string, string> = {
  roecny_proxy_requests_total: 'counter',
  roecny_proxy_request_duration_seconds: 'histogram',
  roecny_proxy_upstream_duration_seconds: 'histogram',
  roecny_proxy_upstream_errors_total: 'counter',
  roecny_proxy_client_aborts_total: 'counter',
  roecny_proxy_logins_total: 'counter',
  roecny_proxy_login_duration_seconds: 'histogram',
  roecny_proxy_token_expiry_timestamp_seconds: 'gauge',
  roecny_proxy_token_refresh_in_seconds: 'gauge',
  roecny_proxy_build_info: 'gauge'
}

test('GET /-/metrics answers Prometheus text with every metric prefixed roecny_proxy_', async (t) => {
  const stack = await startStack(t)
  await fetch(`${stack.url}/api/v1/balances/current`).then((res) => res.arrayBuffer())
  const m = await scrape(stack.url)
  t.equal(m.status, 200)
  t.equal(m.contentType, 'text/plain; version=0.0.4; charset=utf-8')
  const types = new Map([...m.text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => [String(name), String(type)]))
  for (const [name, type] of Object.entries(OWN_METRICS)) t.equal(types.get(name), type, name)
  for (const name of types.keys()) t.ok(name.startsWith('roecny_proxy_'), name)
  for (const key of m.samples.keys()) t.ok(key.startsWith('roecny_proxy_'), key)
  t.equal(m.value('roecny_proxy_build_info', { version: VERSION }), 1)

  // The default process metrics, under the same prefix.
  for (const name of ['roecny_proxy_process_cpu_user_seconds_total', 'roecny_proxy_nodejs_eventloop_lag_seconds', 'roecny_proxy_process_open_fds']) {
    t.type(m.value(name), 'number', name)
  }
  t.ok((m.value('roecny_proxy_process_resident_memory_bytes') as number) > 10_000_000, 'resident memory')
  t.ok((m.value('roecny_proxy_nodejs_heap_size_used_bytes') as number) > 1_000_000, 'heap used')

  const token = stack.mock.issuedTokens[0] as string
  t.notOk(m.text.includes(token), 'no token')
  t.notOk(m.text.includes('demo-key'), 'no API key')
  t.equal(stack.mock.requests.length, 1, 'the scrape was not forwarded')
})

test('HEAD and other methods on /-/metrics', async (t) => {
  const stack = await startStack(t)
  const head = await fetch(`${stack.url}/-/metrics`, { method: 'HEAD' })
  t.equal(head.status, 200)
  const post = await fetch(`${stack.url}/-/metrics`, { method: 'POST', body: 'x' })
  t.equal(post.status, 405)
  t.equal(post.headers.get('x-roecny-proxy-error'), 'PROXY_METHOD_NOT_ALLOWED')
})

test('instruments on their own: no process metrics when asked, refresh never negative, durations in seconds', async (t) => {
  let now = 10_000
  const metrics = createMetrics({ processMetrics: false, now: () => now })
  metrics.watchToken({ expiresAtWallMs: () => 20_000, refreshAtWallMs: () => 15_000 })
  metrics.login('ok', 1500)
  metrics.login('rate_limited', 40)
  metrics.request('GET', 200, 250, 200)
  metrics.request('GET', 200, 3, -1)
  metrics.upstreamError('PROXY_UPSTREAM_TIMEOUT')
  const text = await metrics.render()
  t.notMatch(text, /process_|nodejs_/)
  t.match(text, /^roecny_proxy_token_refresh_in_seconds 5$/m)
  t.match(text, /^roecny_proxy_token_expiry_timestamp_seconds 20$/m)
  t.match(text, /^roecny_proxy_login_duration_seconds_sum\{result="ok"\} 1\.5$/m)
  t.match(text, /^roecny_proxy_logins_total\{result="rate_limited"\} 1$/m)
  t.match(text, /^roecny_proxy_request_duration_seconds_sum 0\.253$/m)
  t.match(text, /^roecny_proxy_request_duration_seconds_bucket\{le="0\.005"\} 1$/m)
  t.match(text, /^roecny_proxy_request_duration_seconds_bucket\{le="0\.25"\} 2$/m)
  t.match(text, /^roecny_proxy_upstream_duration_seconds_count 1$/m)
  t.match(text, /^roecny_proxy_upstream_errors_total\{code="PROXY_UPSTREAM_TIMEOUT"\} 1$/m)
  now = 16_000
  t.match(await metrics.render(), /^roecny_proxy_token_refresh_in_seconds 0$/m, 'an overdue refresh reads 0')
  t.notMatch(await createMetrics({ processMetrics: false }).render(), /roecny_proxy_requests_total\{/, 'instances share nothing')
  metrics.registry.resetMetrics()
  const reset = await metrics.render()
  t.match(reset, /^roecny_proxy_request_duration_seconds_count 0$/m, 'the request histograms honour a registry reset')
  t.match(reset, /^roecny_proxy_request_duration_seconds_sum 0$/m)
})
