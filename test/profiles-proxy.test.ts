// Profiles on the running proxy (SPEC §13): selection, per-profile policy, one token per tuple, status, readiness, metrics, access log.
import { createHash } from 'node:crypto'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'tap'
import { loadConfig } from '../src/config.js'
import { DEMO_API_KEY, DEMO_CLIENT_ID } from '../src/mock/roecny.js'
import { loadProfilesFor } from '../src/profiles/start.js'
import { get, json } from './helpers/http.js'
import { startStack } from './helpers/stack.js'
import type { Stack, Teardown } from './helpers/stack.js'
import { until } from './helpers/until.js'
import { tempDir } from './helpers/temp.js'

const READ_BALANCES = 'r:awx_action:balances_view'
const PAY = 'w:awx_action:transfers_create r:awx_action:balances_view'
const REPORTING_KEY = 'reporting-key-0123456789abcdef'
const PAYMENTS_KEY = 'payments-key-0123456789abcdef-x'
const OPS_KEY = 'ops-key-0123456789abcdef-shared'

function sha256 (text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

function dir (t: Teardown): string {
  return tempDir(t, 'profiles-proxy')
}

function secretFile (folder: string, name: string, text: string): string {
  const path = join(folder, name)
  writeFileSync(path, text)
  chmodSync(path, 0o600)
  return path
}

/** reporting (digest, upper case), payments (key file in clear, own credentials, login-as), ops (same tuple as reporting), local (keyless). */
function layout (t: Teardown): { file: string, folder: string } {
  const folder = dir(t)
  const keys = secretFile(folder, 'payments-keys', `# payments\n${PAYMENTS_KEY}\n`)
  const clientId = secretFile(folder, 'payments-client-id', 'payments-client\n')
  const apiKey = secretFile(folder, 'payments-api-key', 'payments-api-key\n')
  const file = join(folder, 'profiles.yaml')
  writeFileSync(file, [
    'profiles:',
    '  reporting:',
    `    accessKeys: ["${sha256(REPORTING_KEY).toUpperCase()}"]`,
    `    scope: "${READ_BALANCES}"`,
    '    allowMethods: [GET, HEAD]',
    '    allowPaths: ["/api/v1/balances/**", "/api/v1/transfers/**"]',
    '  payments:',
    `    accessKeysFile: ${keys}`,
    `    clientIdFile: ${clientId}`,
    `    apiKeyFile: ${apiKey}`,
    `    scope: "${PAY}"`,
    '    loginAs: acct-42',
    '    denyPaths: ["/api/v1/echo/**"]',
    '  ops:',
    `    accessKeys: ["${sha256(OPS_KEY)}"]`,
    `    scope: "${READ_BALANCES}"`,
    '  local:',
    '    keyless: true',
    '    scope: ""',
    '    allowMethods: [GET]',
    ''
  ].join('\n'))
  return { file, folder }
}

async function profilesStack (t: Teardown, env: Record<string, string> = {}): Promise<Stack> {
  const { file } = layout(t)
  return await startStack(t, {
    env: { ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY: DEMO_API_KEY, PROXY_PROFILES_FILE: file, ...env },
    beforeProxy: (mock) => { mock.acceptedCredentials.push({ clientId: 'payments-client', apiKey: 'payments-api-key' }) }
  })
}

test('each profile gets its own token: two scopes, two logins, shared tuples one; Roecny refuses the reporting token on a transfer', async (t) => {
  const stack = await profilesStack(t, { PROXY_DENY_PATHS: '/api/v1/secret/**' })
  const { mock, url } = stack
  // reporting and ops share a tuple; payments has its own; local (no scope) its own: three logins.
  t.equal(mock.logins.length, 3)
  t.same(mock.logins.map((login) => [login.headers['x-client-id'], login.headers.scope, login.headers['x-login-as']]).sort(), [
    [DEMO_CLIENT_ID, READ_BALANCES, undefined],
    [DEMO_CLIENT_ID, undefined, undefined],
    ['payments-client', PAY, 'acct-42']
  ].sort())

  const reporting = await get(`${url}/api/v1/transfers/123`, { headers: { 'x-proxy-key': REPORTING_KEY } })
  t.equal(reporting.status, 403, 'the reporting token reaches Roecny, which refuses it outside its scope')
  t.match(JSON.parse(reporting.body), { code: 'insufficient_scope' })
  t.equal(mock.requests.at(-1)?.grant?.scope, READ_BALANCES)

  const payments = await get(`${url}/api/v1/transfers/create`, { method: 'POST', headers: { 'x-proxy-key': PAYMENTS_KEY, 'content-type': 'application/json' }, body: '{}' })
  t.equal(payments.status, 201, 'payments creates a transfer with its own token')
  t.same(mock.requests.at(-1)?.grant, { clientId: 'payments-client', scope: PAY, loginAs: 'acct-42' })

  const ops = await get(`${url}/api/v1/balances/current`, { headers: { 'x-proxy-key': OPS_KEY } })
  t.equal(ops.status, 200)
  const keyless = await get(`${url}/api/v1/balances/current`)
  t.equal(keyless.status, 200, 'no key: the keyless profile')
  t.same(mock.requests.at(-1)?.grant, { clientId: DEMO_CLIENT_ID, scope: undefined, loginAs: undefined })
  t.equal(mock.logins.length, 3, 'no further login')
})

test('selection: digest either case, key file in clear, keyless; unknown key, empty header: 401, nothing forwarded', async (t) => {
  const { mock, url } = await profilesStack(t)
  const before = mock.requests.length
  for (const [headers, why] of [
    [{ 'x-proxy-key': 'unknown-key-0123456789abcdef' }, 'unknown key'],
    [{ 'x-proxy-key': '' }, 'empty header'],
    [{ 'x-proxy-key': sha256(REPORTING_KEY) }, 'the digest itself is no key']
  ] as const) {
    const res = await json(`${url}/api/v1/balances/current`, { headers })
    t.equal(res.status, 401, why)
    t.equal(res.body.code, 'PROXY_ACCESS_DENIED', why)
  }
  t.equal(mock.requests.length, before, 'nothing forwarded')
  t.equal((await get(`${url}/api/v1/balances/current`, { headers: { 'x-proxy-key': REPORTING_KEY } })).status, 200, 'digest listed upper case')
  t.equal((await get(`${url}/api/v1/balances/current`, { headers: { 'x-proxy-key': PAYMENTS_KEY } })).status, 200, 'key file in clear')
})

test('no key and no keyless profile: 401; /-/status needs a profile\'s key then', async (t) => {
  const folder = dir(t)
  const file = secretFile(folder, 'profiles.yaml', `profiles:\n  reporting:\n    accessKeys: ["${sha256(REPORTING_KEY)}"]\n`)
  const { mock, url } = await startStack(t, { env: { ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY: DEMO_API_KEY, PROXY_PROFILES_FILE: file } })
  const res = await json(`${url}/api/v1/balances/current`)
  t.equal(res.status, 401)
  t.equal(mock.requests.length, 0)
  t.equal((await get(`${url}/-/status`)).status, 401)
  t.equal((await get(`${url}/-/status`, { headers: { 'x-proxy-key': REPORTING_KEY } })).status, 200)
  t.equal((await get(`${url}/-/readyz`)).status, 200, 'probes need no key')
  t.equal((await get(`${url}/-/metrics`)).status, 200, 'metrics need no key')
})

test('policies per profile, the environment\'s on top (deny wins)', async (t) => {
  const { mock, url } = await profilesStack(t, { PROXY_DENY_PATHS: '/api/v1/balances/secret', PROXY_ALLOW_METHODS: 'GET,HEAD,POST' })
  const before = mock.requests.length
  const asReporting = { 'x-proxy-key': REPORTING_KEY }
  const post = await json(`${url}/api/v1/balances/current`, { method: 'POST', headers: asReporting })
  t.equal(post.status, 405, 'reporting: GET and HEAD only')
  t.equal(post.body.code, 'PROXY_METHOD_NOT_ALLOWED')
  t.equal(post.headers.allow, 'GET, HEAD')
  const elsewhere = await json(`${url}/api/v1/accounts/1`, { headers: asReporting })
  t.equal(elsewhere.status, 403, 'reporting: its own allowPaths')
  t.equal(elsewhere.body.code, 'PROXY_PATH_NOT_ALLOWED')
  t.equal((await json(`${url}/api/v1/balances/secret`, { headers: asReporting })).status, 403, 'the environment\'s deny applies to every profile')
  t.equal((await json(`${url}/api/v1/balances/secret`, { headers: { 'x-proxy-key': PAYMENTS_KEY } })).status, 403, 'to payments too')
  t.equal((await json(`${url}/api/v1/echo/x`, { method: 'POST', headers: { 'x-proxy-key': PAYMENTS_KEY } })).status, 403, 'payments: its own deny')
  const del = await json(`${url}/api/v1/transfers/1`, { method: 'DELETE', headers: { 'x-proxy-key': PAYMENTS_KEY } })
  t.equal(del.status, 405, 'the environment\'s methods apply to payments')
  t.equal(del.headers.allow, 'GET, HEAD, POST')
  t.equal((await json(`${url}/api/v1/balances/current`, { method: 'POST' })).status, 405, 'local: GET only')
  t.equal(mock.requests.length, before, 'nothing refused was forwarded')
  t.equal((await get(`${url}/api/v1/accounts/1`, { headers: { 'x-proxy-key': OPS_KEY } })).status, 403, 'ops: no list of its own; Roecny itself refuses the path outside its scope')
  t.equal(mock.requests.length, before + 1)
})

test('a 401 retires the token of that profile only, and the request is replayed with its new token', async (t) => {
  const { mock, url } = await profilesStack(t)
  const first = await get(`${url}/api/v1/balances/current`, { headers: { 'x-proxy-key': PAYMENTS_KEY } })
  t.equal(first.status, 200)
  const paymentsToken = mock.requests.at(-1)?.headers.authorization
  await get(`${url}/api/v1/balances/current`, { headers: { 'x-proxy-key': REPORTING_KEY } })
  const reportingToken = mock.requests.at(-1)?.headers.authorization
  mock.apiQueue.push({ status: 401 })
  const replayed = await get(`${url}/api/v1/balances/current`, { headers: { 'x-proxy-key': PAYMENTS_KEY } })
  t.equal(replayed.status, 200, 'replayed with the new token')
  t.equal(mock.logins.length, 4, 'one login: payments\' alone')
  t.equal(mock.logins.at(-1)?.headers['x-client-id'], 'payments-client')
  t.not(mock.requests.at(-1)?.headers.authorization, paymentsToken)
  await get(`${url}/api/v1/balances/current`, { headers: { 'x-proxy-key': REPORTING_KEY } })
  t.equal(mock.requests.at(-1)?.headers.authorization, reportingToken, 'reporting keeps its token')
})

test('status lists each profile, never a key, digest or credential; readiness per profile; metrics and access log name the profile', async (t) => {
  const stack = await profilesStack(t)
  const { url, logs } = stack
  await get(`${url}/api/v1/balances/current`, { headers: { 'x-proxy-key': REPORTING_KEY } })
  await get(`${url}/api/v1/balances/current`, { headers: { 'x-proxy-key': 'unknown-key-0123456789abcdef' } })
  const status = await json<{ ready: boolean, profiles: Array<Record<string, unknown>> }>(`${url}/-/status`)
  t.equal(status.status, 200, 'the keyless profile opens /-/status')
  t.equal(status.body.ready, true)
  t.same(status.body.profiles.map((p) => [p.name, p.keys, p.keyless, p.tokenSharedBy, p.state]), [
    ['reporting', 1, false, ['reporting', 'ops'], 'ready'],
    ['payments', 1, false, ['payments'], 'ready'],
    ['ops', 1, false, ['reporting', 'ops'], 'ready'],
    ['local', 0, true, ['local'], 'ready']
  ])
  t.match(status.body.profiles[1], { maxInFlight: 0, rateLimit: 0, rateBurst: 0, token: { expiresAt: String } })
  // docs/observability.md's paragraph on profiles names every field of an entry (previousTokenServing
  // appears during a handover: profiles-reload-e2e).
  const page = readFileSync(new URL('../docs/observability.md', import.meta.url), 'utf8')
  const paragraph = page.slice(page.indexOf('With a [profiles file]'), page.indexOf('previousTokenServing'))
  for (const field of Object.keys(status.body.profiles[1] as object)) t.ok(paragraph.includes(`\`${field}\``), `/-/status's ${field} is documented`)
  const text = JSON.stringify(status.body)
  for (const secret of [REPORTING_KEY, sha256(REPORTING_KEY), sha256(REPORTING_KEY).toUpperCase(), PAYMENTS_KEY, 'payments-api-key', DEMO_API_KEY]) {
    t.notOk(text.includes(secret), 'no key, digest or credential in /-/status')
  }
  t.same((await json(`${url}/-/readyz`)).body, { ready: true })
  t.same((await json(`${url}/-/readyz?profile=payments`)).body, { ready: true })
  const unknown = await json(`${url}/-/readyz?profile=nobody`)
  t.equal(unknown.status, 404, 'an unknown profile is a probe pointed at the wrong place')
  t.equal(unknown.body.code, 'PROXY_NOT_FOUND')

  const metrics = (await get(`${url}/-/metrics`)).body
  t.match(metrics, /roecny_proxy_requests_total\{profile="reporting",method="GET",status_class="2xx"\} 1/)
  t.match(metrics, /roecny_proxy_requests_total\{profile="",method="GET",status_class="4xx"\} 1/)
  t.match(metrics, /roecny_proxy_request_duration_seconds_count\{profile="reporting"\} 1/)
  t.match(metrics, /roecny_proxy_logins_total\{result="ok",profile="reporting,ops"\} 1/)
  t.match(metrics, /roecny_proxy_logins_total\{result="ok",profile="payments"\} 1/)
  t.match(metrics, /roecny_proxy_token_expiry_timestamp_seconds\{profile="local"\} \d/)
  t.match(metrics, /roecny_proxy_token_refresh_in_seconds\{profile="payments"\} \d/)
  const series = metrics.split('\n').filter((line) => /^roecny_proxy_(requests_total|request_duration_seconds|upstream_duration_seconds|logins_total|login_duration_seconds|token_expiry_timestamp_seconds|token_refresh_in_seconds)/.test(line))
  t.ok(series.length > 20)
  t.same(series.filter((line) => !line.includes('profile="')), [], 'every request and token series carries its profile')
  stack.proxy.metrics.registry.resetMetrics()
  t.match(await stack.proxy.metrics.render(), /roecny_proxy_request_duration_seconds_count\{profile="reporting"\} 0/, 'the per-profile histograms reset with the registry')

  const lines = logs.records().filter((r) => r.msg === 'request' && r.path === '/api/v1/balances/current')
  t.same(lines.map((r) => [r.profile, r.status]), [['reporting', 200], ['', 401]])
  const all = logs.lines.join('\n')
  for (const secret of [REPORTING_KEY, sha256(REPORTING_KEY), PAYMENTS_KEY, 'payments-api-key', DEMO_API_KEY]) {
    t.notOk(all.includes(secret), 'no key, digest or credential in any log line at trace level')
  }
})

test('readiness names a profile whose credentials are rejected while the others serve', async (t) => {
  const { file } = layout(t)
  const { url } = await startStack(t, { env: { ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY: DEMO_API_KEY, PROXY_PROFILES_FILE: file }, ready: false })
  // The mock does not know payments' credentials: its login is rejected.
  const deadline = Date.now() + 10_000
  let ready = await json<{ ready: boolean, profiles?: string[] }>(`${url}/-/readyz`)
  while (ready.body.profiles?.join() !== 'payments' && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25))
    ready = await json(`${url}/-/readyz`)
  }
  t.equal(ready.status, 503)
  t.same(ready.body, { ready: false, reason: 'no usable Roecny token', profiles: ['payments'] })
  t.equal((await json(`${url}/-/readyz?profile=payments`)).status, 503)
  t.equal((await json(`${url}/-/readyz?profile=reporting`)).status, 200)
  t.equal((await get(`${url}/api/v1/balances/current`, { headers: { 'x-proxy-key': REPORTING_KEY } })).status, 200, 'reporting serves')
  const refused = await json(`${url}/api/v1/balances/current`, { headers: { 'x-proxy-key': PAYMENTS_KEY } })
  t.equal(refused.status, 503)
  t.equal(refused.body.code, 'PROXY_TOKEN_UNAVAILABLE')
})

