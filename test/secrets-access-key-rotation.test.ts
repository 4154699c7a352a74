// PROXY_ACCESS_KEY_FILE rolled over without a restart: add the new key, move the clients, remove the old one; each
// change applies to the next request, even on a kept-alive connection; a file with no key is ignored, never a way in.
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { Pool } from 'undici'
import { DEBOUNCE_MS } from '../src/secrets/watch.js'
import { ManualClock } from './helpers/manual-clock.js'
import { watcherOf } from './helpers/secret-volume.js'
import { startStack } from './helpers/stack.js'
import { until } from './helpers/until.js'

const KEY_A = 'access-key-A-3b8e1f0d9c27a6e5'
const KEY_B = 'access-key-B-f41c96d2e70b8a13'

t.test('roll-over of the access key: each step applies to the next request on the same connection', async (t) => {
  const dir = t.testdir({ 'proxy-key': `${KEY_A}\n` })
  const path = join(dir, 'proxy-key')
  chmodSync(path, 0o600)
  const clock = new ManualClock()
  const stack = await startStack(t, { clock, env: { ROECNY_CLIENT_ID: 'demo-client', ROECNY_API_KEY: 'demo-key', PROXY_ACCESS_KEY_FILE: path } })
  const watcher = watcherOf(stack.proxy)
  // One connection: what changes is the key set, not the connection the client holds.
  const client = new Pool(stack.url, { connections: 1, pipelining: 1 })
  t.teardown(() => client.close())
  async function statusWith (key: string | undefined): Promise<number> {
    const res = await client.request({ path: '/api/v1/balances/current', method: 'GET', headers: key === undefined ? {} : { 'x-proxy-key': key } })
    await res.body.dump()
    return res.statusCode
  }
  async function rewrite (text: string): Promise<void> {
    writeFileSync(path, text)
    await until(watcher.reloadScheduled, 'the write event')
    await clock.advance(DEBOUNCE_MS)
  }

  t.same([await statusWith(KEY_A), await statusWith(KEY_B), await statusWith(undefined)], [200, 401, 401], 'A only')
  await rewrite(`# A: the clients use it now\n${KEY_A}\n\n# B: the next one\n${KEY_B}\n`)
  t.same([await statusWith(KEY_A), await statusWith(KEY_B), await statusWith(undefined)], [200, 200, 401], 'A and B while the clients move')
  await rewrite(`# A: only a comment changed\n${KEY_A}\n\n# B: the next one\n${KEY_B}\n`)
  t.equal(watcher.status().PROXY_ACCESS_KEY_FILE?.generation, 2, 'a comment is no change')
  await rewrite(`${KEY_B}\n`)
  t.same([await statusWith(KEY_A), await statusWith(KEY_B)], [401, 200], 'B only')
  t.equal(watcher.status().PROXY_ACCESS_KEY_FILE?.generation, 3)

  // Emptied, or left with comments only: ignored; the key check is never switched off this way.
  for (const text of ['', '# all keys removed\n']) {
    await rewrite(text)
    t.same([await statusWith(KEY_A), await statusWith(KEY_B), await statusWith(undefined)], [401, 200, 401], `${JSON.stringify(text)} is ignored`)
  }
  t.match(stack.logs.records().filter((r) => r.level === 'warn' && r.secret !== undefined).map((r) => r.problem), [
    'PROXY_ACCESS_KEY_FILE names an empty file',
    'PROXY_ACCESS_KEY_FILE holds no key (only blank lines and # comments)'
  ])
  t.match(watcher.status().PROXY_ACCESS_KEY_FILE, { generation: 3, lastIgnored: { problem: 'PROXY_ACCESS_KEY_FILE holds no key (only blank lines and # comments)' } })
  const text = stack.logs.lines.join('\n')
  t.notOk(text.includes(KEY_A) || text.includes(KEY_B), 'no key in any log line, trace included')
})

t.test('an access key set in the environment never changes: no watcher, SIGHUP re-reads nothing', async (t) => {
  const stack = await startStack(t, { env: { ROECNY_CLIENT_ID: 'demo-client', ROECNY_API_KEY: 'demo-key', PROXY_ACCESS_KEY: KEY_A } })
  t.equal(stack.proxy.secrets, undefined)
  stack.proxy.reloadSecrets()
  t.match(stack.logs.records().at(-1), { level: 'info', msg: 'SIGHUP: no file secret to re-read (values set in the environment never change at run time)' })
  const res = await stack.proxy.app.inject({ url: '/-/status', headers: { 'x-proxy-key': KEY_A } })
  t.equal(res.statusCode, 200)
  t.notOk('secrets' in res.json(), '/-/status lists no file secret')
})
