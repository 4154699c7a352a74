// A login that never answers fails after loginTimeoutMs of clock time, and acquire() waits for it no longer.
import t from 'tap'
import { startTokenHarness } from './helpers/token-harness.js'
import { until } from './helpers/until.js'

t.test('a hanging login fails after loginTimeoutMs and is retried', async (t) => {
  const h = await startTokenHarness(t, { settleLogins: false, clock: { random: 0.999 }, config: { loginTimeoutMs: 5000 } })
  h.mock.loginQueue.push({ hang: true })
  await until(() => h.mock.logins.length === 1, 'the login to reach the mock')
  await h.clock.advance(4999)
  t.equal(h.manager.loginInFlight(), true)
  t.equal(h.manager.status().state, 'starting')
  await h.clock.advance(1)
  await until(() => h.results.length === 1, 'the timeout')
  t.same(h.results[0], { result: 'error', durationMs: 5000 })
  t.match(h.manager.status().lastLoginError, { status: null, code: null, message: 'login timed out after 5000 ms' })
  t.equal(h.clock.nextTimerIn(), 999)
  await h.clock.advance(999)
  await until(() => h.results.length === 2, 'the retry')
  t.equal(h.results[1]?.result, 'ok')
})

t.test('acquire() waits for the login in flight and gives up with it after loginTimeoutMs', async (t) => {
  const h = await startTokenHarness(t, { settleLogins: false, config: { loginTimeoutMs: 10_000 } })
  h.mock.loginQueue.push({ hang: true })
  let answered = false
  let got: string | undefined = 'pending'
  const waiting = h.manager.acquire().then((token) => { answered = true; got = token })
  await until(() => h.mock.logins.length === 1, 'the login to reach the mock')
  await h.clock.advance(9999)
  t.equal(answered, false, 'still waiting at 9,999 ms')
  await h.clock.advance(1)
  await waiting
  t.equal(got, undefined, 'undefined once the login has failed: the caller answers 503')
  t.equal(h.mock.logins.length, 1)
})

t.test('acquire() that joins late waits only for the rest of the attempt', async (t) => {
  const h = await startTokenHarness(t, { settleLogins: false, config: { loginTimeoutMs: 10_000 } })
  h.mock.loginQueue.push({ hang: true })
  await until(() => h.mock.logins.length === 1, 'the login to reach the mock')
  await h.clock.advance(6000)
  let answered = false
  const waiting = h.manager.acquire().then(() => { answered = true })
  await h.clock.advance(3999)
  t.equal(answered, false)
  await h.clock.advance(1)
  await waiting
  t.equal(answered, true)
})