test('the account\'s UPSTREAM_MAX_IN_FLIGHT is shared by two profiles on one client ID', async (t) => {
  const folder = dir(t)
  const file = secretFile(folder, 'profiles.yaml', `profiles:\n  a:\n    accessKeys: ["${sha256(REPORTING_KEY)}"]\n  b:\n    accessKeys: ["${sha256(OPS_KEY)}"]\n`)
  const { mock, url } = await startStack(t, { env: { ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY: DEMO_API_KEY, PROXY_PROFILES_FILE: file, UPSTREAM_MAX_IN_FLIGHT: '1' } })
  const first = get(`${url}/api/v1/test/held`, { headers: { 'x-proxy-key': REPORTING_KEY } })
  await until(() => mock.held.length === 1, 'a\'s request held at the mock')
  const second = get(`${url}/api/v1/test/held`, { headers: { 'x-proxy-key': OPS_KEY } })
  type Queues = { profiles: Array<{ name: string, queue: { queued: number } }> }
  const status = await json<Queues>(`${url}/-/status`, { headers: { 'x-proxy-key': OPS_KEY } })
  await until(async () => (await json<Queues>(`${url}/-/status`, { headers: { 'x-proxy-key': OPS_KEY } })).body.profiles[1]?.queue.queued === 1, 'b waiting for the account\'s slot, in its own queue')
  t.equal(status.status, 200)
  t.equal(mock.requests.length, 1, 'b waits: one slot for the account')
  mock.releaseHeld()
  await until(() => mock.requests.length === 2 && mock.inFlight === 1, 'b\'s request at the mock in its turn')
  mock.releaseHeld()
  t.same([(await first).status, (await second).status], [200, 200])
  t.equal(mock.peakInFlight, 1)
})

