// PROXY_SOCKET: a Unix socket listener with its own file mode; stale files are replaced, live ones and other files are not.
import { spawn } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'tap'
import type { Test } from 'tap'
import Fastify from 'fastify'
import { startProxy } from '../src/server.js'
import { listenOnSocket } from '../src/unix-socket.js'
import { testConfig } from './helpers/config.js'
import { expectProxyError, send, upstreamView } from './helpers/raw.js'
import { captureLogs, startMock, startStack } from './helpers/stack.js'
import { createLogger } from '../src/log.js'

/** A socket address holds about 107 bytes: tap's fixture directories are too deep, so a short temp dir instead. */
function socketDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'rap-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

test('serves on the socket with mode 0660, any Host, and removes the file on shutdown', async (t) => {
  const path = join(socketDir(t), 'proxy.sock')
  const stack = await startStack(t, { config: { proxySocket: path } })
  t.equal(stack.url, `unix:${path}`)
  t.ok(lstatSync(path).isSocket())
  t.equal(statSync(path).mode & 0o777, 0o660, 'default mode 0660')
  // Clients on a socket send whatever Host they like (requests-unixsocket sends the escaped path): no rebinding there.
  for (const host of ['localhost', '%2Frun%2Froecny%2Fproxy.sock', 'docker']) {
    const response = await send(stack.url, { target: '/api/v1/balances/current', host })
    t.equal(response.status, 200, `Host: ${host}`)
  }
  t.equal(stack.mock.requests.length, 3)
  // The other guards still hold on a socket.
  const view = upstreamView(stack.mock)
  expectProxyError(t, await send(stack.url, { target: '/api/v1/echo/%2e%2e/x' }), 400, 'PROXY_BAD_REQUEST', 'bad target over the socket')
  expectProxyError(t, await send(stack.url, { target: '/api/v1/echo/x', headers: { Origin: 'https://evil.example' } }), 403, 'PROXY_FORBIDDEN_ORIGIN', 'cross-site over the socket')
  view.untouched(t, 'refused over the socket')
  await stack.proxy.shutdown()
  t.notOk(existsSync(path), 'the socket file is removed on shutdown')
})

test('PROXY_SOCKET_MODE sets the mode; the access key still applies', async (t) => {
  const path = join(socketDir(t), 'proxy.sock')
  const stack = await startStack(t, { config: { proxySocket: path, proxySocketMode: 0o600, accessKeys: ['socket-access-key-0123456789'] } })
  t.equal(statSync(path).mode & 0o777, 0o600)
  const view = upstreamView(stack.mock)
  expectProxyError(t, await send(stack.url, { target: '/api/v1/balances/current' }), 401, 'PROXY_ACCESS_DENIED', 'no key')
  view.untouched(t, 'no key')
  t.equal((await send(stack.url, { target: '/api/v1/balances/current', headers: { 'x-proxy-key': 'socket-access-key-0123456789' } })).status, 200)
})

test('a stale socket file left by a crashed run is replaced', async (t) => {
  const path = join(socketDir(t), 'proxy.sock')
  // A process that listens on the path and is then killed: exactly what a crash leaves behind.
  const child = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(path)}, () => console.log('listening'))`])
  await once(child.stdout, 'data')
  child.kill('SIGKILL')
  await once(child, 'exit')
  t.ok(lstatSync(path).isSocket(), 'the crashed run left its socket file')
  const stack = await startStack(t, { config: { proxySocket: path } })
  t.equal((await send(stack.url, { target: '/api/v1/balances/current' })).status, 200, 'the proxy serves on the path')
})

async function failedStart (t: Test, path: string): Promise<Error> {
  const mock = await startMock(t)
  const config = testConfig({ baseUrl: mock.url, proxySocket: path })
  const error = await startProxy(config, { logger: createLogger('silent', captureLogs().stream) }).then(() => undefined, (err: unknown) => err as Error)
  t.type(error, Error)
  t.equal(mock.logins.length, 0, 'no login: nothing started')
  return error as Error
}

test('a socket a live server holds is an error, and that server keeps its socket', async (t) => {
  const path = join(socketDir(t), 'proxy.sock')
  const other = createServer((socket) => {
    socket.on('error', () => {}) // the proxy's probe hangs up at once
    socket.end('still here')
  })
  other.listen(path)
  await once(other, 'listening')
  t.teardown(() => { other.close() })
  const error = await failedStart(t, path)
  t.equal(error.message, `PROXY_SOCKET ${path} is in use by a running server`)
  const client = connect({ path })
  const [answer] = await once(client, 'data') as [Buffer]
  t.equal(answer.toString(), 'still here', 'the other server still answers on its socket')
})

test('a path that is not a socket is an error and is left alone', async (t) => {
  const dir = socketDir(t)
  writeFileSync(join(dir, 'not-a-socket'), 'precious data')
  mkdirSync(join(dir, 'folder'))
  const error = await failedStart(t, join(dir, 'not-a-socket'))
  t.equal(error.message, `PROXY_SOCKET ${join(dir, 'not-a-socket')} exists and is not a socket; not replacing it`)
  t.equal(readFileSync(join(dir, 'not-a-socket'), 'utf8'), 'precious data')
  const folder = await failedStart(t, join(dir, 'folder'))
  t.equal(folder.message, `PROXY_SOCKET ${join(dir, 'folder')} exists and is not a socket; not replacing it`)
  const below = await failedStart(t, join(dir, 'not-a-socket', 'proxy.sock'))
  t.equal(below.message, `PROXY_SOCKET ${join(dir, 'not-a-socket', 'proxy.sock')} cannot be checked (ENOTDIR)`)
})

test('a socket that cannot be probed is an error, not a guess', async (t) => {
  // EACCES cannot be provoked as root, so the connection attempt is made to fail that way.
  const { clearStaleSocket } = await t.mockImport<typeof import('../src/unix-socket.js')>('../src/unix-socket.js', {
    'node:net': {
      connect () {
        const socket = new EventEmitter()
        setImmediate(() => socket.emit('error', Object.assign(new Error('permission denied'), { code: 'EACCES' })))
        return socket
      }
    }
  })
  const path = join(socketDir(t), 'proxy.sock')
  const holder = createServer()
  holder.listen(path)
  await once(holder, 'listening')
  t.teardown(() => { holder.close() })
  await t.rejects(clearStaleSocket(path), { message: `PROXY_SOCKET ${path} cannot be checked (EACCES)` })
  t.ok(existsSync(path), 'left in place')
})

test('the process umask is left alone while the socket is made, and nothing is left beside the socket', async (t) => {
  const dir = socketDir(t)
  const path = join(dir, 'proxy.sock')
  const umask = (): string => /^Umask:\s*(\d+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] as string
  const before = umask()
  const app = Fastify()
  t.teardown(() => app.close())
  // What any other work of the process would see while the server starts listening.
  let whileListening: string | undefined
  app.server.once('listening', () => { whileListening = umask() })
  t.equal(await listenOnSocket(app, path, 0o660), `unix:${path}`)
  t.equal(whileListening, before, `umask ${before} while listening`)
  t.equal(umask(), before)
  t.same(readdirSync(dir), ['proxy.sock'])
  t.equal(statSync(path).mode & 0o777, 0o660)
})
