// Every header undici refuses or treats apart, and every framing a client may legally use: forwarded,
// dropped or answered with a 4xx, never a PROXY_UPSTREAM_* error while Roecny is up.
import { createHash, randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import { chunkedBody, exchange } from './helpers/continue.js'
import { expectProxyError, parseRaw, send, upstreamView } from './helpers/raw.js'
import type { RawResponse } from './helpers/raw.js'
import { startStack } from './helpers/stack.js'
import type { Stack } from './helpers/stack.js'

interface Echo {
  method: string
  headers: Record<string, string | string[]>
  bodyBytes: number
  bodySha256: string
}

let stack: Stack
t.before(async () => {
  stack = await startStack(t, { config: { logLevel: 'silent' } })
})

/** One request on its own connection, written out line by line (`Connection: close` is the caller's to add). */
function raw (lines: string[], body = ''): string {
  return [...lines, '', ''].join('\r\n') + body
}

/** A 200 from the mock's echo route; what the upstream received. */
function echoed (t: Test, response: RawResponse, what: string): Echo {
  t.equal(response.status, 200, `${what}: 200 from the upstream`)
  t.equal(response.headers['x-roecny-proxy-error'], undefined, `${what}: no proxy error`)
  // The echo is JSON in UTF-8; the raw client reads bytes as latin1.
  return JSON.parse(Buffer.from(response.body, 'latin1').toString('utf8')) as Echo
}

/** Sends `head` on a connection kept open, and resolves with the first answer once its body (Content-Length) is in. */
function firstAnswer (head: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: Number(new URL(stack.url).port) })
    let received = ''
    socket.on('error', reject)
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1')
      const end = received.indexOf('\r\n\r\n')
      const length = /\r\ncontent-length: (\d+)\r\n/i.exec(received)
      if (end !== -1 && length !== null && received.length >= end + 4 + Number(length[1])) {
        socket.destroy()
        resolve(parseRaw(received))
      }
    })
    socket.write(head)
  })
}

/** Sends `head` and `body` as bytes, at once, on a fresh connection. */
async function sendBytes (head: string, body: Buffer = Buffer.alloc(0)): Promise<RawResponse> {
  return (await exchange(stack.url, head, body, { waitForContinue: false })).response
}

function sha256 (data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex')
}

t.test('expect', async (t) => {
  // In full in forward-expect-continue.test.ts; here: undici refuses the header, so it must never reach it.
  const body = Buffer.from('{"a":1}')
  const eager = await exchange(stack.url, raw(['POST /api/v1/echo/expect HTTP/1.1', 'Host: localhost', `Content-Length: ${body.length}`, 'Expect: 100-continue', 'Connection: close']), body, { waitForContinue: false })
  t.equal(echoed(t, eager.response, 'HTTP/1.1').headers.expect, undefined, 'HTTP/1.1: not forwarded')
  const old = await send(stack.url, raw(['POST /api/v1/echo/expect HTTP/1.0', 'Host: localhost', 'Content-Length: 7', 'Expect: 100-continue'], '{"a":1}'))
  t.equal(echoed(t, old, 'HTTP/1.0').headers.expect, undefined, 'HTTP/1.0: ignored and not forwarded')
  const other = await send(stack.url, { method: 'POST', target: '/api/v1/echo/expect', headers: { Expect: 'x-custom' }, body: '{}' })
  expectProxyError(t, other, 417, 'PROXY_EXPECTATION_FAILED', 'another expectation')
})

t.test('connection', async (t) => {
  const listed = echoed(t, await send(stack.url, raw([
    'GET /api/v1/echo/connection HTTP/1.1', 'Host: localhost', 'Connection: close,, X-Hop , x-other', 'X-Hop: 1', 'X-Other: 2', 'X-Kept: 3'
  ])), 'names listed')
  t.equal(listed.headers['x-hop'], undefined, 'a name Connection lists is dropped')
  t.equal(listed.headers['x-other'], undefined, 'every name it lists, in any case, with empty list elements')
  t.equal(listed.headers['x-kept'], '3')
  t.not(listed.headers.connection, 'close', 'the client\'s Connection is not forwarded (the pool keeps its connection)')
  // HTTP/1.0 keep-alive, as older clients ask for it: the connection stays open after the answer.
  const old = await firstAnswer(raw(['GET /api/v1/echo/connection HTTP/1.0', 'Host: localhost', 'Connection: keep-alive', 'Keep-Alive: timeout=5']))
  t.equal(echoed(t, old, 'HTTP/1.0 keep-alive').headers['keep-alive'], undefined)
  t.equal(old.headers.connection, 'keep-alive')
})

