// status() for /-/status: the lifecycle state and history, never the token or a credential.
import t from 'tap'
import { createLogger } from '../src/log.js'
import { createTokenManager } from '../src/token/token-manager.js'
import { ManualClock } from './helpers/manual-clock.js'
import { startTokenHarness } from './helpers/token-harness.js'
import { until } from './helpers/until.js'

const API_KEY = 'status-SECRET-api-key-41c2'

t.test('status() through a lifecycle never shows the token or the api key', async (t) => {
  const h = await startTokenHarness(t, {
    start: false,
    clock: { random: [0, 0.5] },
    mock: { apiKey: API_KEY },
    config: { apiKey: API_KEY, scope: 'r:scope', loginAs: 'someone' }
  })
  const snapshots: unknown[] = []
  snapshots.push(h.manager.status())
  t.match(h.manager.status(), {
    ready: false,
    state: 'starting',
    loginInFlight: false,
    token: { obtainedAt: null, expiresAt: null, refreshAt: null },
    logins: { ok: 0, rejected: 0, rate_limited: 0, error: 0 },
    lastLoginError: null,
    nextLoginAt: null
  })
  h.manager.start()
  t.match(h.manager.status(), { state: 'starting', loginInFlight: true })
  const token = await h.manager.acquire() as string
  snapshots.push(h.manager.status())
  t.match(h.manager.status(), { ready: true, state: 'ready', loginInFlight: false, logins: { ok: 1 } })
  h.mock.loginQueue.push({ status: 429, headers: { 'retry-after': '5' } })
  await h.clock.advance(1_206_000)
  snapshots.push(h.manager.status())
  t.match(h.manager.status(), { ready: true, state: 'backoff', logins: { ok: 1, rate_limited: 1 }, lastLoginError: { status: 429, code: 'too_many_requests' } })
  await h.clock.advance(5000)
  snapshots.push(h.manager.status())
  t.match(h.manager.status(), { state: 'ready', logins: { ok: 2, rate_limited: 1 }, lastLoginError: { status: 429 } }, 'the last error stays visible after recovery')
  const all = JSON.stringify(snapshots)
  for (const issued of h.mock.issuedTokens) t.notMatch(all, issued, 'no token')
  t.notMatch(all, token.split('.')[2] as string, 'not even the signature')
  t.notMatch(all, API_KEY, 'no api key')
  t.notMatch(h.lines.join('\n'), API_KEY, 'the key is in no log line, trace included')
  for (const issued of h.mock.issuedTokens) t.notMatch(h.lines.join('\n'), issued, 'no token in any log line')
})

t.test('status() is a copy: changing it changes nothing', async (t) => {
  const h = await startTokenHarness(t)
  await h.manager.acquire()
  const status = h.manager.status()
  status.logins.ok = 99
  t.equal(h.manager.status().logins.ok, 1)
})

t.test('retryAfterSeconds() is 1 when no login is scheduled', async (t) => {
  const h = await startTokenHarness(t, { start: false })
  t.equal(h.manager.retryAfterSeconds(), 1)
  h.manager.start()
  t.equal(h.manager.retryAfterSeconds(), 1, 'while the login is in flight')
  await h.manager.acquire()
  t.equal(h.manager.retryAfterSeconds(), 1176, 'the refresh, should anyone ask')
})

t.test('onLoginResult gets each result with its duration; a throwing hook changes nothing', async (t) => {
  const h = await startTokenHarness(t, { throwingHook: true, clock: { random: 0.999 } })
  h.mock.loginQueue.push({ status: 500 })
  await until(() => h.results.length === 1, 'the first login')
  await h.clock.runNext()
  t.same(h.results, [{ result: 'error', durationMs: 0 }, { result: 'ok', durationMs: 0 }])
  t.ok(h.manager.isReady())
  t.equal(h.records().filter((r) => r.msg === 'onLoginResult hook threw; ignored').length, 2)
})

t.test('without a hook nothing is reported', async (t) => {
  const h = await startTokenHarness(t, { start: false })
  const manager = createTokenManager({ config: h.config, dispatcher: h.pool, clock: new ManualClock(), log: createLogger('silent') })
  t.teardown(manager.stop)
  manager.start()
  t.type(await manager.acquire(), 'string')
})
