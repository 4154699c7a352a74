// stop() cancels every timer and aborts a login in flight: nothing is left running, and it is final.
import t from 'tap'
import { startTokenHarness } from './helpers/token-harness.js'
import { until } from './helpers/until.js'

t.test('stop() during a login in flight aborts it and leaves no timer', async (t) => {
  const h = await startTokenHarness(t, { settleLogins: false })
  h.mock.loginQueue.push({ hang: true })
  await until(() => h.mock.logins.length === 1, 'the login to reach the mock')
  const waiting = h.manager.acquire()
  await h.manager.stop()
  t.equal(await waiting, undefined, 'a waiting acquire() is released')
  t.equal(h.clock.pendingTimers(), 0)
  t.equal(h.manager.loginInFlight(), false)
  t.same(h.results, [], 'an attempt we aborted ourselves is not a login result')
  t.match(h.manager.status(), { state: 'stopped', ready: false, nextLoginAt: null, lastLoginError: null })
  await h.clock.advance(3_600_000)
  t.equal(h.mock.logins.length, 1)
})

t.test('stop() with a token and a refresh scheduled', async (t) => {
  const h = await startTokenHarness(t)
  await h.manager.acquire()
  t.equal(h.clock.pendingTimers(), 1)
  await h.manager.stop()
  t.equal(h.clock.pendingTimers(), 0)
  t.equal(h.manager.current(), undefined)
  t.equal(await h.manager.acquire(), undefined)
  t.same(h.manager.status().token, { obtainedAt: null, expiresAt: null, refreshAt: null })
  t.equal(h.manager.expiresAtWallMs(), 0)
  t.equal(h.manager.refreshAtWallMs(), 0)
  await h.clock.advance(7_200_000)
  t.equal(h.mock.logins.length, 1)
})

t.test('stop() in backoff; start() after stop() does nothing', async (t) => {
  const h = await startTokenHarness(t)
  h.mock.defaultLogin = { status: 500 }
  await until(() => h.results.length === 1, 'the first login')
  t.equal(h.clock.pendingTimers(), 1)
  await h.manager.stop()
  await h.manager.stop()
  t.equal(h.clock.pendingTimers(), 0)
  h.manager.start()
  await h.clock.advance(3_600_000)
  t.equal(h.mock.logins.length, 1)
  t.equal(h.manager.status().state, 'stopped')
})

t.test('stop() before start()', async (t) => {
  const h = await startTokenHarness(t, { start: false })
  await h.manager.stop()
  h.manager.start()
  await h.clock.advance(1000)
  t.equal(h.mock.logins.length, 0)
  t.equal(h.clock.pendingTimers(), 0)
})