t.test('keep-alive', async (t) => {
  // undici refuses a keep-alive header outright; it belongs to the client's connection alone.
  const echo = echoed(t, await send(stack.url, raw(['GET /api/v1/echo/keep-alive HTTP/1.1', 'Host: localhost', 'Keep-Alive: timeout=5, max=100', 'Connection: close'])), 'Keep-Alive')
  t.equal(echo.headers['keep-alive'], undefined)
})

t.test('proxy-connection', async (t) => {
  const echo = echoed(t, await send(stack.url, raw(['GET /api/v1/echo/proxy-connection HTTP/1.1', 'Host: localhost', 'Proxy-Connection: keep-alive', 'Connection: close'])), 'Proxy-Connection')
  t.equal(echo.headers['proxy-connection'], undefined)
})

t.test('upgrade', async (t) => {
  // The proxy speaks plain HTTP/1.1 to Roecny: an upgrade is not taken up and the request is served as it is.
  const websocket = echoed(t, await firstAnswer(raw([
    'GET /api/v1/echo/upgrade HTTP/1.1', 'Host: localhost', 'Connection: Upgrade', 'Upgrade: websocket',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13'
  ])), 'Upgrade: websocket')
  t.equal(websocket.headers.upgrade, undefined)
  const h2c = echoed(t, await firstAnswer(raw([
    'GET /api/v1/echo/upgrade HTTP/1.1', 'Host: localhost', 'Connection: Upgrade, HTTP2-Settings', 'Upgrade: h2c',
    'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA'
  ])), 'Upgrade: h2c')
  t.equal(h2c.headers.upgrade, undefined)
  t.equal(h2c.headers['http2-settings'], undefined, 'HTTP2-Settings goes with the Connection that names it')
  // Upgrade without Connection naming it: still hop-by-hop, and undici refuses it.
  const bare = echoed(t, await send(stack.url, raw(['GET /api/v1/echo/upgrade HTTP/1.1', 'Host: localhost', 'Upgrade: websocket', 'Connection: close'])), 'a bare Upgrade')
  t.equal(bare.headers.upgrade, undefined)
})

t.test('te', async (t) => {
  const trailers = echoed(t, await send(stack.url, { target: '/api/v1/echo/te', headers: { TE: 'trailers' } }), 'TE: trailers')
  t.equal(trailers.headers.te, 'trailers', 'trailers is passed on')
  const codings = echoed(t, await send(stack.url, { target: '/api/v1/echo/te', headers: { TE: 'gzip, deflate;q=0.5' } }), 'TE with codings')
  t.equal(codings.headers.te, undefined, 'codings are the client\'s connection\'s, not Roecny\'s')
})

t.test('trailer', async (t) => {
  const body = 'abc'
  const echo = echoed(t, await send(stack.url, raw([
    'POST /api/v1/echo/trailer HTTP/1.1', 'Host: localhost', 'Transfer-Encoding: chunked', 'Trailer: x-checksum', 'Connection: close'
  ], `3\r\n${body}\r\n0\r\nx-checksum: 1\r\n\r\n`)), 'a chunked body with trailer fields')
  t.equal(echo.bodySha256, sha256(body), 'the body arrives; the trailer fields are not forwarded')
  t.equal(echo.headers.trailer, undefined)
  t.equal(echo.headers['x-checksum'], undefined)
})

