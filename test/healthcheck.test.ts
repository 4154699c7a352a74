// The container HEALTHCHECK script: where it probes, and its exit status against live, failing and absent listeners.
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { healthTarget, probe } from '../src/healthcheck.js'
import { runScript, source } from './helpers/cli.js'
import { startStack } from './helpers/stack.js'

async function listen (server: Server, where: number | string): Promise<void> {
  await new Promise<void>((resolve) => typeof where === 'string' ? server.listen(where, resolve) : server.listen(where, '127.0.0.1', resolve))
}

/** A port nothing listens on (it was free a moment ago). */
async function deadPort (): Promise<number> {
  const server = createServer()
  await listen(server, 0)
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

t.test('the target: the admin listener first, then the Unix socket, then the proxy listener', async (t) => {
  t.same(healthTarget({}), { host: '127.0.0.1', port: 8080, path: '/-/healthz' }, 'the defaults')
  t.same(healthTarget({ PROXY_HOST: '10.1.2.3', PROXY_PORT: '9000' }), { host: '10.1.2.3', port: 9000, path: '/-/healthz' })
  t.same(healthTarget({ PROXY_HOST: '0.0.0.0', PROXY_PORT: ' ' }), { host: '127.0.0.1', port: 8080, path: '/-/healthz' }, 'a wildcard is probed on loopback')
  t.same(healthTarget({ PROXY_HOST: '::' }), { host: '::1', port: 8080, path: '/-/healthz' })
  t.same(healthTarget({ PROXY_SOCKET: ' /run/proxy.sock ', PROXY_PORT: '9000' }), { socketPath: '/run/proxy.sock', path: '/-/healthz' })
  t.same(healthTarget({ ADMIN_PORT: '9090', PROXY_SOCKET: '/run/proxy.sock' }), { host: '127.0.0.1', port: 9090, path: '/-/healthz' })
  t.same(healthTarget({ ADMIN_PORT: '9090', ADMIN_HOST: '::' }), { host: '::1', port: 9090, path: '/-/healthz' })
  t.same(healthTarget({ ADMIN_PORT: '9090', ADMIN_HOST: 'localhost', PROXY_HOST: '10.0.0.1' }), { host: 'localhost', port: 9090, path: '/-/healthz' })
})

t.test('probe: true only for a 200 within the timeout', async (t) => {
  const stack = await startStack(t, { config: { adminHost: '127.0.0.1', adminPort: 0 } })
  const admin = new URL(stack.proxy.adminUrl as string)
  t.equal(await probe({ host: admin.hostname, port: Number(admin.port), path: '/-/healthz' }, 2000), true)
  t.equal(await probe({ host: '127.0.0.1', port: await deadPort(), path: '/-/healthz' }, 2000), false, 'nothing listening')
  t.equal(await probe({ host: admin.hostname, port: Number(admin.port), path: '/-/status' }, 2000), false, 'a 404 is not healthy')

  const silent = createServer(() => {})
  await listen(silent, 0)
  t.teardown(() => { silent.closeAllConnections(); silent.close() })
  t.equal(await probe({ host: '127.0.0.1', port: (silent.address() as AddressInfo).port, path: '/-/healthz' }, 50), false, 'no answer in time')
})

t.test('probe over a Unix socket', async (t) => {
  const socketPath = join(t.testdir(), 'proxy.sock')
  const server = createServer((req, res) => { res.writeHead(req.url === '/-/healthz' ? 200 : 404).end() })
  await listen(server, socketPath)
  t.teardown(() => server.close())
  t.equal(await probe(healthTarget({ PROXY_SOCKET: socketPath }), 2000), true)
})

t.test('run as a script: exit 0 while the proxy serves, 1 when it does not', async (t) => {
  const stack = await startStack(t, { config: { adminHost: '127.0.0.1', adminPort: 0 } })
  // The TypeScript source, so the script's own lines count for coverage.
  const script = source('healthcheck')
  const proxyPort = new URL(stack.url).port
  t.equal((await runScript(t, script, [], { PROXY_PORT: proxyPort })).code, 0, 'the proxy listener')
  t.equal((await runScript(t, script, [], { ADMIN_PORT: new URL(stack.proxy.adminUrl as string).port, PROXY_PORT: '1' })).code, 0, 'the admin listener')
  t.equal((await runScript(t, script, [], { PROXY_PORT: String(await deadPort()) })).code, 1, 'nothing listening')
})
