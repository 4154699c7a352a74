// Secrets stay secret: loose *_FILE permissions are warned about; error bodies, /-/status, --help and every log level carry none.
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'tap'
import { request } from 'undici'
import { EXIT_OK } from '../src/cli.js'
import { loadConfig } from '../src/config.js'
import { DEMO_CLIENT_ID } from '../src/mock/roecny.js'
import { built, runMain, spawnScript } from './helpers/cli.js'
import { json, rawRequest } from './helpers/http.js'
import { send } from './helpers/raw.js'
import { startMock, startStack } from './helpers/stack.js'

const API_KEY = 'api-key-SECRET-5b7d1e'
const ACCESS_KEY = 'access-key-SECRET-9c2f4a6e'
/** Secrets a client sends that must be neither logged nor forwarded in the clear anywhere. */
const CLIENT_SECRETS = {
  authorization: 'Bearer client-token-SECRET-aa11',
  'x-api-key': 'client-api-key-SECRET-bb22',
  cookie: 'session=client-cookie-SECRET-dd44',
  'proxy-authorization': 'Basic Y2xpZW50LVNFQ1JFVC1lZTU1'
}

function leaks (text: string, secrets: string[]): string[] {
  return secrets.filter((secret) => text.includes(secret))
}

test('a *_FILE secret that group or others may read is warned about at start', async (t) => {
  const dir = t.testdir({ key: API_KEY, access: ACCESS_KEY, client: DEMO_CLIENT_ID })
  chmodSync(join(dir, 'key'), 0o644)
  chmodSync(join(dir, 'access'), 0o640)
  chmodSync(join(dir, 'client'), 0o600)
  const config = loadConfig({
    ROECNY_BASE_URL: 'http://127.0.0.1:9',
    ROECNY_CLIENT_ID_FILE: join(dir, 'client'),
    ROECNY_API_KEY_FILE: join(dir, 'key'),
    PROXY_ACCESS_KEY_FILE: join(dir, 'access')
  })
  const stack = await startStack(t, { config: { warnings: config.warnings, logLevel: 'info' } })
  t.same(stack.logs.records().filter((r) => r.level === 'warn').map((r) => r.msg), [
    'ROECNY_API_KEY_FILE names a file that group or others may read (mode 0644); let only the proxy\'s user read it (chmod 600)',
    'PROXY_ACCESS_KEY_FILE names a file that group or others may read (mode 0640); let only the proxy\'s user read it (chmod 600)'
  ])
  t.same(leaks(stack.logs.lines.join('\n'), [API_KEY, ACCESS_KEY]), [])
})

test('check prints the warnings, never a value', async (t) => {
  const mock = await startMock(t, { apiKey: API_KEY })
  const dir = t.testdir({ key: API_KEY })
  chmodSync(join(dir, 'key'), 0o604)
  const { code, stdout, stderr } = await runMain(['check'], { ROECNY_BASE_URL: mock.url, ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY_FILE: join(dir, 'key') })
  t.equal(code, EXIT_OK)
  t.equal(stderr, 'roecny-auth-proxy: warning: ROECNY_API_KEY_FILE names a file that group or others may read (mode 0604); let only the proxy\'s user read it (chmod 600)\n')
  t.same(leaks(stdout + stderr, [API_KEY, ...mock.issuedTokens]), [])
})

test('--help shows variable names, never their values', async (t) => {
  const { code, stdout } = await runMain(['--help'], { ROECNY_API_KEY: API_KEY, PROXY_ACCESS_KEY: ACCESS_KEY })
  t.equal(code, EXIT_OK)
  for (const name of ['PROXY_ACCESS_KEY_FILE', 'PROXY_SOCKET_MODE', 'PROXY_ALLOWED_HOSTS', 'PROXY_CORS_ORIGINS', 'PROXY_ALLOW_METHODS', 'PROXY_DENY_PATHS', 'PROXY_MAX_BODY_BYTES', 'ROECNY_CA_FILE', 'PROXY_ALLOW_UNAUTHENTICATED_REMOTE']) {
    t.match(stdout, name)
  }
  t.same(leaks(stdout, [API_KEY, ACCESS_KEY]), [])
})

