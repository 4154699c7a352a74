// A failed login is retried with exponential backoff and full jitter (1 s base, 60 s cap); Retry-After is honoured.
import t from 'tap'
import { BACKOFF_CAP_MS, backoffDelay, MAX_RETRY_AFTER_MS } from '../src/token/backoff.js'
import { startTokenHarness } from './helpers/token-harness.js'
import type { TokenHarness } from './helpers/token-harness.js'
import { until } from './helpers/until.js'

/** Delays between the first `count` retries, read off the clock, each failure settled before the next. */
async function retryDelays (h: TokenHarness, count: number): Promise<Array<number | undefined>> {
  await until(() => h.results.length === 1, 'the first login')
  const delays: Array<number | undefined> = []
  for (let i = 0; i < count; i++) {
    delays.push(await h.clock.runNext())
    await until(() => h.results.length === i + 2, 'the retry')
  }
  return delays
}

t.test('with random() near 1 the delays double from 1 s up to the 60 s cap', async (t) => {
  const h = await startTokenHarness(t, { clock: { random: 0.999 } })
  h.mock.defaultLogin = { status: 500 }
  const delays = await retryDelays(h, 10)
  t.same(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60].map((s) => s * 999))
  t.equal(h.mock.logins.length, 11)
  t.same(h.manager.status().logins, { ok: 0, rejected: 0, rate_limited: 0, error: 11 })
})

t.test('with random() at 0 the retry is immediate (full jitter)', async (t) => {
  const h = await startTokenHarness(t, { clock: { random: [0, 0, 0, 0, 0.999] } })
  h.mock.defaultLogin = { status: 502 }
  await until(() => h.results.length === 1, 'the first login')
  t.equal(h.clock.nextTimerIn(), 0)
  await h.clock.advance(0)
  t.equal(h.mock.logins.length, 5, 'four retries without time passing')
  t.equal(h.clock.monotonic(), 0)
  t.equal(h.clock.nextTimerIn(), 16 * 999, 'the exponent kept growing underneath')
})

t.test('backoffDelay', async (t) => {
  t.equal(backoffDelay(1, 1000, BACKOFF_CAP_MS, 0.5), 500)
  t.equal(backoffDelay(5000, 1000, BACKOFF_CAP_MS, 1), BACKOFF_CAP_MS, 'no overflow after many failures')
})

t.test('a success resets the backoff', async (t) => {
  const h = await startTokenHarness(t, { clock: { random: 0.999 } })
  h.mock.loginQueue.push({ status: 500 }, { status: 500 }, { status: 500 }, {}, { status: 500 })
  t.same(await retryDelays(h, 3), [999, 1998, 3996])
  t.equal(h.results[3]?.result, 'ok')
  const token = h.manager.current() as string
  h.manager.invalidate(token)
  await until(() => h.results.length === 5, 'the login after invalidate')
  t.equal(h.clock.nextTimerIn(), 999, 'back to about a second')
})

t.test('429 Retry-After in seconds is honoured', async (t) => {
  const h = await startTokenHarness(t, { clock: { random: 0.999 } })
  h.mock.loginQueue.push({ status: 429, headers: { 'retry-after': '120' } })
  await until(() => h.results.length === 1, 'the first login')
  t.equal(h.results[0]?.result, 'rate_limited')
  t.equal(h.clock.nextTimerIn(), 120_000)
  t.equal(h.manager.retryAfterSeconds(), 120)
  await h.clock.advance(119_999)
  t.equal(h.mock.logins.length, 1, 'not a moment earlier')
  await h.clock.advance(1)
  t.equal(h.mock.logins.length, 2)
  t.ok(h.manager.isReady())
})

t.test('429 Retry-After as an HTTP date is read against the answer\'s Date', async (t) => {
  const h = await startTokenHarness(t, { clock: { random: 0.999, wallOffsetMs: -600_000 }, mockSkewMs: 3_600_000 })
  const mockNow = h.clock.wallNow() + 600_000 + 3_600_000
  h.mock.loginQueue.push({ status: 429, headers: { 'retry-after': new Date(mockNow + 90_000).toUTCString() } })
  await until(() => h.results.length === 1, 'the first login')
  t.equal(h.clock.nextTimerIn(), 90_000)
})

t.test('Retry-After shorter than the backoff leaves the backoff; an absurd one is capped at an hour', async (t) => {
  const h = await startTokenHarness(t, { clock: { random: 0.999 } })
  h.mock.loginQueue.push({ status: 429, headers: { 'retry-after': '0' } }, { status: 429, headers: { 'retry-after': '999999999' } })
  t.same(await retryDelays(h, 1), [999])
  t.equal(h.clock.nextTimerIn(), MAX_RETRY_AFTER_MS)
})

t.test('a 503 with Retry-After is honoured too', async (t) => {
  const h = await startTokenHarness(t, { clock: { random: 0 } })
  h.mock.loginQueue.push({ status: 503, headers: { 'retry-after': '30' } })
  await until(() => h.results.length === 1, 'the first login')
  t.equal(h.clock.nextTimerIn(), 30_000)
})

t.test('in backoff: not ready, acquire() answers at once, status and one warning per attempt', async (t) => {
  const h = await startTokenHarness(t, { clock: { random: 0.5 } })
  h.mock.defaultLogin = { status: 500 }
  await retryDelays(h, 2)
  t.equal(h.manager.loginInFlight(), false)
  t.equal(await h.manager.acquire(), undefined)
  t.equal(h.mock.logins.length, 3, 'acquire() started no login')
  t.equal(h.manager.isReady(), false)
  t.equal(h.clock.nextTimerIn(), 2000)
  t.equal(h.manager.retryAfterSeconds(), 2)
  await h.clock.advance(1600)
  t.equal(h.manager.retryAfterSeconds(), 1, 'rounded up, never 0')
  t.match(h.manager.status(), {
    ready: false,
    state: 'backoff',
    lastLoginError: { at: new Date(h.clock.wallNow() - 1600).toISOString(), status: 500, code: 'login_failed', message: 'login answered 500' },
    nextLoginAt: new Date(h.clock.wallNow() + 400).toISOString()
  })
  const warnings = h.records().filter((r) => r.level === 'warn')
  t.equal(warnings.length, 3)
  t.match(warnings[2], { msg: 'login failed: login answered 500', status: 500, code: 'login_failed', attempt: 3, retryInSeconds: 2 })
  t.equal(h.records().filter((r) => r.level === 'error' || r.level === 'fatal').length, 0, 'a server error is not an operator error')
})

t.test('a network error is retried like any other failure', async (t) => {
  const h = await startTokenHarness(t, { clock: { random: 0.999 }, config: { upstreamOrigin: 'http://127.0.0.1:9' } })
  await until(() => h.results.length === 1, 'the first login')
  t.match(h.manager.status().lastLoginError, { status: null, code: null, message: /^login request failed/ })
  t.equal(h.clock.nextTimerIn(), 999)
})
