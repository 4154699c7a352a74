// Slow and idle clients are bounded on every listener: header and request deadlines, keep-alive, header size, connection count.
import type { IncomingMessage, Server } from 'node:http'
import t from 'tap'
import { get } from './helpers/http.js'
import { parseRaw } from './helpers/raw.js'
import { openRaw, within } from './helpers/raw-client.js'
import type { RawConnection } from './helpers/raw-client.js'
import { startStack } from './helpers/stack.js'
import type { Stack } from './helpers/stack.js'
import { until } from './helpers/until.js'

const HOST = 'Host: localhost\r\n'
const ADMIN = { adminHost: '127.0.0.1', adminPort: 0 }

/** The proxy's listener and the admin listener, by name. */
function listeners (stack: Stack): Array<[string, string]> {
  return [['proxy', stack.url], ['admin', stack.proxy.adminUrl as string]]
}

/** Writes `piece` every `everyMs` until the connection closes; returns a function that stops it. */
function trickle (connection: RawConnection, piece: string, everyMs: number): () => void {
  const timer = setInterval(() => { if (!connection.socket.destroyed) connection.socket.write(piece) }, everyMs)
  connection.socket.once('close', () => clearInterval(timer))
  return () => clearInterval(timer)
}

async function connectionsOf (server: Server): Promise<number> {
  return await new Promise((resolve, reject) => server.getConnections((err, count) => err === null ? resolve(count) : reject(err)))
}

/** Waits on I/O until `server` holds `count` connections. */
async function untilConnections (server: Server, count: number): Promise<void> {
  await until(async () => await connectionsOf(server) === count, `${count} connections`)
}

t.test('a client that trickles its headers gets 408 and is cut off after PROXY_HEADERS_TIMEOUT_MS', async (t) => {
  const stack = await startStack(t, { config: { headersTimeoutMs: 200, ...ADMIN } })
  for (const [name, url] of listeners(stack)) {
    const connection = await openRaw(url)
    const started = performance.now()
    connection.socket.write('GET /api/v1/echo/slow HTTP/1.1\r\n')
    // A header line every 50 ms: the connection is never idle, only slow.
    trickle(connection, 'X-Slow: 1\r\n', 50)
    const answer = await within(connection.closed, `${name}: the proxy cutting the connection`)
    t.match(answer, /^HTTP\/1\.1 408 Request Timeout\r\n/, `${name}: 408`)
    t.ok(performance.now() - started >= 190, `${name}: not before the deadline`)
  }
  t.equal(stack.mock.requests.length, 0, 'nothing was forwarded')
  t.equal((await get(`${stack.url}/api/v1/balances/current`)).status, 200, 'still serving')
})

t.test('a connection that never sends a byte is closed after the header timeout', async (t) => {
  const stack = await startStack(t, { config: { headersTimeoutMs: 200, ...ADMIN } })
  for (const [name, url] of listeners(stack)) {
    const connection = await openRaw(url)
    t.match(await within(connection.closed, `${name}: the proxy closing an idle connection`), /^HTTP\/1\.1 408 /, name)
  }
})

t.test('a body may take longer than the header timeout: only the request deadline bounds it', async (t) => {
  const stack = await startStack(t, { config: { headersTimeoutMs: 200, requestTimeoutMs: 60_000 } })
  const connection = await openRaw(stack.url)
  connection.socket.write(`POST /api/v1/echo/upload HTTP/1.1\r\n${HOST}Content-Length: 12\r\nConnection: close\r\n\r\n`)
  // One byte every 50 ms: the body takes about 600 ms, three header timeouts.
  const stop = trickle(connection, 'x', 50)
  await connection.waitFor((received) => received.includes('\r\n\r\n'), 'the answer', 10_000)
  stop()
  const response = parseRaw(await connection.closed)
  t.equal(response.status, 200)
  t.equal((JSON.parse(response.body) as { bodyBytes: number }).bodyBytes, 12, 'the whole body went through')
})

t.test('PROXY_REQUEST_TIMEOUT_MS: an upload not complete in time gets 408, and its upstream request is cancelled', async (t) => {
  const stack = await startStack(t, { config: { headersTimeoutMs: 100, requestTimeoutMs: 300 } })
  const upstreamGone = new Promise<boolean>((resolve) => stack.mock.server.once('request', (req: IncomingMessage) => req.once('close', () => resolve(req.complete))))
  const connection = await openRaw(stack.url)
  const started = performance.now()
  connection.socket.write(`POST /api/v1/echo/upload HTTP/1.1\r\n${HOST}Content-Length: 100\r\n\r\n0123456789`)
  // The client stalls half-way: the upstream request, body half-sent, would wait for it without end.
  t.match(await within(connection.closed, 'the proxy cutting the request'), /^HTTP\/1\.1 408 Request Timeout\r\n/)
  t.ok(performance.now() - started >= 290, 'not before the deadline')
  t.equal(await within(upstreamGone, 'the upstream request ending'), false, 'the upstream request was cancelled, its body incomplete')
  t.equal((await get(`${stack.url}/api/v1/balances/current`)).status, 200, 'still serving')
})

