// Profiles on the request path, the corners: bad targets under a profile's policy, the admin listener's readiness,
// and a profile whose requests wait for no limiter while another's wait for one.
import { createHash } from 'node:crypto'
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Fastify from 'fastify'
import { test } from 'tap'
import { systemClock } from '../src/clock.js'
import { createMemoryLimiter } from '../src/limits/memory-limiter.js'
import { registerShaping } from '../src/limits/shaping.js'
import { createLogger } from '../src/log.js'
import { DEMO_API_KEY, DEMO_CLIENT_ID } from '../src/mock/roecny.js'
import { decorateRequestContext } from '../src/proxy/request-context.js'
import { json, rawRequest } from './helpers/http.js'
import { startStack } from './helpers/stack.js'
import type { Teardown } from './helpers/stack.js'
import { until } from './helpers/until.js'
import { tempDir } from './helpers/temp.js'

const KEY = 'reporting-key-0123456789abcdef'

function profilesFile (t: Teardown, text: string): string {
  const path = join(tempDir(t, 'profiles-path'), 'profiles.yaml')
  writeFileSync(path, text)
  chmodSync(path, 0o600)
  return path
}

test('under a profile, a bad target is 400 before its policy; the admin listener names the profiles without a token', async (t) => {
  const file = profilesFile(t, `profiles:\n  reporting:\n    accessKeys: ["${createHash('sha256').update(KEY).digest('hex')}"]\n    allowPaths: ["/api/v1/balances/**"]\n  payments:\n    keyless: true\n    clientIdFile: ${profilesFile(t, 'unknown-client')}\n`)
  const { mock, url, proxy } = await startStack(t, { env: { ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY: DEMO_API_KEY, PROXY_PROFILES_FILE: file, ADMIN_PORT: '0' }, ready: false })
  for (const target of ['/api/v1/balances/%zz', '/api/v1/balances/%2e%2e/x', '/api/v1/balances/a\\b']) {
    const answer = await rawRequest(url, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-proxy-key: ${KEY}\r\nConnection: close\r\n\r\n`)
    t.match(answer, /^HTTP\/1\.1 400 /, target)
  }
  t.equal(mock.requests.length, 0)
  const admin = proxy.adminUrl as string
  let ready = await json<{ profiles?: string[] }>(`${admin}/-/readyz`)
  const deadline = Date.now() + 10_000
  while (ready.body.profiles?.join() !== 'payments' && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25))
    ready = await json(`${admin}/-/readyz`)
  }
  t.same(ready.body, { ready: false, reason: 'no usable Roecny token', profiles: ['payments'] })
  t.equal((await json(`${admin}/-/readyz?profile=reporting`)).status, 200)
  // The tokens seen as one: not every profile has a token; SIGHUP starts the rejected one's login at once.
  t.equal(await proxy.tokens.acquire(), undefined)
  t.equal(proxy.tokens.retryNow(), 'started')
  // payments names its own client ID: a rotated environment API key is its, a rotated client ID is reporting's alone.
  t.equal(proxy.tokens.setCredentials({ apiKey: DEMO_API_KEY }), false, 'the API key in use')
  const logins = mock.logins.length
  t.equal(proxy.tokens.setCredentials({ clientId: 'rotated-client' }), true)
  await until(() => mock.logins.some((login, i) => i >= logins && login.headers['x-client-id'] === 'rotated-client'), 'reporting\'s login with the rotated client ID')
  t.notOk(mock.logins.slice(logins).some((login) => login.headers['x-client-id'] === 'unknown-client' && login.headers['x-api-key'] !== DEMO_API_KEY))
  const stopping = proxy.shutdown()
  const draining = await json(`${admin}/-/readyz?profile=reporting`)
  t.same([draining.status, draining.body], [503, { ready: false, reason: 'draining' }])
  await stopping
  t.equal(proxy.tokens.retryNow(), 'not-running', 'stopped: no lifecycle left')
})

test('shaping with a limiter per profile: a request whose profile has none passes at once, another waits for its own', async (t) => {
  const limiter = createMemoryLimiter({ maxInFlight: 1, rateLimit: 0, rateBurst: 0, queueTimeoutMs: 10_000, queueMax: 10 }, { clock: systemClock, log: createLogger('silent') })
  t.teardown(() => limiter.close())
  const app = Fastify()
  decorateRequestContext(app, true)
  const waited: number[] = []
  registerShaping(app, { limiter, onWaited: (ms) => waited.push(ms), limiterOf: (request) => request.headers['x-limited'] === 'yes' ? limiter : undefined })
  app.get('/', async (request) => ({ passage: request.upstreamPassage !== null }))
  t.teardown(() => app.close())
  t.same((await app.inject({ url: '/' })).json(), { passage: false }, 'no limiter: no passage')
  t.same((await app.inject({ url: '/', headers: { 'x-limited': 'yes' } })).json(), { passage: true })
  t.same(waited, [0])
  t.equal(limiter.status().inFlight, 0, 'the lease was given back')
})

test('without PROXY_PROFILES_FILE no metric and no access log line has a profile', async (t) => {
  const { url, logs } = await startStack(t)
  await json(`${url}/api/v1/balances/current`)
  const metrics = await (await fetch(`${url}/-/metrics`)).text()
  t.match(metrics, /roecny_proxy_requests_total\{method="GET",status_class="2xx"\} 1/)
  t.notMatch(metrics, 'profile=')
  const line = logs.records().find((r) => r.msg === 'request' && r.path === '/api/v1/balances/current')
  t.ok(line)
  t.notOk(line !== undefined && 'profile' in line)
})
