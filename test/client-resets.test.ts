// A client that resets, half-closes or cuts its request short ends its own connection only: after every kind of refused request, CONNECT and Upgrade, on every listener.
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import t from 'tap'
import type { Test } from 'tap'
import { parseRaw } from './helpers/raw.js'
import { hasHead, openRaw, within } from './helpers/raw-client.js'
import { startStack } from './helpers/stack.js'
import type { Stack } from './helpers/stack.js'
import { until } from './helpers/until.js'
import { readResponses } from './helpers/http-framing.js'

const LIMIT = 1024
const HOST = 'Host: localhost\r\n'

interface Refused {
  what: string
  raw: string
  status: number
}

/** Every way a request is refused: by Node's parser (the clientError path), then by the guards. */
const REFUSED: Refused[] = [
  { what: 'a \\xff byte in the target', raw: `GET /api/v1/echo/\xff HTTP/1.1\r\n${HOST}\r\n`, status: 400 },
  { what: 'a CR in the target', raw: `GET /api/v1/echo/a\rb HTTP/1.1\r\n${HOST}\r\n`, status: 400 },
  { what: 'a method Node does not know', raw: `BREW /api/v1/echo/a HTTP/1.1\r\n${HOST}\r\n`, status: 400 },
  { what: 'a request line without a version', raw: `GET /api/v1/echo/a\r\n${HOST}\r\n`, status: 400 },
  { what: 'an HTTP/2 preface', raw: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', status: 400 },
  { what: 'a header without a colon', raw: `GET /api/v1/echo/a HTTP/1.1\r\n${HOST}X-Broken\r\n\r\n`, status: 400 },
  { what: 'a NUL in a header value', raw: `GET /api/v1/echo/a HTTP/1.1\r\n${HOST}X-A: a\x00b\r\n\r\n`, status: 400 },
  { what: 'headers over 16 KiB', raw: `GET /api/v1/echo/a HTTP/1.1\r\n${HOST}X-Padding: ${'p'.repeat(20_000)}\r\n\r\n`, status: 431 },
  { what: 'Content-Length and Transfer-Encoding together', raw: `POST /api/v1/echo/a HTTP/1.1\r\n${HOST}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, status: 400 },
  { what: 'two different Content-Lengths', raw: `POST /api/v1/echo/a HTTP/1.1\r\n${HOST}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`, status: 400 },
  { what: 'a chunk size that is not hexadecimal', raw: `POST /api/v1/echo/a HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`, status: 400 },
  { what: 'a dot-dot segment', raw: `GET /api/v1/echo/%2e%2e/admin HTTP/1.1\r\n${HOST}\r\n`, status: 400 },
  { what: 'an absolute-form target', raw: `GET http://evil.example/api/v1/echo/a HTTP/1.1\r\n${HOST}\r\n`, status: 400 },
  { what: 'a Host the proxy does not serve', raw: 'GET /api/v1/echo/a HTTP/1.1\r\nHost: evil.example\r\n\r\n', status: 403 },
  { what: 'a cross-site Origin', raw: `GET /api/v1/echo/a HTTP/1.1\r\n${HOST}Origin: https://evil.example\r\n\r\n`, status: 403 },
  { what: 'TRACE', raw: `TRACE /api/v1/echo/a HTTP/1.1\r\n${HOST}\r\n`, status: 405 },
  { what: 'a login through the proxy', raw: `POST /api/v1/authentication/login HTTP/1.1\r\n${HOST}Content-Length: 0\r\n\r\n`, status: 403 },
  { what: 'an unknown own route', raw: `GET /-/nothing HTTP/1.1\r\n${HOST}\r\n`, status: 404 },
  { what: 'a body over PROXY_MAX_BODY_BYTES', raw: `POST /api/v1/echo/a HTTP/1.1\r\n${HOST}Content-Length: ${LIMIT + 1}\r\n\r\n${'x'.repeat(LIMIT + 1)}`, status: 413 }
]

const CONNECT = 'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n'

let stack: Stack
t.before(async () => {
  stack = await startStack(t, { config: { maxBodyBytes: LIMIT, adminHost: '127.0.0.1', adminPort: 0 }, mock: { faultRoutes: true } })
})

/** The process still answers, on its own routes and through to Roecny, on new connections (not half-closed: Node aborts a request then). */
async function stillServing (t: Test, url = stack.url): Promise<void> {
  const health = await openRaw(url)
  health.socket.write(`GET /-/healthz HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`)
  t.equal(parseRaw(await health.closed).status, 200, 'the process still answers')
  if (url !== stack.url) return
  const forwarded = await openRaw(url)
  forwarded.socket.write(`GET /api/v1/balances/current HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`)
  t.equal(parseRaw(await forwarded.closed).status, 200, 'and still forwards')
}

/** The four endings of a hostile client, each on a fresh connection, each followed by a check that the process serves. */
async function everyEnding (t: Test, raw: string, expect: (answer: string, ending: string) => void, url = stack.url): Promise<void> {
  const resetAtOnce = await openRaw(url)
  resetAtOnce.socket.write(raw, 'latin1')
  resetAtOnce.reset()
  await resetAtOnce.closed
  await stillServing(t, url)

  const resetAfterAnswer = await openRaw(url)
  resetAfterAnswer.socket.write(raw, 'latin1')
  expect(await resetAfterAnswer.waitFor(hasHead, 'the answer'), 'reset after the answer')
  resetAfterAnswer.reset()
  await resetAfterAnswer.closed
  await stillServing(t, url)

  const halfClosed = await openRaw(url)
  halfClosed.socket.end(raw, 'latin1')
  expect(await halfClosed.closed, 'half-closed')
  await stillServing(t, url)

  const cut = await openRaw(url)
  cut.socket.write(raw.slice(0, Math.ceil(raw.length / 2)), 'latin1')
  await new Promise((resolve) => setImmediate(resolve))
  cut.reset()
  await cut.closed
  await stillServing(t, url)
}

for (const refused of REFUSED) {
  t.test(`${refused.what}, then a reset, a half-close or a cut: that connection only ends`, async (t) => {
    await everyEnding(t, refused.raw, (answer, ending) => t.equal(parseRaw(answer).status, refused.status, `${ending}: ${refused.status}`))
  })
}

t.test('the reproduction: CONNECT, then a TCP reset', async (t) => {
  const connection = await openRaw(stack.url)
  connection.socket.write(CONNECT)
  connection.reset()
  await connection.closed
  await stillServing(t)
})

t.test('CONNECT, its 400, then a reset, a half-close or a cut: that connection only ends', async (t) => {
  await everyEnding(t, CONNECT, (answer, ending) => {
    const response = parseRaw(answer)
    t.equal(response.status, 400, `${ending}: 400`)
    t.equal(response.headers['x-roecny-proxy-error'], 'PROXY_BAD_REQUEST')
  })
  t.equal(stack.mock.requests.filter((r) => r.url.includes('evil')).length, 0, 'no tunnel, nothing forwarded')
})

t.test('CONNECT with a tunnel\'s first bytes: they are read and dropped, the connection closes', async (t) => {
  const connection = await openRaw(stack.url)
  connection.socket.write(`${CONNECT}\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03`, 'latin1')
  await connection.waitFor(hasHead, 'the 400')
  connection.socket.write(`GET /api/v1/echo/smuggled HTTP/1.1\r\n${HOST}\r\n`)
  connection.socket.end()
  t.equal(parseRaw(await connection.closed).status, 400)
  t.notOk(stack.mock.requests.some((r) => r.url.includes('smuggled')), 'what followed CONNECT was never parsed')
})

t.test('CONNECT after a request still waiting for its answer: cut, no 400 passed off as that answer', async (t) => {
  const before = stack.mock.held.length
  const connection = await openRaw(stack.url)
  connection.socket.write(`GET /api/v1/test/held HTTP/1.1\r\n${HOST}\r\n`)
  await until(() => stack.mock.held.length > before, 'the held request to reach the mock')
  connection.socket.write(CONNECT)
  t.equal(await connection.closed, '', 'the connection is closed without a word')
  stack.mock.releaseHeld()
  await stillServing(t)
})

t.test('a parse error while an answer is streaming cuts the answer, and writes nothing into it', async (t) => {
  const connection = await openRaw(stack.url)
  connection.socket.write(`GET /api/v1/test/fault/partial-then-hold HTTP/1.1\r\n${HOST}\r\n`)
  const head = await connection.waitFor((received) => received.endsWith('x'.repeat(100)), 'the first 100 bytes')
  connection.socket.write(`GET /\xff HTTP/1.1\r\n${HOST}\r\n`, 'latin1')
  const answer = await connection.closed
  t.equal(answer, head, 'nothing more arrived: no 400 inside the body')
  t.equal(parseRaw(answer).headers['content-length'], '1000', 'the cut answer says it is incomplete')
  await stillServing(t)
})

/** Refused before their body arrived, then the body goes wrong: one answer, and the connection closes after it. */
const REFUSED_BEFORE_BODY = [
  { what: 'a HEAD with a body that never comes, half-closed', method: 'HEAD', head: 'Host: evil.example\r\nContent-Length: 10\r\n', rest: undefined, status: 403 },
  { what: 'a chunked POST whose next chunk is malformed', method: 'POST', head: 'Host: evil.example\r\nTransfer-Encoding: chunked\r\n', rest: 'zz\r\nhello\r\n0\r\n\r\n', status: 403 },
  { what: 'a login whose body stops short, half-closed', method: 'POST', head: `${HOST}Content-Length: 100\r\n`, rest: '{"clientId":', status: 403 }
]

for (const c of REFUSED_BEFORE_BODY) {
  t.test(`refused before its body arrived (${c.what}): one answer, then the connection closes`, async (t) => {
    const connection = await openRaw(stack.url)
    connection.socket.write(`${c.method} /api/v1/authentication/login HTTP/1.1\r\n${c.head}\r\n`)
    const head = await connection.waitFor(hasHead, 'the refusal')
    t.equal(parseRaw(head).status, c.status)
    t.equal(parseRaw(head).headers.connection, 'close', 'the refusal says the connection closes')
    if (c.rest !== undefined) connection.socket.write(c.rest)
    connection.socket.end()
    const read = readResponses(Buffer.from(await connection.closed, 'latin1'), [c.method], true)
    t.equal(read.malformed, undefined)
    t.equal(read.responses.length, 1, 'no second answer the client would take for the next request\'s')
  })
}

t.test('a refused request without a body keeps its connection: the next request on it is served', async (t) => {
  const connection = await openRaw(stack.url)
  connection.socket.write('GET /api/v1/balances/current HTTP/1.1\r\nHost: evil.example\r\n\r\n')
  const first = await connection.waitFor(hasHead, 'the refusal')
  t.equal(parseRaw(first).status, 403)
  t.not(parseRaw(first).headers.connection, 'close')
  connection.socket.write(`GET /api/v1/balances/current HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`)
  const read = readResponses(Buffer.from(await connection.closed, 'latin1'), ['GET', 'GET'], true)
  t.same(read.responses.map((response) => response.status), [403, 200])
})

t.test('an Upgrade request is served as a plain request; a reset after it ends that connection only', async (t) => {
  // Without an 'upgrade' listener Node hands no socket over: the request runs through the guards and is forwarded.
  t.equal(stack.proxy.app.server.listenerCount('upgrade'), 0)
  const upgrade = `GET /api/v1/echo/ws HTTP/1.1\r\n${HOST}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`
  await everyEnding(t, upgrade, (answer, ending) => {
    const response = parseRaw(answer)
    // Node aborts a forwarded request whose client half-closes: no answer is one of the allowed endings.
    if (ending === 'half-closed' && answer === '') return
    t.equal(response.status, 200, `${ending}: answered as a plain request`)
    t.notOk('upgrade' in (JSON.parse(response.body) as { headers: object }).headers, `${ending}: Upgrade not forwarded`)
  })
})

t.test('the admin listener: refused requests and CONNECT, then resets', async (t) => {
  const admin = stack.proxy.adminUrl as string
  await everyEnding(t, CONNECT, (answer, ending) => t.equal(parseRaw(answer).status, 400, `CONNECT, ${ending}`), admin)
  await everyEnding(t, `GET /-/\xff HTTP/1.1\r\n${HOST}\r\n`, (answer, ending) => t.equal(parseRaw(answer).headers['x-roecny-proxy-error'], 'PROXY_BAD_REQUEST', `\\xff, ${ending}`), admin)
  await everyEnding(t, `GET /-/healthz HTTP/1.1\r\n${HOST}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n`, (answer, ending) => t.equal(parseRaw(answer).status, 200, `Upgrade, ${ending}`), admin)
  await stillServing(t)
})

t.test('the Unix socket listener: CONNECT, then a close with its answer unread (a reset on a Unix socket)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rap-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const unix = await startStack(t, { config: { proxySocket: join(dir, 'proxy.sock'), headersTimeoutMs: 60_000 } })
  const server = unix.proxy.app.server
  // A paused client reads nothing, so the answer stays in its queue: closing then resets the proxy's end.
  async function closeUnread (raw: string, answered: () => Promise<unknown>): Promise<void> {
    const connection = await openRaw(unix.url, { paused: true })
    const done = answered()
    connection.socket.write(raw, 'latin1')
    await done
    connection.socket.destroy()
    await connection.closed
  }
  // The CONNECT handler writes its 400 before it returns.
  await closeUnread(CONNECT, () => once(server, 'connect'))
  await closeUnread(`GET /\xff HTTP/1.1\r\n${HOST}\r\n`, () => once(server, 'clientError'))
  await closeUnread(`GET /api/v1/echo/a HTTP/1.1\r\n${HOST}\r\n`, async () => {
    const [, response] = await once(server, 'request') as [unknown, NodeJS.EventEmitter]
    await once(response, 'finish')
  })
  await stillServing(t, unix.url)
})

t.test('a CONNECT client that never closes its side is closed after the header timeout, and does not hold up a shutdown', async (t) => {
  const short = await startStack(t, { config: { headersTimeoutMs: 200 } })
  const server = short.proxy.app.server
  const holder = await openRaw(short.url, { holdOpen: true })
  t.teardown(() => holder.socket.destroy())
  const handedOver = once(server, 'connect')
  holder.socket.write(CONNECT)
  const [, proxyEnd] = await handedOver as [unknown, Duplex]
  t.equal(parseRaw(await holder.waitFor(hasHead, 'the 400')).status, 400)
  t.equal(holder.socket.writableEnded, false, 'the client keeps its side open')
  await within(once(proxyEnd, 'close'), 'the proxy closing its end')
  t.equal(proxyEnd.destroyed, true, 'the proxy closed its end although the client kept its side open')

  const second = await openRaw(short.url, { holdOpen: true })
  t.teardown(() => second.socket.destroy())
  second.socket.write(CONNECT)
  await second.waitFor(hasHead, 'the 400')
  // SHUTDOWN_TIMEOUT_MS is 25 s: a shutdown waiting for this connection would outlast the deadline.
  await within(short.proxy.shutdown(), 'the shutdown')
  t.equal(server.listening, false, 'the shutdown did not wait for the client')
})
