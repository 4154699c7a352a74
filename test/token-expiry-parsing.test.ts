// The token's lifetime: expires_at in each offset form, the JWT exp when expires_at is unusable, and failure with neither.
import t from 'tap'
import type { Test } from 'tap'
import { jwtExpiry, login, parseExpiresAt } from '../src/token/login.js'
import type { LoginResult } from '../src/token/login.js'
import { startTokenHarness } from './helpers/token-harness.js'
import type { TokenHarness } from './helpers/token-harness.js'

const HALF_HOUR = 1_800_000

function fakeJwt (payload: unknown): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${part({ alg: 'none' })}.${part(payload)}.c2ln`
}

async function loginWith (t: Test, behaviour: Parameters<TokenHarness['mock']['loginQueue']['push']>[0]): Promise<{ h: TokenHarness, result: LoginResult }> {
  const h = await startTokenHarness(t, { start: false })
  h.mock.loginQueue.push(behaviour)
  const result = await login({ config: h.config, dispatcher: h.pool, clock: h.clock })
  return { h, result }
}

function isoIn (h: TokenHarness, ms: number): string {
  return new Date(h.clock.wallNow() + ms).toISOString().replace('.000Z', '+0000')
}

t.test('expires_at with +0000, +00:00, Z, another offset and fractions', async (t) => {
  const h = await startTokenHarness(t, { start: false })
  const at = new Date(h.clock.wallNow() + HALF_HOUR).toISOString()
  const forms: Array<[string, string]> = [
    ['+0000 (the vendor\'s form)', at.replace('.000Z', '+0000')],
    ['+00:00', at.replace('.000Z', '+00:00')],
    ['Z', at.replace('.000Z', 'Z')],
    ['Z with milliseconds', at],
    ['+02:00', new Date(Date.parse(at) + 7_200_000).toISOString().replace('.000Z', '+02:00')],
    ['-0130', new Date(Date.parse(at) - 5_400_000).toISOString().replace('.000Z', '-0130')]
  ]
  for (const [name, expiresAt] of forms) {
    h.mock.loginQueue.push({ expiresAt, lifetimeSeconds: 60 })
    const result = await login({ config: h.config, dispatcher: h.pool, clock: h.clock })
    t.equal(result.ok && result.lifetimeMs, HALF_HOUR, `${name}: ${expiresAt} wins over the JWT exp`)
  }
})

t.test('without expires_at the JWT exp gives the lifetime', async (t) => {
  const { h, result } = await loginWith(t, { expiresAt: null })
  t.ok(result.ok)
  t.equal(result.ok && result.lifetimeMs, HALF_HOUR)
  t.equal(result.ok && await h.apiStatus(result.token), 200)
})

t.test('an unusable expires_at falls back to the JWT exp', async (t) => {
  for (const bad of ['', 'tomorrow', '2025-13-45T99:99:99Z', '2025-04-25T07:30:00', '-1', '1745566024']) {
    const { result } = await loginWith(t, { expiresAt: bad })
    t.equal(result.ok && result.lifetimeMs, HALF_HOUR, JSON.stringify(bad))
  }
  const h = await startTokenHarness(t, { start: false })
  h.mock.loginQueue.push({ body: JSON.stringify({ token: fakeJwt({ exp: (h.clock.wallNow() + 60_000) / 1000 }), expires_at: 1745566024 }) })
  const numeric = await login({ config: h.config, dispatcher: h.pool, clock: h.clock })
  t.equal(numeric.ok && numeric.lifetimeMs, 60_000, 'a numeric expires_at is not a time either')
})

t.test('with neither a usable expires_at nor a JWT exp the login fails', async (t) => {
  const h = await startTokenHarness(t, { start: false })
  for (const token of ['opaque-token', 'a.b', 'a.!!!.c', fakeJwt({ sub: 'x' }), fakeJwt({ exp: '1745566024' }), fakeJwt([1, 2]), fakeJwt(null)]) {
    h.mock.loginQueue.push({ token, expiresAt: null })
    const result = await login({ config: h.config, dispatcher: h.pool, clock: h.clock })
    t.match(result, { ok: false, kind: 'error', status: 200, message: 'login answer has neither a usable expires_at nor a JWT exp' }, token)
  }
})

t.test('a token that is already expired by the server\'s own clock fails', async (t) => {
  const { h, result } = await loginWith(t, { expiresAt: null, lifetimeSeconds: 0 })
  t.match(result, { ok: false, kind: 'error', message: 'login answer token is already expired' })
  h.mock.loginQueue.push({ expiresAt: isoIn(h, -1000) })
  t.match(await login({ config: h.config, dispatcher: h.pool, clock: h.clock }), { ok: false, message: 'login answer token is already expired' })
})

t.test('parseExpiresAt and jwtExpiry', async (t) => {
  t.equal(parseExpiresAt('2025-04-25T07:27:04+0000'), Date.UTC(2025, 3, 25, 7, 27, 4))
  t.equal(parseExpiresAt('2025-04-25T07:27:04.5+00:00'), Date.UTC(2025, 3, 25, 7, 27, 4, 500))
  t.equal(parseExpiresAt(undefined), undefined)
  t.equal(parseExpiresAt(null), undefined)
  t.equal(jwtExpiry(fakeJwt({ exp: 1745566024 })), 1745566024000)
  t.equal(jwtExpiry(`${fakeJwt({}).split('.')[0] ?? ''}.${Buffer.from('{"exp":1e400}').toString('base64url')}.x`), undefined, 'an infinite exp')
})