test('the profiles\' tokens seen as one by the server: SIGHUP, rotated environment credentials, the earliest times', async (t) => {
  const folder = dir(t)
  const apiKeyFile = secretFile(folder, 'api-key', DEMO_API_KEY)
  const own = secretFile(folder, 'own-key', 'own-api-key-value')
  const file = secretFile(folder, 'profiles.yaml', `profiles:\n  a:\n    accessKeys: ["${sha256(REPORTING_KEY)}"]\n  b:\n    accessKeys: ["${sha256(OPS_KEY)}"]\n    apiKeyFile: ${own}\n    scope: "${READ_BALANCES}"\n`)
  const { mock, proxy } = await startStack(t, {
    env: { ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY_FILE: apiKeyFile, PROXY_PROFILES_FILE: file, SECRETS_POLL_MS: '0' },
    beforeProxy: (mock) => { mock.acceptedCredentials.push({ clientId: DEMO_CLIENT_ID, apiKey: 'own-api-key-value' }, { clientId: DEMO_CLIENT_ID, apiKey: 'rotated-api-key' }) }
  })
  const tokens = proxy.tokens
  t.equal(tokens.current(), undefined, 'no token is the token: each request takes its profile\'s')
  tokens.invalidate('anything')
  t.equal(tokens.loginInFlight(), false)
  t.ok(tokens.expiresAtWallMs() > Date.now())
  t.ok(tokens.refreshAtWallMs() <= tokens.expiresAtWallMs())
  t.equal(tokens.retryAfterSeconds() >= 1, true)
  t.equal(tokens.retryNow(), 'token-usable', 'SIGHUP with every token usable starts no login')
  t.equal(mock.logins.length, 2)
  // A rotated ROECNY_API_KEY_FILE belongs to the profiles that use the environment's key: a alone.
  t.equal(tokens.setCredentials({ apiKey: 'rotated-api-key' }), true)
  await until(() => mock.logins.length === 3, 'a\'s login with the rotated key')
  t.equal(mock.logins.at(-1)?.headers['x-api-key'], 'rotated-api-key')
  t.equal(mock.logins.at(-1)?.headers.scope, undefined)
  t.equal(tokens.setCredentials({ clientId: DEMO_CLIENT_ID }), false, 'the client ID in use: nothing to do')
  proxy.reloadSecrets()
})

