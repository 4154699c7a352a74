// One login call: what it sends, how it reads the answer, and how it classifies each failure.
import t from 'tap'
import type { Test } from 'tap'
import { Pool } from 'undici'
import { login, MAX_LOGIN_BODY_BYTES } from '../src/token/login.js'
import type { LoginFailure, LoginOptions, LoginResult } from '../src/token/login.js'
import { startTokenHarness } from './helpers/token-harness.js'
import type { TokenHarness, TokenHarnessOptions } from './helpers/token-harness.js'
import { until } from './helpers/until.js'

const API_KEY = 'login-test-SECRET-api-key'

async function harness (t: Test, options: TokenHarnessOptions = {}): Promise<TokenHarness> {
  return startTokenHarness(t, { start: false, mock: { apiKey: API_KEY }, ...options, config: { apiKey: API_KEY, ...options.config } })
}

function optionsOf (h: TokenHarness, extra: Partial<LoginOptions> = {}): LoginOptions {
  return { config: h.config, dispatcher: h.pool, clock: h.clock, ...extra }
}

function failed (t: Test, result: LoginResult): LoginFailure {
  if (result.ok) throw new Error('expected a failed login')
  t.notMatch(JSON.stringify(result), API_KEY, 'a failure never carries the api key')
  return result
}

t.test('sends the vendor request and reads the granted lifetime', async (t) => {
  const h = await harness(t, { config: { scope: 'r:awx_action:balances_view', loginAs: 'sub-account-1' } })
  const result = await login(optionsOf(h))
  t.ok(result.ok)
  if (!result.ok) return
  t.equal(result.status, 200)
  t.equal(result.lifetimeMs, 1_800_000)
  t.equal(result.token, h.mock.issuedTokens[0])
  t.equal(await h.apiStatus(result.token), 200, 'the mock accepts the token')
  const sent = h.mock.logins[0]
  t.equal(sent?.method, 'POST')
  t.equal(sent?.url, '/api/v1/authentication/login')
  t.equal(sent?.headers['x-client-id'], 'demo-client')
  t.equal(sent?.headers['x-api-key'], API_KEY)
  t.equal(sent?.headers['content-type'], 'application/json')
  t.equal(sent?.headers['content-length'], '0', 'empty body')
  t.equal(sent?.headers.scope, 'r:awx_action:balances_view')
  t.equal(sent?.headers['x-login-as'], 'sub-account-1')
})

t.test('leaves out scope and x-login-as when not configured', async (t) => {
  const h = await harness(t)
  t.ok((await login(optionsOf(h))).ok)
  t.notOk('scope' in (h.mock.logins[0]?.headers ?? {}))
  t.notOk('x-login-as' in (h.mock.logins[0]?.headers ?? {}))
})

t.test('logs in under the base URL path prefix', async (t) => {
  const h = await harness(t)
  const result = failed(t, await login(optionsOf(h, { config: { ...h.config, upstreamPathPrefix: '/prefix' } })))
  t.equal(h.mock.requests[0]?.url, '/prefix/api/v1/authentication/login')
  t.equal(result.status, 401, 'the mock has no prefixed login, so this answers 401')
})

t.test('without a Date header the lifetime is measured against the local wall clock', async (t) => {
  const h = await harness(t, { clock: { wallOffsetMs: -60_000 } })
  h.mock.loginQueue.push({ omitDate: true })
  const result = await login(optionsOf(h))
  t.ok(result.ok)
  t.equal(result.ok && result.lifetimeMs, 1_860_000, 'a local clock a minute slow adds a minute')
})

t.test('an unparseable Date header falls back to the local wall clock', async (t) => {
  const h = await harness(t)
  h.mock.loginQueue.push({ headers: { date: 'yesterday-ish' } })
  const result = await login(optionsOf(h))
  t.equal(result.ok && result.lifetimeMs, 1_800_000)
})

t.test('401 and 403 are rejected credentials, with Roecny\'s code', async (t) => {
  const h = await harness(t, { config: { apiKey: 'wrong-SECRET' } })
  const wrong = failed(t, await login(optionsOf(h)))
  t.match(wrong, { kind: 'rejected', status: 401, code: 'credentials_invalid', message: 'login answered 401' })
  t.notMatch(JSON.stringify(wrong), 'wrong-SECRET')
  h.mock.loginQueue.push({ status: 403 })
  t.match(failed(t, await login(optionsOf(h))), { kind: 'rejected', status: 403, code: 'login_failed' })
})

t.test('429 is rate limited, with Retry-After in seconds or as an HTTP date', async (t) => {
  const h = await harness(t)
  h.mock.loginQueue.push({ status: 429, headers: { 'retry-after': '120' } })
  t.match(failed(t, await login(optionsOf(h))), { kind: 'rate_limited', status: 429, code: 'too_many_requests', retryAfterMs: 120_000 })
  // The date is read against the answer's own Date, so the mock an hour ahead of us changes nothing.
  const mockNow = h.clock.wallNow() + 3_600_000
  h.mock.loginQueue.push({ status: 429, headers: { date: new Date(mockNow).toUTCString(), 'retry-after': new Date(mockNow + 90_000).toUTCString() } })
  t.match(failed(t, await login(optionsOf(h))), { kind: 'rate_limited', retryAfterMs: 90_000 })
  h.mock.loginQueue.push({ status: 429, headers: { 'retry-after': 'soon' } })
  t.match(failed(t, await login(optionsOf(h))), { kind: 'rate_limited', retryAfterMs: undefined })
  h.mock.loginQueue.push({ status: 429 })
  t.match(failed(t, await login(optionsOf(h))), { kind: 'rate_limited', retryAfterMs: undefined })
})

