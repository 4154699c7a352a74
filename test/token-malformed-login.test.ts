// A 2xx login answer that is not a usable token counts as a failed login: never handed out, never logged.
import t from 'tap'
import type { LoginBehaviour } from '../src/mock/roecny.js'
import { startTokenHarness } from './helpers/token-harness.js'
import { until } from './helpers/until.js'

const FUTURE = '2099-01-01T00:00:00+0000'
/** Every bad token carries this, so a test can prove it reached no log line. */
const MARK = 'tokmark7Q'

const cases: Array<[string, LoginBehaviour, RegExp]> = [
  ['a body that is not JSON', { body: `{"token": "${MARK}", "expires_at": ` }, /not a JSON object/],
  ['a JSON array', { body: '["token"]' }, /not a JSON object/],
  ['JSON null', { body: 'null' }, /not a JSON object/],
  ['no token field', { body: JSON.stringify({ expires_at: FUTURE, tokn: MARK }) }, /no token string/],
  ['a numeric token', { token: 12345, expiresAt: FUTURE }, /no token string/],
  ['a null token', { token: null, expiresAt: FUTURE }, /no token string/],
  ['an empty token', { token: '', expiresAt: FUTURE }, /empty token/],
  ['a token with CR/LF (header injection)', { token: MARK + '\r\nx-injected: 1', expiresAt: FUTURE }, /not a legal header value/],
  ['a token with a bare LF', { token: MARK + '\ndef', expiresAt: FUTURE }, /not a legal header value/],
  ['a token with NUL', { token: MARK + '\u0000def', expiresAt: FUTURE }, /not a legal header value/],
  ['a token with a space', { token: MARK + ' def', expiresAt: FUTURE }, /not a legal header value/],
  ['a token with a tab', { token: MARK + '\tdef', expiresAt: FUTURE }, /not a legal header value/],
  ['a token with non-ASCII', { token: MARK + 'é', expiresAt: FUTURE }, /not a legal header value/],
  ['a token with DEL', { token: MARK + '\u007f', expiresAt: FUTURE }, /not a legal header value/]
]

for (const [name, behaviour, message] of cases) {
  t.test(name, async (t) => {
    const h = await startTokenHarness(t, { clock: { random: 0.999 } })
    h.mock.loginQueue.push(behaviour)
    await until(() => h.results.length === 1, 'the login')
    t.equal(h.results[0]?.result, 'error')
    t.equal(h.manager.isReady(), false)
    t.equal(h.manager.current(), undefined)
    t.equal(await h.manager.acquire(), undefined)
    t.match(h.manager.status(), { state: 'backoff', lastLoginError: { status: 200, code: null, message } })
    t.equal(h.clock.nextTimerIn(), 999, 'retried like any failure')
    t.notMatch(h.lines.join('\n'), MARK, 'the bad token is in no log line')
    t.notMatch(JSON.stringify(h.manager.status()), MARK, 'nor in status()')
    await h.clock.runNext()
    await until(() => h.results.length === 2, 'the retry')
    t.equal(h.results[1]?.result, 'ok', 'a good answer afterwards is used')
    t.equal(await h.apiStatus(h.manager.current() as string), 200)
  })
}
