// Refresh ahead: at refreshRatio of the lifetime, a little earlier at random, while the current token keeps serving.
import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Pool } from 'undici'
import { createLogger } from '../src/log.js'
import { MAX_LIFETIME_MS } from '../src/token/plan.js'
import { createTokenManager } from '../src/token/token-manager.js'
import { testConfig } from './helpers/config.js'
import { ManualClock } from './helpers/manual-clock.js'
import { startTokenHarness } from './helpers/token-harness.js'
import { until } from './helpers/until.js'

const LIFETIME = 1_800_000

t.test('across three lifetimes every token handed out is one the mock accepts', async (t) => {
  const h = await startTokenHarness(t, { clock: { random: 0.5 } })
  await h.manager.acquire()
  t.equal(h.clock.nextTimerIn(), 1_206_000 * (1 - 0.05 * 0.5), 'refresh at 67 % of the lifetime, 2.5 % earlier')
  const seen = new Set<string>()
  const problems: string[] = []
  for (let elapsed = 0; elapsed <= 3 * LIFETIME; elapsed += 10_000) {
    const token = h.manager.current()
    if (token === undefined) problems.push(`no token at ${elapsed} ms`)
    else {
      seen.add(token)
      if (await h.manager.acquire() !== token) problems.push(`acquire() disagrees with current() at ${elapsed} ms`)
      if (await h.apiStatus(token) !== 200) problems.push(`the mock refused the token at ${elapsed} ms`)
    }
    await h.clock.advance(10_000)
  }
  t.same(problems, [])
  t.equal(h.mock.logins.length, 5, 'one login, then a refresh every 1,175.85 s')
  t.equal(seen.size, 5)
  t.same(h.results.map((r) => r.result), ['ok', 'ok', 'ok', 'ok', 'ok'])
})

t.test('the current token keeps serving while a refresh is in flight', async (t) => {
  const h = await startTokenHarness(t, { settleLogins: false, clock: { random: 0 } })
  const first = await h.manager.acquire()
  h.clock.setRandom(0.5)
  h.mock.loginQueue.push({ hang: true })
  await h.clock.advance(1_206_000)
  await until(() => h.mock.logins.length === 2, 'the refresh to reach the mock')
  t.equal(h.manager.current(), first)
  t.equal(await h.manager.acquire(), first, 'acquire() does not wait for a refresh while a token is usable')
  t.match(h.manager.status(), { state: 'refreshing', ready: true, loginInFlight: true, nextLoginAt: null })
  await h.clock.advance(10_000)
  await until(() => h.results.length === 2, 'the refresh to time out')
  t.equal(h.results[1]?.result, 'error')
  t.equal(h.manager.current(), first, 'a failed refresh does not retire a usable token')
  t.equal(h.manager.status().state, 'backoff')
  t.equal(h.clock.nextTimerIn(), 500, 'first retry after random() * 1 s')
  await h.clock.runNext()
  await until(() => h.results.length === 3, 'the retry')
  t.equal(h.results[2]?.result, 'ok')
  t.not(h.manager.current(), first)
  t.equal(h.manager.status().state, 'ready')
})

t.test('jitter moves the refresh up to 5 % earlier, never later', async (t) => {
  for (const [random, expected] of [[0, 1_206_000], [0.999, 1_206_000 * (1 - 0.05 * 0.999)]] as const) {
    const h = await startTokenHarness(t, { clock: { random } })
    await h.manager.acquire()
    t.equal(h.clock.nextTimerIn(), expected, `random ${random}`)
    t.equal(h.manager.refreshAtWallMs(), h.clock.wallNow() + expected)
    await h.close()
  }
})

t.test('the refresh is logged with the expiry and the schedule, and shown in status()', async (t) => {
  const h = await startTokenHarness(t, { clock: { random: 0 } })
  await h.manager.acquire()
  const start = h.clock.wallNow()
  const line = h.records().find((r) => r.msg === 'login succeeded; token refresh scheduled')
  t.match(line, {
    level: 'info',
    expiresAt: new Date(start + LIFETIME).toISOString(),
    lifetimeSeconds: 1800,
    refreshAt: new Date(start + 1_206_000).toISOString(),
    refreshInSeconds: 1206
  })
  t.same(h.manager.status().token, {
    obtainedAt: new Date(start).toISOString(),
    expiresAt: new Date(start + LIFETIME).toISOString(),
    refreshAt: new Date(start + 1_206_000).toISOString()
  })
  t.equal(h.manager.status().nextLoginAt, new Date(start + 1_206_000).toISOString())
  t.equal(h.manager.expiresAtWallMs(), start + LIFETIME)
})

t.test('the lifetime runs from when the login was sent, not from when the answer came', async (t) => {
  // A real server that answers only when told, so manual time can pass while the login is in flight.
  let answer: (() => void) | undefined
  const clock = new ManualClock()
  const server = createServer((req, res) => {
    req.resume()
    answer = function answerNow () {
      const now = clock.wallNow()
      res.writeHead(200, { 'content-type': 'application/json', date: new Date(now).toUTCString() })
      res.end(JSON.stringify({ token: 'slow-token', expires_at: new Date(now + LIFETIME).toISOString() }))
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const pool = new Pool(origin)
  t.teardown(() => pool.destroy())
  const manager = createTokenManager({ config: testConfig({ baseUrl: origin }), dispatcher: pool, clock, log: createLogger('silent') })
  t.teardown(manager.stop)
  const start = clock.wallNow()
  manager.start()
  await until(() => answer !== undefined, 'the login to reach the server')
  await clock.advance(3000)
  answer?.()
  t.equal(await manager.acquire(), 'slow-token')
  t.equal(manager.expiresAtWallMs(), start + LIFETIME, 'expiry is 30 min after the send, 3 s before 30 min after the answer')
  t.equal(manager.status().token.obtainedAt, new Date(start + 3000).toISOString())
})

t.test('a high refresh ratio on a short lifetime never plans past the safety margin', async (t) => {
  const h = await startTokenHarness(t, { config: { refreshRatio: 0.95 }, mock: { tokenLifetimeSeconds: 100 }, clock: { random: 0 } })
  await h.manager.acquire()
  t.equal(h.clock.nextTimerIn(), 90_000, 'at the start of the 10 s margin, not at 95 s')
})

t.test('an absurdly short lifetime still waits a second before refreshing', async (t) => {
  const h = await startTokenHarness(t, { mock: { tokenLifetimeSeconds: 1 }, clock: { random: 0 } })
  await h.manager.acquire()
  t.equal(h.clock.nextTimerIn(), 1000)
})

t.test('an absurdly long lifetime is treated as a day', async (t) => {
  const h = await startTokenHarness(t, { mock: { tokenLifetimeSeconds: 10 * 86_400 }, clock: { random: 0 } })
  await h.manager.acquire()
  t.equal(h.manager.expiresAtWallMs() - h.clock.wallNow(), MAX_LIFETIME_MS)
  t.equal(h.clock.nextTimerIn(), MAX_LIFETIME_MS * 0.67)
})
