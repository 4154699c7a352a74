// DNS rebinding: only loopback names, the bound address and PROXY_ALLOWED_HOSTS may appear in Host.
import { test } from 'tap'
import { expectProxyError, send, upstreamView } from './helpers/raw.js'
import { buildTestApp, startStack } from './helpers/stack.js'

/** Host values a DNS-rebinding page (or a confused client) would send. */
const REBINDING_HOSTS = [
  'evil.example',
  'evil.example:8080',
  'EVIL.example',
  'localhost.evil.example',
  'localhost.evil.example:8080',
  '127.0.0.1.nip.io',
  '127.0.0.1.evil.example:80',
  'evil.example:8080@localhost',
  'localhost:8080@evil.example',
  'localhost:http',
  'localhost:',
  '[::2]:8080',
  '[::1',
  '::2',
  '0.0.0.0',
  '127.0.0.2',
  '10.0.0.1:8080',
  ''
]

test('a rebinding Host gets 403 PROXY_FORBIDDEN_HOST and nothing is forwarded', async (t) => {
  const stack = await startStack(t)
  const view = upstreamView(stack.mock)
  for (const host of REBINDING_HOSTS) {
    for (const method of ['GET', 'POST']) {
      const response = await send(stack.url, { method, target: '/api/v1/echo/rebinding', host, body: method === 'POST' ? '{"pay":1}' : undefined })
      expectProxyError(t, response, 403, 'PROXY_FORBIDDEN_HOST', `${method} Host: ${JSON.stringify(host)}`)
    }
  }
  const noHost = await send(stack.url, { target: '/api/v1/balances/current', host: null, version: 'HTTP/1.0' })
  expectProxyError(t, noHost, 403, 'PROXY_FORBIDDEN_HOST', 'HTTP/1.0 without Host')
  const status = await send(stack.url, { target: '/-/status', host: 'evil.example' })
  expectProxyError(t, status, 403, 'PROXY_FORBIDDEN_HOST', '/-/status is guarded too')
  view.untouched(t, 'rebinding hosts')
})

test('loopback names and the bound address are accepted on any port', async (t) => {
  const stack = await startStack(t)
  const port = new URL(stack.url).port
  const hosts = ['localhost', `localhost:${port}`, 'LocalHost:1', '127.0.0.1', `127.0.0.1:${port}`, '127.0.0.1:65535', '[::1]', `[::1]:${port}`, '::1']
  for (const host of hosts) {
    const response = await send(stack.url, { target: `/api/v1/echo/host?h=${encodeURIComponent(host)}`, host })
    t.equal(response.status, 200, `Host: ${host}`)
  }
  t.equal(stack.mock.requests.length, hosts.length, 'each one reached the upstream')
  t.equal(stack.mock.requests[0]?.headers.host, new URL(stack.mock.url).host, 'the upstream gets its own Host, not the client\'s')
})

test('probes answer whatever the Host: kubelet and Prometheus address the pod by IP', async (t) => {
  const stack = await startStack(t)
  for (const target of ['/-/healthz', '/-/readyz', '/-/healthz?probe=1']) {
    t.equal((await send(stack.url, { target, host: '10.42.0.17:8080' })).status, 200, target)
  }
  expectProxyError(t, await send(stack.url, { target: '/-/nothing', host: '10.42.0.17:8080' }), 403, 'PROXY_FORBIDDEN_HOST', 'unknown /-/ route')
  expectProxyError(t, await send(stack.url, { target: '/-/%68ealthz', host: '10.42.0.17' }), 403, 'PROXY_FORBIDDEN_HOST', 'an escaped probe path is not a probe')
})

test('PROXY_ALLOWED_HOSTS adds names and addresses, on any port', async (t) => {
  const stack = await startStack(t, { config: { allowedHosts: ['roecny-proxy', 'proxy.internal.example', '10.0.0.7', 'fd00::7'] } })
  for (const host of ['roecny-proxy', 'roecny-proxy:8080', 'PROXY.internal.example:443', '10.0.0.7:8080', '[fd00::7]:8080', 'localhost']) {
    t.equal((await send(stack.url, { target: '/api/v1/balances/current', host })).status, 200, `Host: ${host}`)
  }
  const view = upstreamView(stack.mock)
  for (const host of ['evil.example', 'roecny-proxy.evil.example', 'proxy.internal', '10.0.0.8', '[fd00::8]']) {
    expectProxyError(t, await send(stack.url, { target: '/api/v1/balances/current', host }), 403, 'PROXY_FORBIDDEN_HOST', `Host: ${host}`)
  }
  view.untouched(t, 'hosts not listed')
})

test('PROXY_ALLOWED_HOSTS=* turns the check off', async (t) => {
  const stack = await startStack(t, { config: { allowedHosts: ['*'] } })
  for (const host of ['evil.example', 'anything:1']) {
    t.equal((await send(stack.url, { target: '/api/v1/balances/current', host })).status, 200, `Host: ${host}`)
  }
})

test('the bound address is accepted: a proxy bound to 10.1.2.3 answers Host 10.1.2.3:8080', async (t) => {
  // Only the app is built (nothing listens on 10.1.2.3); /-/status carries the Host check like a proxied request.
  const { app } = await buildTestApp(t, { config: { proxyHost: '10.1.2.3', proxyPort: 8080, accessKeys: ['an-access-key-0123456789'] } })
  const headers = { 'x-proxy-key': 'an-access-key-0123456789' }
  t.equal((await app.inject({ url: '/-/status', headers: { ...headers, host: '10.1.2.3:8080' } })).statusCode, 200)
  t.equal((await app.inject({ url: '/-/status', headers: { ...headers, host: '10.1.2.3' } })).statusCode, 200)
  const other = await app.inject({ url: '/-/status', headers: { ...headers, host: '10.1.2.4:8080' } })
  t.equal(other.statusCode, 403)
  t.equal(other.headers['x-roecny-proxy-error'], 'PROXY_FORBIDDEN_HOST')
})
