// PROXY_MAX_BODY_BYTES: a declared length over the limit is refused up front; a chunked body is counted and cut off.
import type { IncomingMessage } from 'node:http'
import { test } from 'tap'
import { expectProxyError, send, upstreamView } from './helpers/raw.js'
import { startStack } from './helpers/stack.js'
import { until } from './helpers/until.js'

const LIMIT = 1024

function chunked (...sizes: number[]): string {
  return sizes.map((size) => `${size.toString(16)}\r\n${'x'.repeat(size)}\r\n`).join('') + '0\r\n\r\n'
}

/** Upstream requests as the mock's server saw them end: `true` when the body arrived in full. */
function upstreamEnds (server: import('node:http').Server): boolean[] {
  const ends: boolean[] = []
  server.on('request', (req: IncomingMessage) => {
    req.once('close', () => ends.push(req.complete))
  })
  return ends
}

test('a Content-Length over the limit gets 413 before a byte is read or forwarded', async (t) => {
  const stack = await startStack(t, { config: { maxBodyBytes: LIMIT } })
  const view = upstreamView(stack.mock)
  for (const method of ['POST', 'PUT', 'PATCH', 'GET']) {
    const response = await send(stack.url, { method, target: '/api/v1/echo/upload', body: 'x'.repeat(LIMIT + 1) })
    expectProxyError(t, response, 413, 'PROXY_BODY_TOO_LARGE', `${method} ${LIMIT + 1} bytes`)
    t.equal(response.headers.connection, 'close', 'the connection closes: the rest of the body is never read')
  }
  // Only the head is sent: the answer comes without the client ever sending its 10 MB.
  const headOnly = await send(stack.url, 'POST /api/v1/echo/upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10000000\r\nContent-Type: application/octet-stream\r\n\r\n')
  expectProxyError(t, headOnly, 413, 'PROXY_BODY_TOO_LARGE', 'a declared 10 MB body that is never sent')
  view.untouched(t, 'declared bodies over the limit')
  t.equal((await send(stack.url, { target: '/api/v1/balances/current' })).status, 200, 'still serving')
})

test('a body at the limit goes through, whole', async (t) => {
  const stack = await startStack(t, { config: { maxBodyBytes: LIMIT } })
  const declared = await send(stack.url, { method: 'POST', target: '/api/v1/echo/upload', body: 'x'.repeat(LIMIT) })
  t.equal(declared.status, 200)
  t.equal((JSON.parse(declared.body) as { bodyBytes: number }).bodyBytes, LIMIT)
  const streamed = await send(stack.url, { method: 'POST', target: '/api/v1/echo/upload', headers: { 'Transfer-Encoding': 'chunked' }, body: chunked(500, 500, 24) })
  t.equal(streamed.status, 200)
  t.equal((JSON.parse(streamed.body) as { bodyBytes: number }).bodyBytes, LIMIT)
  t.same(stack.mock.requests.map((r) => r.complete), [true, true])
})

test('a chunked body over the limit gets 413 and its upstream request is aborted', async (t) => {
  const stack = await startStack(t, { config: { maxBodyBytes: LIMIT } })
  const ends = upstreamEnds(stack.mock.server)
  for (const sizes of [[LIMIT + 1], [1000, 1000], [512, 512, 1]]) {
    const before = ends.length
    const response = await send(stack.url, { method: 'POST', target: '/api/v1/echo/upload', headers: { 'Transfer-Encoding': 'chunked' }, body: chunked(...sizes) })
    expectProxyError(t, response, 413, 'PROXY_BODY_TOO_LARGE', `chunks of ${sizes.join(', ')}`)
    t.equal(response.headers.connection, 'close')
    // Streaming means the upstream may have seen the head and the first bytes; it never gets the whole body.
    await until(() => ends.length === stack.mock.requests.length, 'every upstream request to end')
    t.same(ends.slice(before), ends.slice(before).map(() => false), 'every upstream request was cut off')
  }
  t.notOk(stack.mock.requests.some((r) => r.complete), 'no over-limit body reached the upstream whole')
  t.equal((await send(stack.url, { target: '/api/v1/balances/current' })).status, 200, 'still serving')
})

test('own routes drain what they are sent, limit or not', async (t) => {
  const stack = await startStack(t, { config: { maxBodyBytes: LIMIT } })
  const response = await send(stack.url, { method: 'POST', target: '/-/healthz', headers: { 'Transfer-Encoding': 'chunked' }, body: chunked(2000) })
  expectProxyError(t, response, 405, 'PROXY_METHOD_NOT_ALLOWED', 'POST to a probe')
})

test('without PROXY_MAX_BODY_BYTES there is no limit', async (t) => {
  const stack = await startStack(t)
  const response = await send(stack.url, { method: 'POST', target: '/api/v1/echo/upload', headers: { 'Transfer-Encoding': 'chunked' }, body: chunked(65536, 65536) })
  t.equal(response.status, 200)
  t.equal((JSON.parse(response.body) as { bodyBytes: number }).bodyBytes, 131072)
})

test('a client that goes away mid-body: the upstream request is aborted, the proxy serves on', async (t) => {
  const stack = await startStack(t, { config: { maxBodyBytes: 1024 * 1024 } })
  const ends = upstreamEnds(stack.mock.server)
  const { connect } = await import('node:net')
  const socket = connect({ host: '127.0.0.1', port: Number(new URL(stack.url).port) })
  socket.on('error', () => {})
  socket.write('POST /api/v1/echo/upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n' + 'x'.repeat(256) + '\r\n')
  await until(() => stack.mock.requests.length === 1, 'the upload to reach the mock')
  socket.destroy()
  await until(() => ends.length === 1, 'the upstream request to end')
  t.same(ends, [false], 'the upstream request was cut off, not completed')
  t.equal((await send(stack.url, { target: '/api/v1/balances/current' })).status, 200, 'still serving')
})
