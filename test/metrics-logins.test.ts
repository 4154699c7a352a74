// Login and token metrics: logins by result, login duration, the token's expiry and the seconds until its refresh.
import { test } from 'tap'
import { createMetrics } from '../src/metrics.js'
import { scrape } from './helpers/metrics.js'
import { MANUAL_CLOCK_START, ManualClock } from './helpers/manual-clock.js'
import { startStack } from './helpers/stack.js'
import type { Stack, StackOptions, Teardown } from './helpers/stack.js'
import { until } from './helpers/until.js'

async function manualStack (t: Teardown, options: StackOptions = {}): Promise<Stack & { clock: ManualClock }> {
  const clock = new ManualClock()
  const stack = await startStack(t, { ...options, clock, mock: { now: () => clock.wallNow(), ...options.mock } })
  clock.busyWhile(stack.proxy.tokens.loginInFlight)
  await clock.settle()
  return { ...stack, clock }
}

test('a good login: counted as ok, the expiry as a Unix timestamp, the refresh as seconds to go', async (t) => {
  const stack = await manualStack(t)
  const m = await scrape(stack.url)
  t.equal(m.value('roecny_proxy_logins_total', { result: 'ok' }), 1)
  for (const result of ['rejected', 'rate_limited', 'error']) {
    t.equal(m.value('roecny_proxy_logins_total', { result }), 0, `${result} starts at 0`)
  }
  t.equal(m.value('roecny_proxy_login_duration_seconds_count', { result: 'ok' }), 1)
  // The mock grants 1800 s; the refresh is planned at 0.67 of that, less half the 5 % jitter (random() is 0.5).
  t.equal(m.value('roecny_proxy_token_expiry_timestamp_seconds'), MANUAL_CLOCK_START / 1000 + 1800)
  t.equal(m.value('roecny_proxy_token_refresh_in_seconds'), 1175.85)

  await stack.clock.advance(175_850)
  t.equal((await scrape(stack.url)).value('roecny_proxy_token_refresh_in_seconds'), 1000, 'read when scraped, not when the token came')

  await stack.clock.advance(1000_000)
  const refreshed = await scrape(stack.url)
  t.equal(refreshed.value('roecny_proxy_logins_total', { result: 'ok' }), 2, 'the refresh is a login too')
  t.equal(refreshed.value('roecny_proxy_token_expiry_timestamp_seconds'), MANUAL_CLOCK_START / 1000 + 1175.85 + 1800)
  t.equal(refreshed.value('roecny_proxy_token_refresh_in_seconds'), 1175.85)
})

test('failed logins are counted by result; without a token both gauges are 0', async (t) => {
  // The proxy holds demo-key, the mock wants another: the first login is rejected.
  const stack = await manualStack(t, { mock: { apiKey: 'the-real-key' }, ready: false })
  const first = await scrape(stack.url)
  t.equal(first.value('roecny_proxy_logins_total', { result: 'rejected' }), 1)
  t.equal(first.value('roecny_proxy_token_expiry_timestamp_seconds'), 0)
  t.equal(first.value('roecny_proxy_token_refresh_in_seconds'), 0)

  stack.mock.defaultLogin = { status: 429 }
  await stack.clock.runNext()
  stack.mock.defaultLogin = { status: 500 }
  await stack.clock.runNext()
  await stack.clock.runNext()
  const m = await scrape(stack.url)
  t.equal(m.value('roecny_proxy_logins_total', { result: 'ok' }), 0)
  t.equal(m.value('roecny_proxy_logins_total', { result: 'rejected' }), 1)
  t.equal(m.value('roecny_proxy_logins_total', { result: 'rate_limited' }), 1)
  t.equal(m.value('roecny_proxy_logins_total', { result: 'error' }), 2)
  t.equal(m.value('roecny_proxy_login_duration_seconds_count', { result: 'error' }), 2)
  t.equal(m.value('roecny_proxy_login_duration_seconds_count', { result: 'ok' }), undefined, 'no ok login, no ok duration')
  t.equal(stack.mock.logins.length, 4)
})

test('login duration is measured on the clock, from sending the login to its outcome', async (t) => {
  const clock = new ManualClock()
  const stack = await startStack(t, { clock, mock: { now: () => clock.wallNow(), apiKey: 'the-real-key' }, ready: false })
  const logins = (): Record<string, number> => (stack.proxy.tokens.status().logins as Record<string, number>)
  await until(() => logins().rejected === 1, 'the first login to be rejected')
  // The retry hangs at the mock until LOGIN_TIMEOUT_MS (10 s on the clock) gives up on it.
  stack.mock.defaultLogin = { hang: true }
  await clock.runNext()
  await until(() => stack.mock.logins.length === 2, 'the retry to reach the mock')
  await clock.advance(10_000)
  await until(() => logins().error === 1, 'the retry to time out')
  const m = await scrape(stack.url)
  t.equal(m.value('roecny_proxy_login_duration_seconds_sum', { result: 'error' }), 10)
  t.equal(m.value('roecny_proxy_login_duration_seconds_bucket', { le: '5', result: 'error' }), 0)
  t.equal(m.value('roecny_proxy_login_duration_seconds_bucket', { le: '10', result: 'error' }), 1)
})

test('with profiles, the token gauges hold a series per watched token, and none before any is watched', async (t) => {
  const metrics = createMetrics({ profiles: true, processMetrics: false })
  const before = await metrics.render()
  t.notMatch(before, /^roecny_proxy_token_expiry_timestamp_seconds\{/m, 'no token yet: no series')
  metrics.watchProfileTokens(() => [{ profile: 'reporting,audit', schedule: { expiresAtWallMs: () => 2_000_000_000_000, refreshAtWallMs: () => 0 } }])
  t.match(await metrics.render(), 'roecny_proxy_token_expiry_timestamp_seconds{profile="reporting,audit"} 2000000000', 'the names of the profiles that share it')
})
