// An upstream 401 to the current token retires it and logs in at once; a 401 to a stale token does nothing.
import t from 'tap'
import { startTokenHarness } from './helpers/token-harness.js'
import { until } from './helpers/until.js'

t.test('invalidate() with the current token: exactly one new login, the old token is gone', async (t) => {
  const h = await startTokenHarness(t, { clock: { random: 0 } })
  const old = await h.manager.acquire() as string
  h.mock.revokeAll()
  t.equal(await h.apiStatus(old), 401, 'Roecny now refuses it')
  h.manager.invalidate(old)
  t.equal(h.manager.current(), undefined, 'retired at once')
  t.equal(h.manager.loginInFlight(), true)
  h.manager.invalidate(old)
  const fresh = await h.manager.acquire() as string
  t.equal(h.mock.logins.length, 2, 'two invalidations of one token make one login')
  t.not(fresh, old)
  t.equal(await h.apiStatus(fresh), 200)
  t.equal(h.clock.nextTimerIn(), 1_206_000, 'the new token gets its own refresh schedule')
  t.match(h.records().find((r) => r.msg === 'upstream refused the current token; logging in again'), { level: 'info' })
})

t.test('invalidate() with a stale or unknown token does nothing', async (t) => {
  const h = await startTokenHarness(t)
  const old = await h.manager.acquire() as string
  h.manager.invalidate(old)
  const fresh = await h.manager.acquire()
  h.manager.invalidate(old)
  h.manager.invalidate('never-issued')
  h.manager.invalidate('')
  await h.clock.advance(1000)
  t.equal(h.mock.logins.length, 2)
  t.equal(h.manager.current(), fresh)
})

t.test('invalidate() during a refresh in flight starts no second login', async (t) => {
  const h = await startTokenHarness(t, { settleLogins: false, clock: { random: 0 } })
  const old = await h.manager.acquire() as string
  h.mock.loginQueue.push({ hang: true })
  await h.clock.advance(1_206_000)
  await until(() => h.mock.logins.length === 2, 'the refresh to reach the mock')
  h.manager.invalidate(old)
  t.equal(h.manager.current(), undefined)
  t.equal(h.mock.logins.length, 2)
  t.equal(h.manager.loginInFlight(), true)
})

t.test('invalidate() during backoff logs in at once, once', async (t) => {
  const h = await startTokenHarness(t, { clock: { random: [0, 0.999] } })
  const old = await h.manager.acquire() as string
  h.mock.defaultLogin = { status: 500 }
  await h.clock.advance(1_206_000)
  t.equal(h.manager.status().state, 'backoff')
  t.equal(h.mock.logins.length, 2)
  h.mock.defaultLogin = {}
  h.manager.invalidate(old)
  const fresh = await h.manager.acquire()
  t.equal(h.mock.logins.length, 3)
  t.not(fresh, old)
  t.equal(h.manager.status().state, 'ready')
})

t.test('invalidate() before start() or after stop() does nothing', async (t) => {
  const h = await startTokenHarness(t, { start: false })
  h.manager.invalidate('anything')
  await h.manager.stop()
  h.manager.invalidate('anything')
  await h.clock.advance(1000)
  t.equal(h.mock.logins.length, 0)
})
