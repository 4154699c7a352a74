// Profiles in fleet mode (SPEC §13, §12): each distinct token is its own fleet; three replicas with two profiles make one login per token.
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import t from 'tap'
import { request } from 'undici'
import { loadConfig } from '../src/config.js'
import { loadProfilesFor } from '../src/profiles/start.js'
import type { ProfileTokens } from '../src/profiles/start.js'
import { replicaEnv, startReplica } from './helpers/fleet.js'
import type { Replica } from './helpers/fleet.js'
import { NO_REDIS, startRedis } from './helpers/redis.js'
import { startMock } from './helpers/stack.js'
import { until } from './helpers/until.js'

const READ_BALANCES = 'r:awx_action:balances_view'
const PAY = 'w:awx_action:transfers_create r:awx_action:balances_view'
const REPORTING_KEY = 'reporting-key-0123456789abcdef'
const PAYMENTS_KEY = 'payments-key-0123456789abcdef-x'

function sha256 (text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

async function through (replica: Replica, key: string): Promise<number> {
  const res = await request(`${replica.url}/api/v1/balances/current`, { headers: { 'x-proxy-key': key } })
  await res.body.dump()
  return res.statusCode
}

t.test('three replicas, two profiles: one login per token, every replica serves both with the fleet\'s tokens', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const dir = t.testdir({
    'profiles.yaml': [
      'profiles:',
      '  reporting:',
      `    accessKeys: ["${sha256(REPORTING_KEY)}"]`,
      `    scope: "${READ_BALANCES}"`,
      '  payments:',
      `    accessKeys: ["${sha256(PAYMENTS_KEY)}"]`,
      `    scope: "${PAY}"`,
      ''
    ].join('\n')
  })
  const env = { PROXY_PROFILES_FILE: `${dir}/profiles.yaml` }
  const replicas = await Promise.all([1, 2, 3].map(async () => await startReplica(t, mock, redis.url, env)))
  await until(() => replicas.every((replica) => replica.proxy.tokens.isReady()), 'every replica to hold both tokens')
  t.equal(mock.logins.length, 2, 'one login per token for the whole fleet')
  t.same(mock.logins.map((login) => login.headers.scope).sort(), [PAY, READ_BALANCES].sort())
  for (const replica of replicas) {
    t.equal(await through(replica, REPORTING_KEY), 200)
    t.equal(await through(replica, PAYMENTS_KEY), 200)
  }
  const scopes = mock.requests.map((r) => r.grant?.scope)
  t.same(scopes, [READ_BALANCES, PAY, READ_BALANCES, PAY, READ_BALANCES, PAY], 'each request carried its own profile\'s token')
  const byScope = new Map<string | undefined, Set<unknown>>()
  for (const r of mock.requests) {
    const seen = byScope.get(r.grant?.scope) ?? new Set()
    seen.add(r.headers.authorization)
    byScope.set(r.grant?.scope, seen)
  }
  t.same([...byScope.values()].map((tokens) => tokens.size), [1, 1], 'every replica holds the fleet\'s one token per profile')
  const stored = await redis.dump()
  t.equal(Object.keys(stored).filter((key) => key.endsWith(':token')).length, 2, 'two tokens stored, one per fleet')
})

t.test('a scope change in the fleet: the replica that adopts the new token from the fleet ends its handover too', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const profile = (scope: string): string => `profiles:\n  reporting:\n    accessKeys: ["${sha256(REPORTING_KEY)}"]\n    scope: "${scope}"\n`
  const dir = t.testdir({ 'profiles.yaml': profile(READ_BALANCES) })
  const env = { PROXY_PROFILES_FILE: `${dir}/profiles.yaml` }
  const [first, second] = await Promise.all([1, 2].map(async () => await startReplica(t, mock, redis.url, env))) as [Replica, Replica]
  await until(() => first.proxy.tokens.isReady() && second.proxy.tokens.isReady(), 'both replicas to hold the token')
  t.equal(mock.logins.length, 1)
  // More rights: the old token serves until the new one is there (a handover).
  writeFileSync(`${dir}/profiles.yaml`, profile(PAY))
  const description = loadProfilesFor(loadConfig(replicaEnv(mock, redis.url, env)))
  type Entry = { previousTokenServing?: boolean }
  const entry = (replica: Replica): Entry => (replica.proxy.tokens.status() as unknown as { profiles: Entry[] }).profiles[0] as Entry
  const live = (replica: Replica): number => (replica.proxy.tokens as unknown as ProfileTokens).managers().length
  ;(first.proxy.applyProfiles as NonNullable<typeof first.proxy.applyProfiles>)(description)
  await until(() => live(first) === 1 && entry(first).previousTokenServing === undefined, 'the first replica\'s own login to end its handover')
  t.equal(mock.logins.length, 2, 'one login for the new scope')
  ;(second.proxy.applyProfiles as NonNullable<typeof second.proxy.applyProfiles>)(description)
  await until(() => live(second) === 1 && entry(second).previousTokenServing === undefined, 'the second replica, adopting the fleet\'s token, to end its handover')
  t.equal(mock.logins.length, 2, 'the second replica adopted the token: no login of its own')
  t.equal(await through(second, REPORTING_KEY), 200)
  t.equal(mock.requests.at(-1)?.grant?.scope, PAY, 'the new scope\'s token serves')
})