t.test('the request deadline never cuts a response: a download may outlast it', async (t) => {
  const stack = await startStack(t, { config: { headersTimeoutMs: 100, requestTimeoutMs: 200 } })
  const size = 4 * 1024 * 1024
  const connection = await openRaw(stack.url)
  connection.socket.write(`GET /api/v1/test/bytes/${size} HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`)
  await connection.waitFor((received) => received.includes('\r\n\r\n'), 'the head')
  // A client reading slowly: the answer takes well past the deadline.
  connection.socket.pause()
  await new Promise((resolve) => setTimeout(resolve, 600))
  connection.socket.resume()
  const response = parseRaw(await within(connection.closed, 'the whole download'))
  t.equal(response.status, 200)
  t.equal(response.body.length, size, 'every byte arrived')
})

t.test('a kept-alive connection idle for PROXY_KEEP_ALIVE_TIMEOUT_MS is closed', async (t) => {
  const stack = await startStack(t, { config: { keepAliveTimeoutMs: 200, ...ADMIN } })
  for (const [name, url] of listeners(stack)) {
    const connection = await openRaw(url)
    connection.socket.write(`GET /-/healthz HTTP/1.1\r\n${HOST}\r\n`)
    await connection.waitFor((received) => received.endsWith('{"status":"ok"}'), `${name}: the answer`)
    const idle = performance.now()
    const answer = await within(connection.closed, `${name}: the proxy closing the idle connection`)
    t.equal(parseRaw(answer).status, 200, `${name}: one answer, then the close`)
    t.ok(performance.now() - idle >= 150, `${name}: not before the keep-alive timeout`)
  }
})

t.test('request headers up to 16 KiB are read; more get 431', async (t) => {
  const stack = await startStack(t, { config: ADMIN })
  for (const [name, url] of listeners(stack)) {
    for (const [size, status] of [[15 * 1024, 200], [17 * 1024, 431]]) {
      const connection = await openRaw(url)
      connection.socket.write(`GET /-/healthz HTTP/1.1\r\n${HOST}X-Padding: ${'p'.repeat(size as number)}\r\nConnection: close\r\n\r\n`)
      t.equal(parseRaw(await connection.closed).status, status, `${name}: ${size as number} bytes of headers`)
    }
  }
})

t.test('PROXY_MAX_CONNECTIONS: a connection past the cap is closed at once; the others are served', async (t) => {
  const stack = await startStack(t, { config: { maxConnections: 5 } })
  const server = stack.proxy.app.server
  const idle: RawConnection[] = []
  for (let i = 0; i < 5; i++) idle.push(await openRaw(stack.url))
  t.teardown(() => { for (const connection of idle) connection.socket.destroy() })
  await untilConnections(server, 5)
  const refused = await openRaw(stack.url)
  refused.socket.write(`GET /-/healthz HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`)
  t.equal(await within(refused.closed, 'the sixth connection closing'), '', 'the sixth connection is closed without an answer')
  const first = idle[0] as RawConnection
  first.socket.write(`GET /api/v1/balances/current HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`)
  t.equal(parseRaw(await first.closed).status, 200, 'a connection inside the cap is served')
  await untilConnections(server, 4)
  t.equal((await get(`${stack.url}/api/v1/balances/current`)).status, 200, 'a new connection is served once there is room')
})

t.test('1,000 idle connections do not stop new requests being served', async (t) => {
  const stack = await startStack(t, { config: ADMIN })
  const idle: RawConnection[] = []
  t.teardown(() => { for (const connection of idle) connection.socket.destroy() })
  for (let batch = 0; batch < 10; batch++) {
    idle.push(...await Promise.all(Array.from({ length: 100 }, () => openRaw(stack.url))))
  }
  await untilConnections(stack.proxy.app.server, 1000)
  t.equal((await get(`${stack.url}/-/healthz`)).status, 200, 'the proxy\'s own routes answer')
  t.equal((await get(`${stack.url}/api/v1/balances/current`)).status, 200, 'requests are forwarded')
  t.equal((await get(`${stack.proxy.adminUrl as string}/-/readyz`)).status, 200, 'the probes answer')
  t.equal(idle.filter((connection) => connection.socket.destroyed).length, 0, 'the idle connections are still open (the header timeout is 10 s)')
})
