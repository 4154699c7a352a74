// PROXY_ACCESS_KEY: only callers holding the key spend the token; a remote listener without one does not start.
import { join } from 'node:path'
import { test } from 'tap'
import { EXIT_CONFIG } from '../src/cli.js'
import { loadConfig } from '../src/config.js'
import { runMain } from './helpers/cli.js'
import { expectProxyError, send, upstreamView } from './helpers/raw.js'
import { startStack } from './helpers/stack.js'

const KEY = 'k3y-7b1f0c9e2d4a6b8c0e1f'

test('proxied requests without the right x-proxy-key get 401 PROXY_ACCESS_DENIED and reach nothing', async (t) => {
  const stack = await startStack(t, { config: { accessKeys: [KEY] } })
  const view = upstreamView(stack.mock)
  const wrong: Array<Record<string, string>> = [
    {},
    { 'x-proxy-key': '' },
    { 'x-proxy-key': 'wrong' },
    { 'x-proxy-key': KEY.toUpperCase() },
    { 'x-proxy-key': KEY.slice(0, -1) },
    { 'x-proxy-key': `${KEY}x` },
    { 'x-proxy-key': `${KEY}, ${KEY}` },
    { 'X-Proxy-Key': 'wrong', Authorization: `Bearer ${KEY}` },
    { 'x-api-key': KEY },
    { Authorization: `Basic ${Buffer.from(`user:${KEY}`).toString('base64')}` }
  ]
  for (const headers of wrong) {
    for (const method of ['GET', 'POST']) {
      const response = await send(stack.url, { method, target: '/api/v1/echo/pay', headers, body: method === 'POST' ? '{"amount":1}' : undefined })
      expectProxyError(t, response, 401, 'PROXY_ACCESS_DENIED', `${method} ${JSON.stringify(headers)}`)
    }
  }
  // Sent twice, Node joins the values: that is not the key either.
  const twice = await send(stack.url, `GET /api/v1/echo/pay HTTP/1.1\r\nHost: localhost\r\nx-proxy-key: ${KEY}\r\nx-proxy-key: ${KEY}\r\nConnection: close\r\n\r\n`)
  expectProxyError(t, twice, 401, 'PROXY_ACCESS_DENIED', 'the key sent twice')
  expectProxyError(t, await send(stack.url, { target: '/-/status' }), 401, 'PROXY_ACCESS_DENIED', '/-/status without the key')
  view.untouched(t, 'requests without the key')
})

test('the right key goes through and is never forwarded', async (t) => {
  const stack = await startStack(t, { config: { accessKeys: [KEY] } })
  const response = await send(stack.url, { target: '/api/v1/echo/ok', headers: { 'X-Proxy-Key': KEY } })
  t.equal(response.status, 200)
  const echoed = JSON.parse(response.body) as { headers: Record<string, string> }
  t.equal(echoed.headers['x-proxy-key'], undefined, 'x-proxy-key is not forwarded')
  t.equal(echoed.headers.authorization, `Bearer ${stack.mock.issuedTokens[0]}`)
  t.notOk(response.body.includes(KEY), 'the key is nowhere in what the upstream saw')
  const status = await send(stack.url, { target: '/-/status', headers: { 'x-proxy-key': KEY } })
  t.equal(status.status, 200)
  t.notOk(status.body.includes(KEY))
})

test('probes need no key', async (t) => {
  const stack = await startStack(t, { config: { accessKeys: [KEY] } })
  for (const target of ['/-/healthz', '/-/readyz']) t.equal((await send(stack.url, { target })).status, 200, target)
})

test('a non-loopback PROXY_HOST without an access key stops the start with exit 78', async (t) => {
  const env = { ROECNY_BASE_URL: 'http://127.0.0.1:9', ROECNY_CLIENT_ID: 'c', ROECNY_API_KEY: 'k' }
  for (const host of ['0.0.0.0', '::', '10.1.2.3', 'proxy.internal.example']) {
    const { code, stderr } = await runMain(['serve'], { ...env, PROXY_HOST: host })
    t.equal(code, EXIT_CONFIG, host)
    t.equal(stderr, 'roecny-auth-proxy: configuration error: PROXY_HOST is not a loopback address: set PROXY_ACCESS_KEY or ' +
      'PROXY_ACCESS_KEY_FILE so that only your callers can use the Roecny token (or PROXY_ALLOW_UNAUTHENTICATED_REMOTE=true to let ' +
      'anyone who reaches the port use it)\n', host)
  }
  for (const host of ['127.0.0.1', '127.0.0.53', 'localhost', '::1']) {
    t.doesNotThrow(() => loadConfig({ ...env, PROXY_HOST: host }), `${host} needs no key`)
  }
  t.doesNotThrow(() => loadConfig({ ...env, PROXY_HOST: '0.0.0.0', PROXY_ACCESS_KEY: KEY }), 'with a key')
  const dir = t.testdir({ key: KEY })
  t.doesNotThrow(() => loadConfig({ ...env, PROXY_HOST: '0.0.0.0', PROXY_ACCESS_KEY_FILE: join(dir, 'key') }), 'with a key file')
  t.doesNotThrow(() => loadConfig({ ...env, PROXY_HOST: '0.0.0.0', PROXY_SOCKET: '/run/roecny/proxy.sock' }), 'a Unix socket does not use PROXY_HOST')
})

test('PROXY_ALLOW_UNAUTHENTICATED_REMOTE=true starts it anyway, with a warning in the log', async (t) => {
  const config = loadConfig({ ROECNY_BASE_URL: 'http://127.0.0.1:9', ROECNY_CLIENT_ID: 'c', ROECNY_API_KEY: 'k', PROXY_HOST: '0.0.0.0', PROXY_ALLOW_UNAUTHENTICATED_REMOTE: 'true' })
  t.equal(config.allowUnauthenticatedRemote, true)
  // Tests listen on loopback only: the proxy starts there with the validated configuration's warnings.
  const stack = await startStack(t, { config: { allowUnauthenticatedRemote: true, warnings: config.warnings, logLevel: 'info' } })
  const warnings = stack.logs.records().filter((line) => line.level === 'warn')
  t.same(warnings.map((line) => line.msg), [
    'PROXY_ALLOW_UNAUTHENTICATED_REMOTE=true: the proxy listens on a non-loopback address without an access key; ' +
    'anyone who reaches the port acts as the Roecny account holder'
  ])
  const started = stack.logs.records().findIndex((line) => line.msg === 'roecny-auth-proxy listening')
  t.ok(stack.logs.records().indexOf(warnings[0] as Record<string, unknown>) < started, 'logged at start, before listening')
})
