// A token adopted from the fleet is planned like one of this replica's own: a long-lived one adopted late is served, not expired on arrival.
import t from 'tap'
import { request } from 'undici'
import { tokenKeys } from '../src/fleet/keys.js'
import { tokenSeal } from '../src/fleet/seal.js'
import { DEMO_API_KEY, DEMO_CLIENT_ID, LOGIN_PATH } from '../src/mock/roecny.js'
import { MAX_LIFETIME_MS, usableSpanMs } from '../src/token/plan.js'
import { get, startReplica } from './helpers/fleet.js'
import { NO_REDIS, startRedis } from './helpers/redis.js'
import { startMock } from './helpers/stack.js'
import { until } from './helpers/until.js'

const DAY = 86_400_000

t.test('a 7-day token stored 2 days ago is adopted and served for a day, without a login', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  // A real 7-day token of the mock, stored as a replica stores it, its Redis expiry 2 days into its usable span.
  mock.loginQueue.push({ lifetimeSeconds: 7 * DAY / 1000 })
  const login = await request(mock.url + LOGIN_PATH, { method: 'POST', headers: { 'x-client-id': DEMO_CLIENT_ID, 'x-api-key': DEMO_API_KEY } })
  const { token } = await login.body.json() as { token: string }
  const keys = tokenKeys('roecny-auth-proxy', { baseUrl: mock.url, clientId: DEMO_CLIENT_ID, apiKey: DEMO_API_KEY, scope: undefined, loginAs: undefined })
  const client = await redis.client()
  await client.set(keys.token, tokenSeal(DEMO_API_KEY, keys.token).seal({ token, lifetimeMs: 7 * DAY }), { expiration: { type: 'PX', value: usableSpanMs(7 * DAY) - 2 * DAY } })

  const before = Date.now()
  const replica = await startReplica(t, mock, redis.url)
  await until(() => replica.proxy.tokens.status().tokensAdopted === 1, 'the replica to adopt the stored token')
  t.equal(replica.proxy.tokens.current(), token, 'served at once')
  t.equal(replica.proxy.tokens.status().state, 'ready')
  t.equal(mock.logins.length, 1, 'no login of its own: only the one that made the token')
  t.equal(await get(replica), 200)
  // Planned as the day from now: not 5 days ahead, and not a day after its grant (already past).
  const expiresIn = replica.proxy.tokens.expiresAtWallMs() - before
  t.ok(expiresIn > MAX_LIFETIME_MS - 60_000 && expiresIn <= MAX_LIFETIME_MS + (Date.now() - before), `expires a day from now (${expiresIn} ms)`)
  const refreshIn = replica.proxy.tokens.refreshAtWallMs() - before
  t.ok(refreshIn > 0.6 * DAY && refreshIn < 0.7 * DAY, `refreshed within the day (${refreshIn} ms)`)
})
