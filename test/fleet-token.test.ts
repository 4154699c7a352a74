// Fleet mode's one token (SPEC §12), replicas in this process on a real redis-server: one login, adopted by the others,
// sealed in Redis, a 401 costing one fleet login, a rotated API key's entries ignored, two client IDs apart, and
// the key names: what makes a token's fleet, what makes an account's budget.
import { createHash } from 'node:crypto'
import t from 'tap'
import { request } from 'undici'
import { budgetKeys, tokenKeys } from '../src/fleet/keys.js'
import { tokenSeal } from '../src/fleet/seal.js'
import { DEMO_API_KEY, DEMO_CLIENT_ID } from '../src/mock/roecny.js'
import { get, startReplica } from './helpers/fleet.js'
import type { Replica } from './helpers/fleet.js'
import { NO_REDIS, startRedis } from './helpers/redis.js'
import { startMock } from './helpers/stack.js'
import { until } from './helpers/until.js'

async function ready (replica: Replica): Promise<void> {
  await until(() => replica.proxy.tokens.isReady(), 'the replica to hold a token')
}

t.test('two replicas cold-started together cost one login and forward with the same token', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const [a, b] = await Promise.all([startReplica(t, mock, redis.url), startReplica(t, mock, redis.url)]) as [Replica, Replica]
  await Promise.all([ready(a), ready(b)])
  t.equal(mock.logins.length, 1, 'one login for the fleet')
  t.equal(a.proxy.tokens.current(), b.proxy.tokens.current(), 'both hold the one token')
  t.equal(await get(a), 200)
  t.equal(await get(b), 200)
  const statuses = [await a.status(), await b.status()]
  for (const status of statuses) t.equal(status.fleet, 'joined')
  t.same(statuses.map((s) => s.tokensAdopted).sort(), [0, 1], 'one replica logged in, the other adopted its token')
  const adopter = statuses[0]?.tokensAdopted === 1 ? a : b
  t.ok(adopter.logs.lines.some((line) => line.includes('token adopted from the fleet')), 'the adoption is logged')
  const metrics = await (await request(`${a.url}/-/metrics`)).body.text()
  t.match(metrics, /^roecny_proxy_fleet_degraded 0$/m)
  t.match(metrics, /^roecny_proxy_fleet_state_changes_total\{state="joined"\} 1$/m)
})

t.test('Redis holds no token, API key or client ID in clear, and no log line or status holds the Redis password', { skip: NO_REDIS }, async (t) => {
  const password = 'redis-pass-4d2f9'
  const redis = await startRedis(t, { password })
  const mock = await startMock(t)
  const a = await startReplica(t, mock, redis.url, { REDIS_KEY_PREFIX: 'acme-roecny' })
  await ready(a)
  const b = await startReplica(t, mock, redis.url, { REDIS_KEY_PREFIX: 'acme-roecny' })
  await ready(b)
  t.equal(mock.logins.length, 1)
  const stored = await redis.dump()
  const everything = JSON.stringify(stored)
  t.ok(Object.keys(stored).length > 0, 'the fleet stored something')
  for (const key of Object.keys(stored)) t.match(key, /^acme-roecny:[0-9a-f]{32}:/, 'every key under the prefix, named by a hash')
  const token = mock.issuedTokens[0] as string
  for (const [what, secret] of [['token', token], ['a piece of the token', token.slice(20, 40)], ['API key', DEMO_API_KEY], ['client ID', DEMO_CLIENT_ID]]) {
    t.notOk(everything.includes(secret as string), `no ${what as string} in any key or value`)
  }
  const logs = [...a.logs.lines, ...b.logs.lines].join('\n')
  t.notOk(logs.includes(password), 'the Redis password is in no log line')
  t.notOk(JSON.stringify(await a.status()).includes(password), 'nor in /-/status')
})

t.test('an upstream 401 costs one fleet login, and the replicas adopt its token', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const a = await startReplica(t, mock, redis.url)
  await ready(a)
  const b = await startReplica(t, mock, redis.url)
  await ready(b)
  t.equal(mock.logins.length, 1)
  mock.revokeAll()
  // Each replica meets the 401 with the revoked token, retires it and replays the request once.
  t.same(await Promise.all([get(a), get(b)]), [200, 200], 'both requests replayed with the new token')
  t.equal(mock.logins.length, 2, 'one login for the fleet after the 401s')
  t.equal(a.proxy.tokens.current(), b.proxy.tokens.current(), 'both hold the new token')
  t.equal(a.proxy.tokens.current(), mock.issuedTokens[1])
})

t.test('after the API key rotates, the entry sealed under the old key is ignored, never trusted', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  mock.acceptedCredentials.push({ clientId: DEMO_CLIENT_ID, apiKey: 'demo-key-2' })
  const old = await startReplica(t, mock, redis.url)
  await ready(old)
  const rotated = await startReplica(t, mock, redis.url, { ROECNY_API_KEY: 'demo-key-2' })
  await ready(rotated)
  t.equal(mock.logins.length, 2, 'the replica with the new key logged in itself')
  t.equal(mock.logins[1]?.headers['x-api-key'], 'demo-key-2')
  t.not(rotated.proxy.tokens.current(), old.proxy.tokens.current(), 'it did not take the token stored under the old key')
  t.equal((await rotated.status()).tokensAdopted, 0)
  // The entry now stored is the new key's: a third replica with that key adopts it.
  const third = await startReplica(t, mock, redis.url, { ROECNY_API_KEY: 'demo-key-2' })
  await ready(third)
  t.equal(mock.logins.length, 2)
  t.equal(third.proxy.tokens.current(), rotated.proxy.tokens.current())
})