t.test('transfer-encoding', async (t) => {
  const body = randomBytes(300_000)
  for (const coding of ['chunked', 'Chunked']) {
    const echo = echoed(t, await sendBytes(
      raw(['POST /api/v1/echo/chunked HTTP/1.1', 'Host: localhost', `Transfer-Encoding: ${coding}`, 'Connection: close']),
      chunkedBody(body, 1000)
    ), `Transfer-Encoding: ${coding}`)
    t.equal(echo.bodyBytes, body.length, `${coding}: every byte`)
    t.equal(echo.bodySha256, sha256(body), `${coding}: the same bytes`)
  }
  const old = echoed(t, await send(stack.url, raw(['PUT /api/v1/echo/chunked HTTP/1.0', 'Host: localhost', 'Transfer-Encoding: chunked'], '3\r\nabc\r\n0\r\n\r\n')), 'chunked in HTTP/1.0')
  t.equal(old.bodySha256, sha256('abc'))
  // Node decodes chunked only: a body still gzip-coded would reach Roecny as other content.
  const view = upstreamView(stack.mock)
  const gzip = await firstAnswer(raw(['POST /api/v1/echo/chunked HTTP/1.1', 'Host: localhost', 'Transfer-Encoding: gzip, chunked'], '3\r\nabc\r\n0\r\n\r\n'))
  expectProxyError(t, gzip, 400, 'PROXY_BAD_REQUEST', 'Transfer-Encoding: gzip, chunked')
  t.equal(gzip.headers.connection, 'close', 'the connection closes: its body is never read')
  view.untouched(t, 'a transfer coding the proxy cannot decode')
})

t.test('host', async (t) => {
  const echo = echoed(t, await send(stack.url, { target: '/api/v1/echo/host', host: 'localhost:8080' }), 'Host')
  t.equal(echo.headers.host, new URL(stack.mock.url).host, 'the upstream gets its own Host')
  const view = upstreamView(stack.mock)
  const twice = await send(stack.url, raw(['GET /api/v1/echo/host HTTP/1.1', 'Host: localhost', 'host: evil.example', 'Connection: close']))
  expectProxyError(t, twice, 400, 'PROXY_BAD_REQUEST', 'two Host lines (RFC 9112 §3.2)')
  const twiceSame = await send(stack.url, raw(['GET /api/v1/echo/host HTTP/1.1', 'HOST: localhost', 'Host: localhost', 'Connection: close']))
  expectProxyError(t, twiceSame, 400, 'PROXY_BAD_REQUEST', 'two Host lines, even alike')
  const none = await send(stack.url, raw(['GET /api/v1/echo/host HTTP/1.1', 'Connection: close']))
  t.equal(none.status, 400, 'an HTTP/1.1 request without Host: 400 (Node answers it)')
  view.untouched(t, 'Host refused')
})

t.test('content-length', async (t) => {
  const empty = echoed(t, await send(stack.url, raw(['GET /api/v1/echo/length HTTP/1.1', 'Host: localhost', 'Content-Length: 0', 'Connection: close'])), 'Content-Length: 0 on GET')
  t.equal(empty.bodyBytes, 0)
  const emptyPost = echoed(t, await send(stack.url, raw(['POST /api/v1/echo/length HTTP/1.1', 'Host: localhost', 'Content-Length: 0', 'Connection: close'])), 'Content-Length: 0 on POST')
  t.equal(emptyPost.headers['content-length'], '0')
  // A GET or HEAD body has no meaning (RFC 9110 §9.3.1); the stack underneath cannot forward one, so it is read and dropped,
  // and the upstream gets a plain GET: no Content-Length announcing a body that never comes.
  const getBody = echoed(t, await send(stack.url, { target: '/api/v1/echo/length', body: 'hello' }), 'a body on GET')
  t.equal(getBody.bodyBytes, 0)
  t.equal(getBody.headers['content-length'], undefined)
  const head = await send(stack.url, { method: 'HEAD', target: '/api/v1/echo/length', body: 'hello' })
  t.equal(head.status, 200, 'a body on HEAD')
  for (const method of ['DELETE', 'OPTIONS', 'PATCH']) {
    const echo = echoed(t, await send(stack.url, { method, target: '/api/v1/echo/length', headers: { 'Content-Type': 'application/json' }, body: '{"id":1}' }), `a body on ${method}`)
    t.equal(echo.bodySha256, sha256('{"id":1}'), `${method}: forwarded whole`)
    t.equal(echo.headers['content-length'], '8')
  }
  // Node refuses a repeated or listed length (a smuggling vector) before the proxy sees the request.
  const view = upstreamView(stack.mock)
  const repeated = await send(stack.url, raw(['POST /api/v1/echo/length HTTP/1.1', 'Host: localhost', 'Content-Length: 3', 'Content-Length: 3', 'Connection: close'], 'abc'))
  expectProxyError(t, repeated, 400, 'PROXY_BAD_REQUEST', 'two Content-Length lines')
  const both = await send(stack.url, raw(['POST /api/v1/echo/length HTTP/1.1', 'Host: localhost', 'Content-Length: 3', 'Transfer-Encoding: chunked', 'Connection: close'], '3\r\nabc\r\n0\r\n\r\n'))
  expectProxyError(t, both, 400, 'PROXY_BAD_REQUEST', 'Content-Length with Transfer-Encoding')
  view.untouched(t, 'ambiguous lengths')
})

