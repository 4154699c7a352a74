// Seen from outside: one log line per change, roecny_proxy_secret_reloads_total{secret,result}, and per file secret in
// /-/status its load time and generation, never a value; SIGHUP re-reads at once and never ends the process.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { stopOnSignals } from '../src/signals.js'
import { get } from './helpers/http.js'
import { ManualClock } from './helpers/manual-clock.js'
import { scrape } from './helpers/metrics.js'
import { watcherOf } from './helpers/secret-volume.js'
import { startStack } from './helpers/stack.js'

const API_KEY = 'key-at-start-0b7c52e9'
const ROTATED_KEY = 'key-rotated-8e31d6a4'
const RELOADS = 'roecny_proxy_secret_reloads_total'

t.test('metrics, /-/status and log lines across an applied and an ignored change', async (t) => {
  const dir = t.testdir({ 'api-key': API_KEY, 'client-id': 'demo-client' })
  const clock = new ManualClock()
  const stack = await startStack(t, {
    mock: { apiKey: API_KEY },
    clock,
    env: { ROECNY_CLIENT_ID_FILE: join(dir, 'client-id'), ROECNY_API_KEY_FILE: join(dir, 'api-key'), SECRETS_POLL_MS: '0' }
  })
  const startedAt = new Date(clock.wallNow()).toISOString()

  const initial = await scrape(stack.url)
  for (const secret of ['ROECNY_CLIENT_ID_FILE', 'ROECNY_API_KEY_FILE']) {
    for (const result of ['applied', 'ignored']) t.equal(initial.value(RELOADS, { secret, result }), 0, `${secret} ${result} starts at 0`)
  }
  t.match(initial.text, `# HELP ${RELOADS} Changes of *_FILE secrets seen at run time`)
  t.same((await get(`${stack.url}/-/status`).then((r) => JSON.parse(r.body) as { secrets: unknown })).secrets, {
    ROECNY_CLIENT_ID_FILE: { loadedAt: startedAt, generation: 1, lastIgnored: null },
    ROECNY_API_KEY_FILE: { loadedAt: startedAt, generation: 1, lastIgnored: null }
  })

  await clock.advance(60_000)
  stack.mock.acceptedCredentials = [{ clientId: 'demo-client', apiKey: ROTATED_KEY }]
  writeFileSync(join(dir, 'api-key'), ROTATED_KEY)
  stack.proxy.reloadSecrets()
  await stack.proxy.tokens.acquire()
  const appliedAt = new Date(clock.wallNow()).toISOString()
  await clock.advance(60_000)
  writeFileSync(join(dir, 'client-id'), '')
  stack.proxy.reloadSecrets()
  stack.proxy.reloadSecrets()
  await clock.advance(60_000)
  writeFileSync(join(dir, 'client-id'), 'demo-client\u0007')
  stack.proxy.reloadSecrets()

  const after = await scrape(stack.url)
  t.equal(after.value(RELOADS, { secret: 'ROECNY_API_KEY_FILE', result: 'applied' }), 1)
  t.equal(after.value(RELOADS, { secret: 'ROECNY_API_KEY_FILE', result: 'ignored' }), 0)
  t.equal(after.value(RELOADS, { secret: 'ROECNY_CLIENT_ID_FILE', result: 'applied' }), 0)
  t.equal(after.value(RELOADS, { secret: 'ROECNY_CLIENT_ID_FILE', result: 'ignored' }), 2, 'the same bad file read twice counts once')
  const status = await get(`${stack.url}/-/status`)
  t.same((JSON.parse(status.body) as { secrets: unknown }).secrets, {
    ROECNY_CLIENT_ID_FILE: {
      loadedAt: startedAt,
      generation: 1,
      lastIgnored: { at: new Date(clock.wallNow()).toISOString(), problem: 'ROECNY_CLIENT_ID_FILE must not contain control characters or characters beyond Latin-1' }
    },
    ROECNY_API_KEY_FILE: { loadedAt: appliedAt, generation: 2, lastIgnored: null }
  })
  t.match(JSON.parse(status.body), { ready: true, state: 'ready', logins: { ok: 2 } }, 'the proxy logged in with the rotated key')

  const lines = stack.logs.records().filter((r) => r.secret !== undefined)
  t.match(lines, [
    { level: 'info', secret: 'ROECNY_API_KEY_FILE', generation: 2, msg: 'ROECNY_API_KEY_FILE changed; applied' },
    { level: 'warn', secret: 'ROECNY_CLIENT_ID_FILE', problem: 'ROECNY_CLIENT_ID_FILE names an empty file' },
    { level: 'warn', secret: 'ROECNY_CLIENT_ID_FILE', problem: 'ROECNY_CLIENT_ID_FILE must not contain control characters or characters beyond Latin-1' }
  ], 'one line per change, naming the variable and the outcome')
  t.equal(lines.length, 3)
  t.equal(stack.mock.logins.length, 2, 'no login with an ignored client ID')
  for (const text of [stack.logs.lines.join('\n'), status.body, after.text]) {
    t.notOk(text.includes(API_KEY) || text.includes(ROTATED_KEY), 'no key in the logs, /-/status or the metrics')
  }
})

t.test('SIGHUP re-reads the file secrets at once, before any event or poll', async (t) => {
  const dir = t.testdir({ 'api-key': API_KEY })
  const clock = new ManualClock()
  const stack = await startStack(t, {
    mock: { apiKey: API_KEY },
    clock,
    env: { ROECNY_CLIENT_ID: 'demo-client', ROECNY_API_KEY_FILE: join(dir, 'api-key') }
  })
  const listeners = process.listenerCount('SIGHUP')
  let exitCode: number | undefined
  const stopped = stopOnSignals(stack.proxy.shutdown, stack.proxy.logger, stack.proxy.reloadSecrets).then((code) => { exitCode = code })
  t.equal(process.listenerCount('SIGHUP'), listeners + 1)
  writeFileSync(join(dir, 'api-key'), ROTATED_KEY)
  process.emit('SIGHUP', 'SIGHUP')
  t.equal(watcherOf(stack.proxy).status().ROECNY_API_KEY_FILE?.generation, 2, 'applied synchronously')
  t.equal(clock.monotonic(), 0, 'no time passed')
  process.emit('SIGHUP', 'SIGHUP')
  t.equal(watcherOf(stack.proxy).status().ROECNY_API_KEY_FILE?.generation, 2, 'a second SIGHUP finds no change')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(exitCode, undefined, 'SIGHUP does not stop the proxy')
  t.equal(stack.logs.records().filter((r) => r.msg === 'SIGHUP: re-reading the file secrets').length, 2)
  process.emit('SIGTERM', 'SIGTERM')
  await stopped
  t.equal(exitCode, 0)
  t.equal(process.listenerCount('SIGHUP'), listeners, 'once stopped, SIGHUP has its default effect again')
})