t.test('other statuses are errors; Roecny\'s code only from a JSON error body', async (t) => {
  const h = await harness(t)
  h.mock.loginQueue.push({ status: 503, headers: { 'retry-after': '30' } })
  t.match(failed(t, await login(optionsOf(h))), { kind: 'error', status: 503, code: 'login_failed', retryAfterMs: 30_000 })
  h.mock.loginQueue.push({ status: 500, body: '<html>oops</html>' })
  t.match(failed(t, await login(optionsOf(h))), { kind: 'error', status: 500, code: undefined })
  h.mock.loginQueue.push({ status: 502, body: '{"message":"no code here"}' })
  t.match(failed(t, await login(optionsOf(h))), { kind: 'error', status: 502, code: undefined })
  h.mock.loginQueue.push({ status: 500, body: '{"code":""}' })
  t.match(failed(t, await login(optionsOf(h))), { code: undefined })
  h.mock.loginQueue.push({ status: 500, body: JSON.stringify({ code: 'x'.repeat(500) }) })
  t.equal(failed(t, await login(optionsOf(h))).code, 'x'.repeat(100), 'a long code is cut')
  h.mock.loginQueue.push({ status: 500, body: JSON.stringify({ code: 'huge', pad: 'x'.repeat(MAX_LOGIN_BODY_BYTES) }) })
  t.match(failed(t, await login(optionsOf(h))), { status: 500, code: undefined }, 'an oversized error body is not read')
  h.mock.loginQueue.push({})
  t.ok((await login(optionsOf(h))).ok, 'the pool still works after a destroyed body')
})

t.test('an answer larger than 64 KiB is refused without buffering it', async (t) => {
  const h = await harness(t)
  const big = JSON.stringify({ token: 'a'.repeat(MAX_LOGIN_BODY_BYTES), expires_at: '2099-01-01T00:00:00Z' })
  h.mock.loginQueue.push({ body: big })
  t.match(failed(t, await login(optionsOf(h))), { kind: 'error', status: 200, message: /larger than 65536 bytes/ }, 'streamed (chunked)')
  h.mock.loginQueue.push({ body: big, headers: { 'content-length': String(Buffer.byteLength(big)) } })
  t.match(failed(t, await login(optionsOf(h))), { kind: 'error', status: 200, message: /larger than 65536 bytes/ }, 'announced by content-length')
})

t.test('a network error is an error without a status', async (t) => {
  const h = await harness(t)
  const closed = new Pool('http://127.0.0.1:9')
  t.teardown(() => closed.destroy())
  const result = failed(t, await login(optionsOf(h, { dispatcher: closed, config: { ...h.config, upstreamOrigin: 'http://127.0.0.1:9' } })))
  t.match(result, { kind: 'error', status: undefined, code: undefined, message: /^login request failed: E[A-Z]+$/ })
})

t.test('an error without a code is still described tersely', async (t) => {
  const h = await harness(t)
  const broken = new Pool(h.config.upstreamOrigin, {
    connect (_options, callback) { callback(new Error('connector exploded with a long story'), null) }
  })
  t.teardown(() => broken.destroy())
  t.match(failed(t, await login(optionsOf(h, { dispatcher: broken }))), { kind: 'error', message: 'login request failed' })
})

t.test('an attempt is bounded by loginTimeoutMs of clock time', async (t) => {
  const h = await harness(t, { settleLogins: false, config: { loginTimeoutMs: 4000 } })
  h.mock.loginQueue.push({ hang: true })
  let settled: LoginResult | undefined
  const pending = login(optionsOf(h)).then((result) => { settled = result })
  await until(() => h.mock.logins.length === 1, 'the login to reach the mock')
  await h.clock.advance(3999)
  t.equal(settled, undefined, 'still waiting just before the timeout')
  await h.clock.advance(1)
  await pending
  t.match(settled, { ok: false, kind: 'error', status: undefined, message: 'login timed out after 4000 ms' })
  t.equal(h.clock.pendingTimers(), 0)
})

t.test('the caller can abort an attempt', async (t) => {
  const h = await harness(t, { settleLogins: false })
  h.mock.loginQueue.push({ hang: true })
  const controller = new AbortController()
  const pending = login(optionsOf(h, { signal: controller.signal }))
  await until(() => h.mock.logins.length === 1, 'the login to reach the mock')
  controller.abort()
  t.match(failed(t, await pending), { kind: 'error', message: 'login aborted' })
  t.equal(h.clock.pendingTimers(), 0, 'the timeout timer is gone')
  t.match(failed(t, await login(optionsOf(h, { signal: AbortSignal.abort() }))), { message: 'login aborted' }, 'an aborted signal never sends')
  t.equal(h.mock.logins.length, 1)
})
