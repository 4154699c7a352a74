// Profiles in fleet mode (SPEC §13, §12): each distinct token is its own fleet; three replicas with two profiles make one login per token.
import { createHash } from 'node:crypto'
import t from 'tap'
import { request } from 'undici'
import { startReplica } from './helpers/fleet.js'
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
