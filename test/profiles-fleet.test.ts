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

/** A profiles file with `reporting` and `payments`, each with its key and the one extra line given ('' for none). */
function twoProfiles (reporting: string, payments: string): string {
  const lines = ['profiles:', '  reporting:', `    accessKeys: ["${sha256(REPORTING_KEY)}"]`, `    ${reporting}`, '  payments:', `    accessKeys: ["${sha256(PAYMENTS_KEY)}"]`, `    ${payments}`]
  return lines.filter((line) => line.trim() !== '').join('\n') + '\n'
}

/** GET /-/status with a profile's key (with profiles, it opens with any profile's key). */
async function statusOf (replica: Replica): Promise<Record<string, unknown>> {
  const res = await request(`${replica.url}/-/status`, { headers: { 'x-proxy-key': REPORTING_KEY } })
  return await res.body.json() as Record<string, unknown>
}

async function through (replica: Replica, key: string): Promise<number> {
  const res = await request(`${replica.url}/api/v1/balances/current`, { headers: { 'x-proxy-key': key } })
  await res.body.dump()
  return res.statusCode
}

t.test('three replicas, two profiles: one login per token, every replica serves both with the fleet\'s tokens', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const dir = t.testdir({ 'profiles.yaml': twoProfiles(`scope: "${READ_BALANCES}"`, `scope: "${PAY}"`) })
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

t.test('three replicas: a profile\'s cap and the account\'s UPSTREAM_MAX_IN_FLIGHT count for the whole fleet', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t)
  const mock = await startMock(t)
  const dir = t.testdir({ 'profiles.yaml': twoProfiles('maxInFlight: 2', '') })
  const env = { PROXY_PROFILES_FILE: `${dir}/profiles.yaml`, UPSTREAM_MAX_IN_FLIGHT: '3' }
  const replicas = await Promise.all([1, 2, 3].map(async () => await startReplica(t, mock, redis.url, env)))
  await until(async () => (await Promise.all(replicas.map(async (replica) => (await statusOf(replica)).fleet))).every((state) => state === 'joined'), 'every replica to join the fleet')
  await until(() => replicas.every((replica) => replica.proxy.tokens.isReady()), 'every replica to hold the token')
  const held = (replica: Replica, key: string): Promise<number> => request(`${replica.url}/api/v1/test/held`, { headers: { 'x-proxy-key': key } })
    .then(async (res) => { await res.body.dump(); return res.statusCode })
  const answers: Array<Promise<number>> = []
  for (const replica of replicas) answers.push(held(replica, REPORTING_KEY), held(replica, REPORTING_KEY))
  await until(() => mock.inFlight === 2, 'reporting\'s two slots to be taken')
  // Each replica would let two through on its own: the fleet's cap holds them to two in all, request after request.
  const queued = async (): Promise<number> => {
    let sum = 0
    for (const replica of replicas) {
      const entries = (await statusOf(replica)).profiles as Array<{ name: string, queue: { queued: number } | null }>
      sum += (entries.find((entry) => entry.name === 'reporting')?.queue as { queued: number }).queued
    }
    return sum
  }
  await until(async () => await queued() === 4, 'the other four reporting requests to wait')
  for (const replica of replicas) answers.push(held(replica, PAYMENTS_KEY))
  await until(() => mock.inFlight === 3, 'one payments request to take the account\'s third slot')
  const status = await statusOf(replicas[0] as Replica) as unknown as { limits: { per: string, maxInFlight: number, accounts: Array<{ profiles: string[] }> } }
  t.match(status.limits, { enabled: true, per: 'account', maxInFlight: 3, accounts: [{ profiles: ['reporting', 'payments'] }] }, '/-/status shows the account\'s limits, named by its profiles')
  t.equal(mock.peakInFlight, 3, 'the account\'s limit holds across the fleet')
  const keys = Object.keys(await redis.dump()).filter((key) => key.endsWith(':leases'))
  t.equal(keys.length, 2, 'two lease sets: the account\'s and reporting\'s cap')
  for (const key of keys) t.notMatch(key, /reporting|demo-client/, 'no profile name or client ID in clear')
  let settled = 0
  const all = Promise.all(answers.map(async (answer) => { const status = await answer; settled++; return status }))
  while (settled < answers.length) {
    const arrived = mock.held.length
    mock.releaseHeld()
    await until(() => settled === answers.length || mock.held.length > arrived, 'the next requests to reach Roecny, or the last answers')
  }
  t.same(await all, [200, 200, 200, 200, 200, 200, 200, 200, 200], 'every request was served in turn')
  t.equal(mock.peakInFlight, 3, 'never more than the account\'s three in flight')
})