t.test('content-type', async (t) => {
  const odd = echoed(t, await send(stack.url, { method: 'POST', target: '/api/v1/echo/type', headers: { 'Content-Type': 'application/json; charset' }, body: '{x' }), 'an odd but parsable type')
  t.equal(odd.headers['content-type'], 'application/json; charset', 'forwarded as sent; the body is never parsed')
  t.equal(odd.bodySha256, sha256('{x'))
  const view = upstreamView(stack.mock)
  for (const type of ['text']) {
    const response = await send(stack.url, { method: 'POST', target: '/api/v1/echo/type', headers: { 'Content-Type': type }, body: 'abc' })
    expectProxyError(t, response, 400, 'PROXY_BAD_REQUEST', `Content-Type: "${type}" is no media type`)
  }
  view.untouched(t, 'malformed Content-Type')
  t.notOk(stack.logs.records().some((line) => line.level === 'error'), 'nothing logged as an error of the proxy')
})

t.test('header values', async (t) => {
  // undici accepts what Node's parser accepts: tab, visible ASCII and obs-text (bytes 0x80-0xff).
  const echo = echoed(t, await sendBytes(raw([
    'GET /api/v1/echo/values HTTP/1.1', 'Host: localhost', 'X-Latin: caf\xe9', 'X-Empty:', 'X-Tab: a\tb', "X-!#$%&'*+-.^_`|~: token", 'Connection: close'
  ])), 'legal values')
  t.equal(echo.headers['x-latin'], 'caf\xe9', 'obs-text forwarded byte for byte')
  t.equal(echo.headers['x-empty'], '', 'an empty value forwarded')
  t.equal(echo.headers['x-tab'], 'a\tb')
  t.equal(echo.headers["x-!#$%&'*+-.^_`|~"], 'token', 'every token character in a name')
  const view = upstreamView(stack.mock)
  for (const [what, line] of [['a control character', 'X-Bad: a\x01b'], ['DEL', 'X-Bad: a\x7fb'], ['a NUL', 'X-Bad: a\x00b'], ['a space in a name', 'X Bad: 1']]) {
    const response = await send(stack.url, raw(['GET /api/v1/echo/values HTTP/1.1', 'Host: localhost', line as string, 'Connection: close']))
    expectProxyError(t, response, 400, 'PROXY_BAD_REQUEST', what as string)
  }
  view.untouched(t, 'illegal header values')
})

t.test('repeated headers', async (t) => {
  // Node joins most repeated headers with ", " and keeps Set-Cookie as an array, which undici sends as separate lines.
  const echo = echoed(t, await send(stack.url, raw([
    'GET /api/v1/echo/repeated HTTP/1.1', 'Host: localhost', 'X-Id: 1', 'X-Id: 2', 'Set-Cookie: a=1', 'Set-Cookie: b=2', 'Cookie: c=3', 'Cookie: d=4', 'Connection: close'
  ])), 'repeated headers')
  t.equal(echo.headers['x-id'], '1, 2')
  t.same(echo.headers['set-cookie'], ['a=1', 'b=2'], 'an array goes as two lines')
  t.equal(echo.headers.cookie, 'c=3; d=4')
})
