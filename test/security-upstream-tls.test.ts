// Upstream TLS is always verified, for the login and for forwarding; ROECNY_CA_FILE adds a CA; redirects are never followed.
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import type { Server as TlsServer } from 'node:https'
import { join } from 'node:path'
import { test } from 'tap'
import type { Test } from 'tap'
import { EXIT_FAILURE, EXIT_OK } from '../src/cli.js'
import { loadConfig } from '../src/config.js'
import { DEMO_API_KEY, DEMO_CLIENT_ID, LOGIN_PATH } from '../src/mock/roecny.js'
import { runMain } from './helpers/cli.js'
import { ManualClock } from './helpers/manual-clock.js'
import { expectProxyError, send } from './helpers/raw.js'
import { startMock, startStack } from './helpers/stack.js'

const HAS_OPENSSL = spawnSync('openssl', ['version']).status === 0
const NO_OPENSSL = HAS_OPENSSL ? false : 'openssl is not installed: these tests need it to make their certificates'

interface KeyPair { key: string, cert: string }
interface Certificates {
  caFile: string
  /** 127.0.0.1, issued by the CA. */
  trusted: KeyPair
  /** 127.0.0.1, signed by itself. */
  selfSigned: KeyPair
  /** other.example, issued by the CA: trusted, but not for 127.0.0.1. */
  wrongName: KeyPair
}

/** A throw-away CA and three server certificates, made with openssl in the test's own directory. */
function makeCertificates (t: Test): Certificates {
  const dir = t.testdir()
  function openssl (...args: string[]): void {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
  }
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=roecny-test-ca')
  openssl('req', '-x509', ...ec, '-keyout', 'self.key', '-out', 'self.pem', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1')
  function issue (name: string, san: string): KeyPair {
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`)
    openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`)
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(Date.now()),
      '-days', '2', '-out', `${name}.pem`, '-extfile', `${name}.ext`)
    return { key: readFileSync(join(dir, `${name}.key`), 'utf8'), cert: readFileSync(join(dir, `${name}.pem`), 'utf8') }
  }
  return {
    caFile: join(dir, 'ca.pem'),
    trusted: issue('trusted', 'IP:127.0.0.1'),
    selfSigned: { key: readFileSync(join(dir, 'self.key'), 'utf8'), cert: readFileSync(join(dir, 'self.pem'), 'utf8') },
    wrongName: issue('wrong', 'DNS:other.example')
  }
}

test('upstream TLS', { skip: NO_OPENSSL }, async (t) => {
  const certs = makeCertificates(t)
  const ca = readFileSync(certs.caFile, 'utf8')

  t.test('a self-signed upstream never gets a login: no credentials, no token', async (t) => {
    const stack = await startStack(t, { mock: { tls: certs.selfSigned }, clock: new ManualClock(), ready: false })
    t.match(stack.url, /^http:/)
    t.match(stack.mock.url, /^https:\/\/127\.0\.0\.1:/)
    t.equal(await stack.proxy.tokens.acquire(), undefined, 'the login failed')
    t.match(stack.proxy.tokens.status().lastLoginError, { message: /SELF_SIGNED/ })
    expectProxyError(t, await send(stack.url, { target: '/api/v1/balances/current' }), 503, 'PROXY_TOKEN_UNAVAILABLE', 'no token')
    t.equal(stack.mock.logins.length, 0, 'the API key was never sent')
    t.equal(stack.mock.requests.length, 0)
  })

  t.test('forwarding verifies too: a self-signed certificate gets 502 and never sees the token', async (t) => {
    const stack = await startStack(t, { mock: { tls: certs.trusted }, config: { upstreamCa: ca } })
    t.equal((await send(stack.url, { target: '/api/v1/balances/current' })).status, 200, 'trusted through ROECNY_CA_FILE')
    t.equal(stack.mock.logins.length, 1)
    // The upstream now presents a self-signed certificate to every new connection; the pool must reconnect.
    ;(stack.mock.server as unknown as TlsServer).setSecureContext(certs.selfSigned)
    stack.mock.server.closeAllConnections()
    const before = stack.mock.requests.length
    expectProxyError(t, await send(stack.url, { target: '/api/v1/balances/current' }), 502, 'PROXY_UPSTREAM_UNREACHABLE', 'self-signed upstream')
    expectProxyError(t, await send(stack.url, { method: 'POST', target: '/api/v1/echo/pay', body: '{"amount":1}' }), 502, 'PROXY_UPSTREAM_UNREACHABLE', 'with a body')
    t.equal(stack.mock.requests.length, before, 'no request, so no token, reached it')
    t.ok(stack.logs.records().some((r) => r.msg === 'upstream request failed' && /SELF_SIGNED/.test(String(r.upstreamError))), 'the TLS failure is logged')
    ;(stack.mock.server as unknown as TlsServer).setSecureContext(certs.trusted)
    t.equal((await send(stack.url, { target: '/api/v1/balances/current' })).status, 200, 'trusted again')
  })

  t.test('a trusted CA does not make a certificate for another name acceptable', async (t) => {
    const stack = await startStack(t, { mock: { tls: certs.wrongName }, config: { upstreamCa: ca }, clock: new ManualClock(), ready: false })
    t.equal(await stack.proxy.tokens.acquire(), undefined)
    t.match(stack.proxy.tokens.status().lastLoginError, { message: /ERR_TLS_CERT_ALTNAME_INVALID/ })
    t.equal(stack.mock.logins.length, 0)
  })

  t.test('ROECNY_CA_FILE is read and trusted, by serve and by check', async (t) => {
    const mock = await startMock(t, { tls: certs.trusted })
    const env = { ROECNY_BASE_URL: mock.url, ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY: DEMO_API_KEY }
    t.equal(loadConfig({ ...env, ROECNY_CA_FILE: certs.caFile }).upstreamCa?.trim(), ca.trim())
    const trusted = await runMain(['check'], { ...env, ROECNY_CA_FILE: certs.caFile })
    t.equal(trusted.code, EXIT_OK, trusted.stderr)
    t.equal(mock.logins.length, 1)
    const untrusted = await runMain(['check'], env)
    t.equal(untrusted.code, EXIT_FAILURE)
    t.match(untrusted.stderr, /login failed \(error\): login request failed: UNABLE_TO_VERIFY_LEAF_SIGNATURE/)
    t.equal(mock.logins.length, 1, 'without the CA the API key is not sent')
  })
})

test('redirects are never followed: the login fails, the other server sees nothing', async (t) => {
  const elsewhere = await startMock(t)
  const stack = await startStack(t, { clock: new ManualClock(), ready: false })
  stack.mock.loginQueue.push({ status: 307, headers: { location: `${elsewhere.url}${LOGIN_PATH}` } })
  t.equal(await stack.proxy.tokens.acquire(), undefined, 'a redirect is a failed login')
  t.equal(stack.mock.logins.length, 1)
  t.equal(elsewhere.logins.length + elsewhere.requests.length, 0, 'the credentials went nowhere else')
})

test('redirects are passed through to the client, not followed', async (t) => {
  const stack = await startStack(t)
  const response = await send(stack.url, { target: '/api/v1/test/status/302' })
  t.equal(response.status, 302)
  t.equal(response.headers.location, '/api/v1/balances/current')
  t.same(stack.mock.requests.map((r) => r.url), ['/api/v1/test/status/302'])
})