t.test('two client IDs on one Redis never share a token', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  mock.acceptedCredentials.push({ clientId: 'other-client', apiKey: DEMO_API_KEY })
  const first = await startReplica(t, mock, redis.url)
  await ready(first)
  const other = await startReplica(t, mock, redis.url, { ROECNY_CLIENT_ID: 'other-client' })
  await ready(other)
  t.equal(mock.logins.length, 2, 'each client ID logged in')
  t.same(mock.logins.map((login) => login.headers['x-client-id']), [DEMO_CLIENT_ID, 'other-client'])
  t.not(first.proxy.tokens.current(), other.proxy.tokens.current())
  const tokenKeys = Object.keys(await redis.dump()).filter((key) => key.endsWith(':token'))
  t.equal(tokenKeys.length, 2, 'two fleets, two token keys')
})

t.test('an entry in Redis that the fleet did not seal is never trusted: the replica logs in and replaces it', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const keys = tokenKeys('roecny-auth-proxy', { baseUrl: mock.url, clientId: DEMO_CLIENT_ID, apiKey: DEMO_API_KEY, scope: undefined, loginAs: undefined })
  const client = await redis.client()
  const sealedElsewhere = tokenSeal('another-api-key', keys.token).seal({ token: 'forged-token', lifetimeMs: 1_800_000 })
  for (const planted of ['forged-token', 'v1.a.b', 'v2.a.b.c', sealedElsewhere, sealedElsewhere.replace(/^v1\./, 'v1.x')]) {
    await client.set(keys.token, planted, { expiration: { type: 'PX', value: 60_000 } })
    const replica = await startReplica(t, mock, redis.url)
    await ready(replica)
    t.not(replica.proxy.tokens.current(), 'forged-token', `not taken: ${planted.slice(0, 12)}`)
    t.equal(replica.proxy.tokens.current(), mock.issuedTokens.at(-1), 'a token of its own login')
    t.not(await client.get(keys.token), planted, 'the entry was replaced')
    await replica.proxy.shutdown()
  }
  t.equal(mock.logins.length, 5, 'one login for each planted entry')
})

t.test('a failed fleet login releases the lock at once; the retry logs in for the fleet', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  mock.loginQueue.push({ status: 503 })
  const keys = tokenKeys('roecny-auth-proxy', { baseUrl: mock.url, clientId: DEMO_CLIENT_ID, apiKey: DEMO_API_KEY, scope: undefined, loginAs: undefined })
  const client = await redis.client()
  const replica = await startReplica(t, mock, redis.url)
  await until(() => replica.proxy.tokens.status().logins.error === 1, 'the failed login')
  await until(async () => await client.exists(keys.lock) === 0, 'the lock to be released')
  t.equal(await client.exists(keys.token), 0, 'nothing stored for a failed login')
  await ready(replica)
  t.equal(mock.logins.length, 2)
  t.equal(await client.exists(keys.token), 1, 'the retry\'s token is stored for the fleet')
})

t.test('key names: a token\'s fleet by base URL, client ID, API key, scope and login-as; a budget by the account alone; no credential in clear', async (t) => {
  const base = { baseUrl: 'https://roecny.test', clientId: 'client-7f3a', apiKey: 'api-key-91c4e2', scope: undefined, loginAs: undefined }
  const token = tokenKeys('p', base)
  const budget = budgetKeys('p', base)
  const rows: Array<[change: Partial<typeof base> | { scope: string } | { loginAs: string }, tokenFleet: 'same' | 'other', account: 'same' | 'other']> = [
    [{ baseUrl: 'https://roecny.test/v2' }, 'other', 'other'],
    [{ clientId: 'client-other' }, 'other', 'other'],
    [{ apiKey: 'api-key-rotated' }, 'other', 'same'],
    [{ scope: 'r:balances' }, 'other', 'same'],
    [{ loginAs: 'someone' }, 'other', 'same'],
    [{}, 'same', 'same']
  ]
  for (const [change, tokenFleet, account] of rows) {
    const identity = { ...base, ...change }
    t.equal(tokenKeys('p', identity).token === token.token ? 'same' : 'other', tokenFleet, `token fleet with ${JSON.stringify(change)}`)
    t.equal(budgetKeys('p', identity).leases === budget.leases ? 'same' : 'other', account, `budget with ${JSON.stringify(change)}`)
  }
  const names = [...Object.values(token), ...Object.values(budget)].join(' ')
  for (const secret of [base.clientId, base.apiKey, createHash('sha256').update(base.apiKey).digest('hex').slice(0, 16)]) {
    t.notOk(names.includes(secret), 'no client ID, API key or plain hash of it in a key name')
  }
  t.not(token.id, budget.id, 'the token\'s fleet and the account are named apart')
})
