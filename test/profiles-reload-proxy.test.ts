// PROXY_PROFILES_FILE re-read on a started proxy (SPEC §13): a valid change applies whole at SIGHUP, an invalid file is ignored whole.
import { createHash } from 'node:crypto'
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'tap'
import { DEMO_API_KEY, DEMO_CLIENT_ID } from '../src/mock/roecny.js'
import { get, json } from './helpers/http.js'
import { scrape } from './helpers/metrics.js'
import { startStack } from './helpers/stack.js'
import type { Stack, Teardown } from './helpers/stack.js'
import { tempDir } from './helpers/temp.js'

const A_KEY = 'reload-a-key-0123456789abcdef'
const NEW_KEY = 'reload-new-key-0123456789abcdef'

function sha256 (text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

function write (path: string, keys: string[]): void {
  writeFileSync(path, `profiles:\n  a:\n    accessKeys: [${keys.map((key) => `"${sha256(key)}"`).join(', ')}]\n`)
  chmodSync(path, 0o600)
}

async function reloadStack (t: Teardown, file: string): Promise<Stack> {
  // SECRETS_POLL_MS=0: only SIGHUP re-reads here, so each change is seen when the test says.
  return await startStack(t, { env: { ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY: DEMO_API_KEY, PROXY_PROFILES_FILE: file, SECRETS_POLL_MS: '0' } })
}

async function status (url: string): Promise<number> {
  return (await get(`${url}/api/v1/balances/current`, { headers: { 'x-proxy-key': NEW_KEY } })).status
}

test('SIGHUP re-reads the profiles file: a key added is accepted at the next request, a key removed gets 401', async (t) => {
  const file = join(tempDir(t, 'profiles-reload'), 'profiles.yaml')
  write(file, [A_KEY])
  const { url, proxy } = await reloadStack(t, file)
  let metrics = await scrape(url)
  t.equal(metrics.value('roecny_proxy_secret_reloads_total', { secret: 'PROXY_PROFILES_FILE', result: 'applied' }), 0, 'its counters start at 0')
  t.equal(metrics.value('roecny_proxy_secret_reloads_total', { secret: 'PROXY_PROFILES_FILE', result: 'ignored' }), 0)
  t.equal(await status(url), 401, 'not yet a key')
  write(file, [A_KEY, NEW_KEY])
  proxy.reloadSecrets()
  t.equal(await status(url), 200, 'the added key')
  write(file, [A_KEY])
  proxy.reloadSecrets()
  t.equal(await status(url), 401, 'the removed key')
  t.equal((await get(`${url}/api/v1/balances/current`, { headers: { 'x-proxy-key': A_KEY } })).status, 200, 'the kept key')
  metrics = await scrape(url)
  t.equal(metrics.value('roecny_proxy_secret_reloads_total', { secret: 'PROXY_PROFILES_FILE', result: 'applied' }), 2)
  const shown = await json<{ secrets: Record<string, unknown> }>(`${url}/-/status`, { headers: { 'x-proxy-key': A_KEY } })
  t.ok('PROXY_PROFILES_FILE' in shown.body.secrets, '/-/status shows the profiles file under secrets')
  t.notMatch(JSON.stringify(shown.body), sha256(A_KEY), 'never a digest')
})

test('an invalid profiles file is ignored whole: the old profiles keep serving, one warning', async (t) => {
  const file = join(tempDir(t, 'profiles-reload'), 'profiles.yaml')
  write(file, [A_KEY])
  const { url, proxy, logs } = await reloadStack(t, file)
  writeFileSync(file, `profiles:\n  a:\n    accessKeys: ["${sha256(NEW_KEY)}"]\n    maxInFlight: -1\n`)
  proxy.reloadSecrets()
  t.equal((await get(`${url}/api/v1/balances/current`, { headers: { 'x-proxy-key': A_KEY } })).status, 200, 'the old profiles serve')
  t.equal(await status(url), 401, 'nothing of the invalid file applied')
  t.equal((await scrape(url)).value('roecny_proxy_secret_reloads_total', { secret: 'PROXY_PROFILES_FILE', result: 'ignored' }), 1)
  const warnings = logs.records().filter((r) => r.level === 'warn' && String(r.msg).includes('PROXY_PROFILES_FILE'))
  t.equal(warnings.length, 1, 'one warning')
  t.match(warnings[0], { component: 'profiles', secret: 'PROXY_PROFILES_FILE' })
})

test('/-/status shows the environment\'s file secrets and the profiles\' files together under secrets, never a value', async (t) => {
  const folder = tempDir(t, 'profiles-reload')
  const file = join(folder, 'profiles.yaml')
  write(file, [A_KEY])
  const apiKeyFile = join(folder, 'api-key')
  writeFileSync(apiKeyFile, DEMO_API_KEY)
  chmodSync(apiKeyFile, 0o600)
  const { url } = await startStack(t, { env: { ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY_FILE: apiKeyFile, PROXY_PROFILES_FILE: file, SECRETS_POLL_MS: '0' } })
  const shown = await json<{ secrets: Record<string, unknown> }>(`${url}/-/status`, { headers: { 'x-proxy-key': A_KEY } })
  t.ok('PROXY_PROFILES_FILE' in shown.body.secrets)
  t.ok('ROECNY_API_KEY_FILE' in shown.body.secrets)
  t.notMatch(JSON.stringify(shown.body), DEMO_API_KEY)
})
