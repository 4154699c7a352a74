// Rejected credentials (401/403): not ready, retried slowly (cap 5 min), an error logged once per change of state.
import t from 'tap'
import { startTokenHarness } from './helpers/token-harness.js'
import type { TokenHarness } from './helpers/token-harness.js'
import { until } from './helpers/until.js'

const WRONG_KEY = 'wrong-SECRET-key-3f9a'

function errors (h: TokenHarness): Array<Record<string, unknown>> {
  return h.records().filter((r) => r.level === 'error')
}

t.test('a wrong api key: not ready, slow retries up to 5 min, one error line', async (t) => {
  const h = await startTokenHarness(t, { clock: { random: 0.999 }, config: { apiKey: WRONG_KEY } })
  await until(() => h.results.length === 1, 'the first login')
  const delays: Array<number | undefined> = []
  for (let i = 0; i < 8; i++) {
    delays.push(await h.clock.runNext())
    await until(() => h.results.length === i + 2, 'the retry')
  }
  t.same(delays, [10, 20, 40, 80, 160, 300, 300, 300].map((s) => s * 999))
  t.equal(h.manager.isReady(), false)
  t.equal(h.manager.current(), undefined)
  t.equal(await h.manager.acquire(), undefined)
  t.match(h.manager.status(), {
    ready: false,
    state: 'rejected',
    logins: { ok: 0, rejected: 9, rate_limited: 0, error: 0 },
    lastLoginError: { status: 401, code: 'credentials_invalid', message: 'login answered 401' }
  })
  t.equal(h.manager.retryAfterSeconds(), 300)
  t.equal(errors(h).length, 1, 'one error for nine rejected attempts')
  t.match(errors(h)[0], { status: 401, code: 'credentials_invalid', attempt: 1, msg: /^login rejected/ })
  t.equal(h.records().filter((r) => r.level === 'warn').length, 0, 'and no warning per attempt')
  t.equal(h.records().filter((r) => r.msg === 'login still rejected').length, 8, 'the repeats stay at debug')
  t.notMatch(h.lines.join('\n'), WRONG_KEY, 'the key is in no log line')
  t.notMatch(JSON.stringify(h.manager.status()), WRONG_KEY, 'nor in status()')
})

t.test('recovery is logged once at info, a new rejection is an error again', async (t) => {
  const h = await startTokenHarness(t, { clock: { random: 0.5 } })
  h.mock.loginQueue.push({ status: 401 }, { status: 403 }, { status: 500 }, { status: 401 }, {})
  await until(() => h.results.length === 1, 'the first login')
  for (let i = 1; i < 5; i++) {
    await h.clock.runNext()
    await until(() => h.results.length === i + 1, 'the retry')
  }
  t.same(h.results.map((r) => r.result), ['rejected', 'rejected', 'error', 'rejected', 'ok'])
  t.equal(errors(h).length, 1, 'a server error between rejections does not make a new state')
  t.equal(h.records().filter((r) => r.msg === 'login credentials accepted again').length, 1)
  t.equal(h.manager.status().state, 'ready')
  t.ok(h.manager.isReady())
  h.mock.loginQueue.push({ status: 403 })
  h.manager.invalidate(h.manager.current() as string)
  await until(() => h.results.length === 6, 'the login after invalidate')
  t.equal(errors(h).length, 2)
  t.match(errors(h)[1], { status: 403, code: 'login_failed' })
  t.equal(h.manager.status().state, 'rejected')
})

t.test('a rejected refresh keeps the token serving until the safety margin', async (t) => {
  const h = await startTokenHarness(t, { clock: { random: [0, 0.5] } })
  const token = await h.manager.acquire()
  h.mock.defaultLogin = { status: 401 }
  await h.clock.advance(1_206_000)
  t.equal(h.manager.status().state, 'rejected')
  t.equal(h.manager.current(), token)
  t.equal(errors(h).length, 1)
  await h.clock.advance(1_770_000 - 1_206_000 - 1)
  t.equal(h.manager.current(), token, 'still serving just inside the margin')
  await h.clock.advance(1)
  t.equal(h.manager.current(), undefined)
  t.equal(errors(h).length, 1, 'still one error')
})