test('at LOG_LEVEL=trace, every guard and every error: no line, body or status holds a secret', async (t) => {
  const stack = await startStack(t, {
    config: {
      logLevel: 'trace',
      apiKey: API_KEY,
      accessKeys: [ACCESS_KEY],
      corsOrigins: ['http://localhost:3000'],
      denyPaths: ['/api/v1/echo/denied/**'],
      maxBodyBytes: 4096
    },
    mock: { apiKey: API_KEY }
  })
  const key = { 'x-proxy-key': ACCESS_KEY }
  const secretHeaders = { ...key, ...CLIENT_SECRETS }
  const headerLines = Object.entries(secretHeaders).map(([name, value]) => `${name}: ${value}\r\n`).join('')
  const bodies: string[] = []
  async function hit (what: Parameters<typeof send>[1]): Promise<void> {
    const response = await send(stack.url, what)
    bodies.push(response.raw)
  }
  await hit({ target: '/api/v1/balances/current?q=1', headers: secretHeaders })
  await hit({ method: 'POST', target: '/api/v1/echo/pay', headers: { ...secretHeaders, 'content-type': 'application/json' }, body: '{"amount":1}' })
  await hit({ target: '/api/v1/echo/x', headers: { ...CLIENT_SECRETS, 'x-proxy-key': 'guess-SECRET-wrong' } })
  await hit({ target: '/api/v1/echo/x', headers: CLIENT_SECRETS })
  await hit({ target: '/api/v1/echo/x', host: 'evil.example', headers: secretHeaders })
  await hit({ target: '/api/v1/echo/x', headers: { ...secretHeaders, origin: 'https://evil.example' } })
  await hit({ method: 'OPTIONS', target: '/api/v1/echo/x', headers: { ...secretHeaders, origin: 'http://localhost:3000', 'access-control-request-method': 'POST' } })
  await hit({ target: '/api/v1/echo/%2e%2e/admin%00', headers: secretHeaders })
  await hit({ target: '/api/v1/echo/denied/x', headers: secretHeaders })
  await hit({ method: 'POST', target: '/api/v1/authentication/login', headers: secretHeaders })
  await hit({ method: 'TRACE', target: '/api/v1/echo/x', headers: secretHeaders })
  await hit({ method: 'POST', target: '/api/v1/echo/big', headers: secretHeaders, body: 'x'.repeat(5000) })
  await hit({ method: 'POST', target: '/api/v1/echo/big', headers: { ...secretHeaders, 'transfer-encoding': 'chunked' }, body: `1388\r\n${'x'.repeat(5000)}\r\n0\r\n\r\n` })
  await hit({ target: '/api/v1/test/status/500', headers: secretHeaders })
  await hit({ target: '/-/status', headers: secretHeaders })
  await hit({ target: '/-/nothing', headers: secretHeaders })
  // The parser's own error carries the raw request, credential headers included: none of it may be logged.
  bodies.push(await rawRequest(stack.url, `GET /api/v1/echo/a\x00b HTTP/1.1\r\nHost: localhost\r\n${headerLines}\r\n`))
  bodies.push(await rawRequest(stack.url, `GET /api/v1/echo/a HTTP/1.1\r\nHost: localhost\r\n${headerLines}X-Broken\r\n\r\n`))
  bodies.push(await rawRequest(stack.url, `CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n${headerLines}\r\n`))
  // An upstream 401: the token is retired, a new login runs and the request is replayed.
  stack.mock.revokeAll()
  await hit({ target: '/api/v1/balances/current', headers: secretHeaders })
  await stack.close()

  const secrets = [API_KEY, ACCESS_KEY, 'guess-SECRET-wrong', ...stack.mock.issuedTokens, ...Object.values(CLIENT_SECRETS).map((v) => v.replace(/^(Bearer|Basic) |^session=/, ''))]
  t.ok(stack.mock.issuedTokens.length >= 2, 'two logins: two tokens that could leak')
  t.ok(stack.logs.lines.length > 20, `trace logging produced ${stack.logs.lines.length} lines`)
  t.equal(stack.proxy.logger.level, 'trace')
  t.ok(stack.logs.records().some((r) => r.msg === 'malformed request refused'), 'debug lines were written')
  t.same(leaks(stack.logs.lines.join('\n'), secrets), [], 'no log line holds a secret')
  t.notOk(stack.logs.lines.some((line) => line.includes('rawPacket')), 'no raw request bytes are logged')
  const answers = bodies.join('\n')
  t.same(leaks(answers.replace(/"authorization":"Bearer [^"]+"/, ''), [API_KEY, ACCESS_KEY, 'guess-SECRET-wrong']), [], 'no answer holds a key')
  t.match(answers, /x-roecny-proxy-error: PROXY_ACCESS_DENIED/)
  t.match(answers, /x-roecny-proxy-error: PROXY_BODY_TOO_LARGE/)
  // The access log: a line per request, with its id and duration, and its path without the query.
  const requests = stack.logs.records().filter((r) => r.msg === 'request')
  t.ok(requests.length >= 4, 'one line per request')
  for (const line of requests) {
    t.notOk(String(line.path).includes('?'), 'path logged without query')
    t.type(line.durationMs, 'number')
    t.ok(line.reqId, 'request id logged')
  }
})

test('without an access key configured, a client\'s x-proxy-key is logged nowhere either', async (t) => {
  const stack = await startStack(t, { config: { logLevel: 'trace' } })
  const clientKey = 'access-key-SECRET-cc33'
  t.equal((await json(`${stack.url}/api/v1/echo/a?q=1`, { headers: { 'x-proxy-key': clientKey } })).status, 200)
  t.equal((await json(`${stack.url}/-/status`, { headers: { 'x-proxy-key': clientKey } })).status, 200)
  await stack.close()
  t.equal(stack.logs.records().filter((r) => r.msg === 'request').length, 2, 'both requests were logged')
  t.same(leaks(stack.logs.lines.join('\n'), [clientKey]), [], 'no log line holds it')
})

test('a real serve process at LOG_LEVEL=trace prints no secret', async (t) => {
  const mock = await startMock(t, { apiKey: API_KEY })
  const dir = t.testdir()
  writeFileSync(join(dir, 'api-key'), `${API_KEY}\n`, { mode: 0o600 })
  writeFileSync(join(dir, 'access-key'), `${ACCESS_KEY}\n`, { mode: 0o600 })
  const child = spawnScript(t, built('cli'), ['serve'], {
    ROECNY_BASE_URL: mock.url,
    ROECNY_CLIENT_ID: DEMO_CLIENT_ID,
    ROECNY_API_KEY_FILE: join(dir, 'api-key'),
    PROXY_ACCESS_KEY_FILE: join(dir, 'access-key'),
    PROXY_PORT: '0',
    LOG_LEVEL: 'trace'
  })
  const url = (JSON.parse(await child.line(/roecny-auth-proxy listening/)) as { address: string }).address
  const withKey = await request(`${url}/api/v1/balances/current`, { headers: { 'x-proxy-key': ACCESS_KEY, ...CLIENT_SECRETS } })
  t.equal(withKey.statusCode, 200)
  await withKey.body.dump()
  const without = await request(`${url}/api/v1/balances/current`, { headers: CLIENT_SECRETS })
  t.equal(without.statusCode, 401)
  await without.body.dump()
  await rawRequest(url, `GET /a\x00 HTTP/1.1\r\nHost: localhost\r\nx-proxy-key: ${ACCESS_KEY}\r\n\r\n`)
  child.process.kill('SIGTERM')
  t.same(await child.exited, 0)
  t.ok(child.stdout.some((line) => line.includes('"level":"debug"')), 'debug lines were printed')
  t.same(leaks([...child.stdout, ...child.stderr].join('\n'), [API_KEY, ACCESS_KEY, ...mock.issuedTokens]), [], 'no secret on stdout or stderr')
})
