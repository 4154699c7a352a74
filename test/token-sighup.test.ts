// SIGHUP with no usable token tries a login at once (TokenManager.retryNow), after the file secrets are re-read.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { DEMO_API_KEY, DEMO_CLIENT_ID } from '../src/mock/roecny.js'
import { source, spawnScript } from './helpers/cli.js'
import { get } from './helpers/http.js'
import { ManualClock } from './helpers/manual-clock.js'
import { startMock, startStack } from './helpers/stack.js'
import { until } from './helpers/until.js'

const STARTED = 'no usable token; logging in now instead of at the scheduled retry'

t.test('reloadSecrets() in backoff: one login at once, logged after the SIGHUP line', async (t) => {
  const clock = new ManualClock({ random: 0.999 })
  const stack = await startStack(t, { clock, ready: false, beforeProxy: (mock) => { mock.defaultLogin = { status: 503 } } })
  await until(() => stack.proxy.tokens.status().state === 'backoff', 'the first login to fail')
  stack.mock.defaultLogin = {}
  stack.proxy.reloadSecrets()
  t.equal(await stack.proxy.tokens.acquire(), stack.mock.issuedTokens[0], 'the login on SIGHUP brought the token')
  t.equal(clock.monotonic(), 0, 'no time passed: the backoff did not run out')
  t.equal(stack.mock.logins.length, 2)
  const messages = stack.logs.records().map((r) => r.msg)
  const sighup = messages.indexOf('SIGHUP: no file secret to re-read (values set in the environment never change at run time)')
  t.ok(sighup !== -1 && messages.indexOf(STARTED) > sighup, 'the re-read first, then the login')
  t.equal((await get(`${stack.url}/api/v1/balances/current`)).status, 200)
})

t.test('reloadSecrets() with a rotated API key and no usable token: one login, with the new key', async (t) => {
  const dir = t.testdir({ 'api-key': 'revoked-key' })
  const clock = new ManualClock({ random: 0.999 })
  const stack = await startStack(t, {
    clock,
    ready: false,
    mock: { apiKey: 'new-key' },
    env: { ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY_FILE: join(dir, 'api-key'), SECRETS_POLL_MS: '0' }
  })
  await until(() => stack.proxy.tokens.status().state === 'rejected', 'the revoked key to be rejected')
  writeFileSync(join(dir, 'api-key'), 'new-key')
  stack.proxy.reloadSecrets()
  await until(() => stack.proxy.tokens.isReady(), 'the login with the new key')
  t.equal(stack.mock.logins.length, 2, 'the login with the new key is the only one: none with the revoked key')
  t.equal(stack.mock.logins[1]?.headers['x-api-key'], 'new-key')
  t.notOk(stack.logs.records().some((r) => r.msg === STARTED), 'the new credentials\' own login did it')
})

t.test('serve: a real SIGHUP ends a backoff of rejected credentials', async (t) => {
  const mock = await startMock(t)
  mock.defaultLogin = { status: 401 }
  const child = spawnScript(t, source('cli'), ['serve'], { ROECNY_BASE_URL: mock.url, ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY: DEMO_API_KEY, PROXY_PORT: '0', LOG_LEVEL: 'debug' })
  const { address } = JSON.parse(await child.line(/roecny-auth-proxy listening/)) as { address: string }
  // Rejected logins are retried after up to 10 s, 20 s, 40 s, ... at random: wait for a retry at least 5 s away,
  // so the login that follows the SIGHUP cannot be the scheduled one.
  const failure = JSON.parse(await child.line(/"retryInSeconds":(?:[5-9]|\d{2,})(?:\.\d)?[,}]/)) as { time: string, retryInSeconds: number }
  const logins = mock.logins.length
  mock.defaultLogin = {}
  child.process.kill('SIGHUP')
  const started = JSON.parse(await child.line(new RegExp(STARTED))) as { time: string }
  const succeeded = JSON.parse(await child.line(/login succeeded/)) as { time: string }
  t.ok(Date.parse(succeeded.time) - Date.parse(failure.time) < failure.retryInSeconds * 1000, 'the token came before the scheduled retry')
  t.ok(Date.parse(started.time) <= Date.parse(succeeded.time))
  t.equal(mock.logins.length, logins + 1, 'one login')
  t.equal((await get(`${address}/api/v1/balances/current`)).status, 200)
  t.equal(child.process.exitCode, null, 'SIGHUP did not end the process')
  child.process.kill('SIGTERM')
  t.equal(await child.exited, 0)
})
