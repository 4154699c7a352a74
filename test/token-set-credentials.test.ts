// New credentials (a rotated secret file): a login with them starts at once, the current token serves until it succeeds;
// a login in flight with the old ones is dropped; a rejection of the new ones keeps the token until its margin, one error.
import t from 'tap'
import { startTokenHarness } from './helpers/token-harness.js'
import { until } from './helpers/until.js'
import type { TokenHarness } from './helpers/token-harness.js'

const NEW_ID = 'client-ROTATED-77'
const NEW_KEY = 'key-ROTATED-5e1f0c'

function errors (h: TokenHarness): Array<Record<string, unknown>> {
  return h.records().filter((r) => r.level === 'error')
}

t.test('a new API key: one login with it at once; the old token serves until it succeeds; then the new one', async (t) => {
  const h = await startTokenHarness(t)
  const old = await h.manager.acquire()
  t.ok(old)
  h.mock.acceptedCredentials = [{ clientId: 'demo-client', apiKey: NEW_KEY }]
  h.mock.defaultLogin = { held: true }
  t.equal(h.manager.setCredentials({ apiKey: NEW_KEY }), true)
  t.equal(h.mock.logins.length, 1, 'the login starts once the caller yields, not inside setCredentials')
  await until(() => h.mock.logins.length === 2, 'the login with the new key')
  t.equal(h.mock.logins[1]?.headers['x-api-key'], NEW_KEY)
  t.equal(h.mock.logins[1]?.headers['x-client-id'], 'demo-client', 'the other credential stays')
  t.equal(h.manager.current(), old, 'the current token serves while the login runs')
  t.equal(h.manager.status().state, 'refreshing')
  t.equal(await h.apiStatus(old as string), 200)
  h.mock.releaseLogins()
  await until(() => h.manager.current() !== old, 'the new token')
  t.equal(h.manager.current(), h.mock.issuedTokens[1])
  t.match(h.manager.status(), { state: 'ready', logins: { ok: 2 } })
  t.ok(h.records().some((r) => r.msg === 'credentials changed; logging in with the new ones' && r.level === 'info'))
  t.notMatch(h.lines.join('\n'), NEW_KEY, 'the key is in no log line')
})

t.test('unchanged values change nothing', async (t) => {
  const h = await startTokenHarness(t)
  await h.manager.acquire()
  t.equal(h.manager.setCredentials({}), false)
  t.equal(h.manager.setCredentials({ clientId: 'demo-client', apiKey: 'demo-key' }), false)
  await h.clock.settle()
  t.equal(h.mock.logins.length, 1)
})

t.test('client ID and API key changed together (one volume update) cost one login', async (t) => {
  const h = await startTokenHarness(t)
  await h.manager.acquire()
  h.mock.acceptedCredentials = [{ clientId: NEW_ID, apiKey: NEW_KEY }]
  h.manager.setCredentials({ clientId: NEW_ID })
  h.manager.setCredentials({ apiKey: NEW_KEY })
  await until(() => h.results.length === 2, 'the login')
  t.equal(h.mock.logins.length, 2)
  t.match(h.mock.logins[1]?.headers, { 'x-client-id': NEW_ID, 'x-api-key': NEW_KEY })
  t.same(h.results.map((r) => r.result), ['ok', 'ok'])
})

t.test('a login in flight with the old key is dropped for one with the new key; waiting requests get the new token', async (t) => {
  const h = await startTokenHarness(t, { start: false })
  h.mock.acceptedCredentials = [{ clientId: 'demo-client', apiKey: NEW_KEY }]
  h.mock.loginQueue.push({ hang: true })
  h.manager.start()
  await until(() => h.mock.logins.length === 1, 'the first login')
  const waiting = h.manager.acquire()
  h.manager.setCredentials({ apiKey: NEW_KEY })
  const token = await waiting
  t.equal(token, h.mock.issuedTokens[0], 'the waiter got the token of the login with the new key')
  t.equal(h.mock.logins.length, 2)
  t.equal(h.mock.logins[1]?.headers['x-api-key'], NEW_KEY)
  t.same(h.results.map((r) => r.result), ['ok'], 'the dropped login is not counted as a failure')
  t.equal(h.manager.status().state, 'ready')
  t.equal(h.clock.pendingTimers(), 1, 'the refresh is the one timer left: the dropped login\'s timeout is gone')
})

t.test('before start() the new values are simply used by the first login; after stop() nothing starts', async (t) => {
  const h = await startTokenHarness(t, { start: false })
  h.mock.acceptedCredentials = [{ clientId: 'demo-client', apiKey: NEW_KEY }]
  h.manager.setCredentials({ apiKey: NEW_KEY })
  await h.clock.settle()
  t.equal(h.mock.logins.length, 0)
  h.manager.start()
  await until(() => h.results.length === 1, 'the first login')
  t.equal(h.mock.logins[0]?.headers['x-api-key'], NEW_KEY)
  h.manager.setCredentials({ apiKey: 'key-after-stop' })
  await h.manager.stop()
  await h.clock.settle()
  t.equal(h.mock.logins.length, 1, 'a change queued before stop() starts no login after it')
  h.manager.setCredentials({ apiKey: 'key-after-stop-2' })
  await h.clock.settle()
  t.equal(h.mock.logins.length, 1)
})

t.test('rejected new credentials: state rejected, the last error, one error line; the token serves until its margin', async (t) => {
  const h = await startTokenHarness(t, { clock: { random: [0, 0.5] } })
  const token = await h.manager.acquire()
  // The key the vendor knows has not changed: the rotated one is wrong.
  h.manager.setCredentials({ apiKey: NEW_KEY })
  await until(() => h.results.length === 2, 'the login with the new key')
  t.match(h.manager.status(), {
    ready: true,
    state: 'rejected',
    lastLoginError: { status: 401, code: 'credentials_invalid', message: 'login answered 401' }
  })
  t.equal(h.manager.current(), token, 'the current token keeps serving')
  t.equal(errors(h).length, 1)
  t.match(errors(h)[0], { msg: /^login rejected/ })
  // Retried slowly, with the new key, until the token reaches its safety margin (1,800 s - 30 s).
  await h.clock.advance(1_770_000 - 1)
  t.equal(h.manager.current(), token)
  t.ok(h.results.length > 3, 'retried')
  t.ok(h.mock.logins.slice(1).every((login) => login.headers['x-api-key'] === NEW_KEY), 'always with the new key')
  t.equal(errors(h).length, 1, 'still one error line')
  await h.clock.advance(1)
  t.equal(h.manager.current(), undefined, 'no token is sent within its safety margin')
  t.notMatch(h.lines.join('\n'), NEW_KEY)
  t.notMatch(JSON.stringify(h.manager.status()), NEW_KEY)
})

t.test('credentials fixed after a rejection: the next change logs in at once, its rejection is an error again', async (t) => {
  const h = await startTokenHarness(t, { config: { apiKey: 'key-WRONG-at-start' } })
  await until(() => h.results.length === 1, 'the first login')
  t.equal(h.manager.status().state, 'rejected')
  h.manager.setCredentials({ apiKey: 'key-WRONG-again' })
  await until(() => h.results.length === 2, 'the login with the second key')
  t.equal(errors(h).length, 2, 'a rejection of other credentials is logged again')
  h.manager.setCredentials({ apiKey: 'demo-key' })
  await until(() => h.results.length === 3, 'the login with the right key')
  t.equal(h.clock.monotonic(), 0, 'at once, not after the rejected backoff')
  t.match(h.manager.status(), { ready: true, state: 'ready' })
  t.equal(errors(h).length, 2)
})
