// A new ROECNY_CA_FILE applies to new upstream connections, for forwarding and login alike; a request on a connection
// opened under the old bundle finishes, then that connection is closed. Two throw-away CAs made with openssl.
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import type { Server as TlsServer } from 'node:https'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import { test } from 'tap'
import { Pool } from 'undici'
import { DEMO_API_KEY, DEMO_CLIENT_ID } from '../src/mock/roecny.js'
import { RotatingPool, createUpstreamPool } from '../src/proxy/upstream-pool.js'
import { ManualClock } from './helpers/manual-clock.js'
import { expectProxyError, send } from './helpers/raw.js'
import { watcherOf, writeSecretVolume } from './helpers/secret-volume.js'
import { startStack } from './helpers/stack.js'
import { until } from './helpers/until.js'

const HAS_OPENSSL = spawnSync('openssl', ['version']).status === 0
const NO_OPENSSL = HAS_OPENSSL ? false : 'openssl is not installed: these tests need it to make their certificates'

interface KeyPair { key: string, cert: string }
interface Authority { ca: string, server: KeyPair }

/** A CA named `name` and a certificate for 127.0.0.1 it issued. */
function makeAuthority (dir: string, name: string): Authority {
  function openssl (...args: string[]): void {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
  }
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl('req', '-x509', ...ec, '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`, '-days', '2', '-subj', `/CN=${name}-ca`)
  writeFileSync(join(dir, `${name}.ext`), 'subjectAltName=IP:127.0.0.1\n')
  openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', '/CN=127.0.0.1')
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${name}-ca.pem`, '-CAkey', `${name}-ca.key`, '-set_serial', String(Date.now()),
    '-days', '2', '-out', `${name}.pem`, '-extfile', `${name}.ext`)
  const read = (file: string): string => readFileSync(join(dir, file), 'utf8')
  return { ca: read(`${name}-ca.pem`), server: { key: read(`${name}.key`), cert: read(`${name}.pem`) } }
}

test('CA bundle rotation', { skip: NO_OPENSSL }, async (t) => {
  const dir = t.testdir()
  const first = makeAuthority(dir, 'first')
  const second = makeAuthority(dir, 'second')

  t.test('new connections trust the new bundle; a request under the old one finishes, then its connection closes', async (t) => {
    const volume = join(t.testdir(), 'roecny-ca')
    writeSecretVolume(volume, { 'ca.pem': first.ca })
    const sockets: Socket[] = []
    const stack = await startStack(t, {
      mock: { tls: first.server },
      clock: new ManualClock(),
      env: { ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY: DEMO_API_KEY, ROECNY_CA_FILE: join(volume, 'ca.pem') },
      beforeProxy: (mock) => mock.server.on('secureConnection', (socket: Socket) => sockets.push(socket))
    })
    const server = stack.mock.server as unknown as TlsServer

    // One request on a connection opened under the first bundle, held by the mock until released.
    const client = new Pool(stack.url)
    t.teardown(() => client.close())
    const heldResponse = client.request({ path: '/api/v1/test/held', method: 'GET' })
    await until(() => stack.mock.held.length === 1, 'the held request')
    const oldSockets = sockets.filter((socket) => !socket.destroyed)
    t.ok(oldSockets.length >= 1)

    // The upstream moves to a certificate of the second CA; the bundle file follows.
    server.setSecureContext(second.server)
    writeSecretVolume(volume, { 'ca.pem': second.ca })
    stack.proxy.reloadSecrets()
    t.match(watcherOf(stack.proxy).status(), { ROECNY_CA_FILE: { generation: 2 } })

    t.equal((await send(stack.url, { target: '/api/v1/balances/current' })).status, 200, 'a new connection trusts the second CA')
    stack.mock.revokeAll()
    t.equal((await send(stack.url, { target: '/api/v1/balances/current' })).status, 200, 'the login after a 401 went over the new pool too')
    t.equal(stack.mock.logins.length, 2)

    t.ok(oldSockets.every((socket) => !socket.destroyed), 'the old connection is still open for its request')
    stack.mock.releaseHeld()
    const held = await heldResponse
    t.equal(held.statusCode, 200)
    t.same(await held.body.json(), { released: true }, 'the request under the old bundle finished')
    await until(() => oldSockets.every((socket) => socket.destroyed), 'the old connections to close')
    t.ok(oldSockets.length > 0 && oldSockets.every((socket) => socket.destroyed), 'the old connections are closed once their requests are done')

    // The old bundle is gone for new connections: a certificate of the first CA is refused now.
    server.setSecureContext(first.server)
    server.closeAllConnections()
    expectProxyError(t, await send(stack.url, { target: '/api/v1/balances/current' }), 502, 'PROXY_UPSTREAM_UNREACHABLE', 'the first CA is no longer trusted')
    t.match(stack.logs.records().filter((r) => r.secret !== undefined), [{ secret: 'ROECNY_CA_FILE', generation: 2, msg: 'ROECNY_CA_FILE changed; applied' }])
  })

  t.test('a changed bundle that is no PEM is ignored: the pool in use stays', async (t) => {
    const file = join(t.testdir(), 'ca.pem')
    writeFileSync(file, first.ca)
    const stack = await startStack(t, {
      mock: { tls: first.server },
      clock: new ManualClock(),
      env: { ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY: DEMO_API_KEY, ROECNY_CA_FILE: file }
    })
    writeFileSync(file, 'not a certificate\n')
    stack.proxy.reloadSecrets()
    t.match(watcherOf(stack.proxy).status(), { ROECNY_CA_FILE: { generation: 1, lastIgnored: { problem: 'ROECNY_CA_FILE must hold PEM certificates (-----BEGIN CERTIFICATE-----)' } } })
    stack.mock.server.closeAllConnections()
    t.equal((await send(stack.url, { target: '/api/v1/balances/current' })).status, 200, 'new connections still trust the first CA')
  })
})

test('RotatingPool: the same bundle is no change; close and destroy in their callback forms reach every pool', async (t) => {
  const config = { upstreamOrigin: 'https://127.0.0.1:9', upstreamTimeoutMs: 1000, upstreamCa: undefined }
  const made: string[] = []
  const pool = new RotatingPool('bundle-1', (ca) => {
    made.push(ca)
    return createUpstreamPool(config, undefined)
  })
  t.equal(pool.replaceCa('bundle-1'), false)
  t.equal(pool.replaceCa('bundle-2'), true)
  t.same(made, ['bundle-1', 'bundle-2'])
  await until(() => pool.retiring === 0, 'the idle old pool to close')
  await new Promise<void>((resolve) => pool.close(resolve))
  const other = new RotatingPool('bundle-1', () => createUpstreamPool(config, undefined))
  other.replaceCa('bundle-2')
  await new Promise<void>((resolve) => other.destroy(resolve))
  const third = new RotatingPool('bundle-1', () => createUpstreamPool(config, undefined))
  await new Promise<void>((resolve) => third.destroy(null, resolve))
  await new RotatingPool('bundle-1', () => createUpstreamPool(config, undefined)).destroy()
})
