// retryNow() (SIGHUP): with no usable token the retry starts at once, unless Retry-After runs, at most once per 10 s.
import t from 'tap'
import { RETRY_NOW_INTERVAL_MS } from '../src/token/token-manager.js'
import { startTokenHarness } from './helpers/token-harness.js'
import type { TokenHarness } from './helpers/token-harness.js'
import { until } from './helpers/until.js'

function said (h: TokenHarness): string[] {
  return h.records().filter((r) => r.level === 'info' && typeof r.msg === 'string' && r.msg.startsWith('no usable token')).map((r) => r.msg as string)
}

t.test('in backoff: the retry starts at once, the backoff timer is dropped, and the token comes', async (t) => {
  const h = await startTokenHarness(t, { clock: { random: 0.999 } })
  h.mock.defaultLogin = { status: 503 }
  await until(() => h.results.length === 1, 'the first login')
  await h.clock.runNext()
  await until(() => h.results.length === 2, 'the first retry')
  t.equal(h.manager.status().state, 'backoff')
  t.equal(h.clock.nextTimerIn(), 1998, 'the next retry 2 s away')
  h.mock.defaultLogin = {}
  t.equal(h.manager.retryNow(), 'started')
  await until(() => h.results.length === 3, 'the login retryNow started')
  t.equal(h.mock.logins.length, 3, 'one login, without time passing')
  t.equal(h.clock.monotonic(), 999)
  t.match(h.manager.status(), { state: 'ready', ready: true })
  t.equal(h.clock.nextTimerIn(), 1_206_000 * (1 - 0.05 * 0.999), 'only the refresh is scheduled')
  t.match(h.records().find((r) => r.msg === 'no usable token; logging in now instead of at the scheduled retry'), { level: 'info', state: 'backoff' })
})

t.test('what retryNow() does, and why, in each situation', async (t) => {
  const rows: Array<{ why: string, setup: (h: TokenHarness) => Promise<void>, outcome: string, logins: number, line: RegExp | undefined }> = [
    { why: 'not started', setup: async () => {}, outcome: 'not-running', logins: 0, line: undefined },
    {
      why: 'a usable token: nothing to do, nothing said',
      setup: async (h) => { h.manager.start(); await h.manager.acquire() },
      outcome: 'token-usable',
      logins: 1,
      line: undefined
    },
    {
      why: 'a login already on its way',
      setup: async (h) => { h.mock.loginQueue.push({ held: true }); h.manager.start(); await until(() => h.mock.logins.length === 1, 'the login') },
      outcome: 'login-in-flight',
      logins: 1,
      line: /^no usable token; a login is already on its way$/
    },
    {
      why: 'new credentials set: their own login starts once the caller yields',
      setup: async (h) => {
        h.mock.loginQueue.push({ status: 500 })
        h.manager.start()
        await until(() => h.results.length === 1, 'the first login')
        h.manager.setCredentials({ apiKey: 'another-key' })
      },
      outcome: 'login-in-flight',
      logins: 1,
      line: /^no usable token; a login is already on its way$/
    },
    {
      why: 'stopped',
      setup: async (h) => { h.manager.start(); await h.manager.acquire(); await h.manager.stop() },
      outcome: 'not-running',
      logins: 1,
      line: undefined
    }
  ]
  for (const row of rows) {
    const h = await startTokenHarness(t, { start: false, settleLogins: false })
    await row.setup(h)
    const before = said(h).length
    t.equal(h.manager.retryNow(), row.outcome, row.why)
    t.equal(h.mock.logins.length, row.logins, `${row.why}: no login of its own`)
    const lines = said(h).slice(before)
    if (row.line === undefined) t.same(lines, [], `${row.why}: nothing logged`)
    else t.match(lines, [row.line], `${row.why}: logged`)
    h.mock.releaseLogins()
    await h.close()
  }
})

t.test('Roecny\'s Retry-After is not cut short, and is not held beyond its end', async (t) => {
  // Rejected with Retry-After 5: the slow retry (10 s) comes after it, so the window in between is retryNow()'s.
  const h = await startTokenHarness(t, { clock: { random: 0.999 } })
  h.mock.loginQueue.push({ status: 401, headers: { 'retry-after': '5' } })
  await until(() => h.results.length === 1, 'the first login')
  t.equal(h.clock.nextTimerIn(), 9990)
  t.equal(h.manager.retryNow(), 'retry-after')
  t.match(said(h), [/^no usable token; Roecny's Retry-After still runs, so the login keeps its time$/])
  await h.clock.advance(4999)
  t.equal(h.manager.retryNow(), 'retry-after', 'a millisecond before it ends')
  t.equal(h.mock.logins.length, 1)
  await h.clock.advance(1)
  t.equal(h.manager.retryNow(), 'started', 'once it has run out')
  await until(() => h.results.length === 2, 'the login')
  t.ok(h.manager.isReady())
})

t.test('at most one login on request per 10 s, counted from the last one retryNow() started', async (t) => {
  // Rejected credentials: the slow retries (10 s, 20 s, ...) leave room to see the interval.
  const h = await startTokenHarness(t, { clock: { random: 0.999 }, config: { apiKey: 'wrong-key' } })
  await until(() => h.results.length === 1, 'the first login')
  t.equal(h.manager.retryNow(), 'started')
  await until(() => h.results.length === 2, 'the login on request')
  t.equal(h.manager.status().state, 'rejected')
  t.equal(h.manager.retryNow(), 'too-soon')
  await h.clock.advance(RETRY_NOW_INTERVAL_MS - 1)
  t.equal(h.manager.retryNow(), 'too-soon', 'a millisecond before the interval ends')
  t.equal(h.mock.logins.length, 2, 'no login of its own')
  t.match(said(h).at(-1), /^no usable token; a login was started on request less than 10 s ago, so the login keeps its time$/)
  await h.clock.advance(1)
  t.equal(h.manager.retryNow(), 'started', 'the interval has passed')
  await until(() => h.results.length === 3, 'the second login on request')
  t.equal(h.mock.logins.length, 3)
  t.equal(h.records().filter((r) => r.level === 'error').length, 1, 'rejected credentials are still one error line')
})