test('a new description applied whole (what a reload does): a new key is accepted, a removed one gets 401, a new tuple logs in', async (t) => {
  const folder = dir(t)
  const file = secretFile(folder, 'profiles.yaml', `profiles:\n  a:\n    accessKeys: ["${sha256(REPORTING_KEY)}"]\n`)
  const env = { ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY: DEMO_API_KEY, PROXY_PROFILES_FILE: file }
  const { mock, url, proxy } = await startStack(t, { env })
  t.equal((await get(`${url}/api/v1/balances/current`, { headers: { 'x-proxy-key': OPS_KEY } })).status, 401)
  writeFileSync(file, `profiles:\n  b:\n    accessKeys: ["${sha256(OPS_KEY)}"]\n    scope: "${READ_BALANCES}"\n`)
  const config = loadConfig({ ...env, ROECNY_BASE_URL: mock.url, PROXY_PORT: '0' })
  const apply = proxy.applyProfiles as NonNullable<typeof proxy.applyProfiles>
  apply(loadProfilesFor(config))
  t.equal((await get(`${url}/api/v1/balances/current`, { headers: { 'x-proxy-key': REPORTING_KEY } })).status, 401, 'the removed key')
  t.equal((await get(`${url}/api/v1/balances/current`, { headers: { 'x-proxy-key': OPS_KEY } })).status, 200, 'the new key, with a token of its own scope')
  t.equal(mock.requests.at(-1)?.grant?.scope, READ_BALANCES)
  t.equal(mock.logins.length, 2)
  const status = await json<{ profiles: Array<{ name: string }> }>(`${url}/-/status`, { headers: { 'x-proxy-key': OPS_KEY } })
  t.same(status.body.profiles.map((p) => p.name), ['b'])
  t.same((await json(`${url}/-/readyz`)).body, { ready: true })
})
