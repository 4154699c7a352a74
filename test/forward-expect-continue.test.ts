// Expect: 100-continue is answered by the proxy once the request is accepted, never forwarded; other expectations get 417.
import { createHash, randomBytes } from 'node:crypto'
import t from 'tap'
import type { Test } from 'tap'
import { onlyContinue } from '../src/proxy/expect.js'
import { chunkedBody, exchange } from './helpers/continue.js'
import { scrape } from './helpers/metrics.js'
import { expectProxyError, send, upstreamView } from './helpers/raw.js'
import { startStack } from './helpers/stack.js'
import type { Stack } from './helpers/stack.js'

const LIMIT = 4 * 1024 * 1024
const TWO_MB = 2_000_000

interface Echo {
  method: string
  headers: Record<string, string>
  bodyBytes: number
  bodySha256: string
}

function sha256 (data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

function head (lines: string[]): string {
  return [...lines, '', ''].join('\r\n')
}

/** The upstream got the whole body, the proxy's token, and no Expect. */
function arrivedIntact (t: Test, stack: Stack, body: string, sent: Buffer, what: string): void {
  const echo = JSON.parse(body) as Echo
  t.equal(echo.bodyBytes, sent.length, `${what}: the upstream got every byte`)
  t.equal(echo.bodySha256, sha256(sent), `${what}: the upstream got the same bytes`)
  t.equal(echo.headers.expect, undefined, `${what}: the upstream never saw Expect`)
  t.equal(echo.headers.authorization, `Bearer ${stack.mock.issuedTokens.at(-1) as string}`, `${what}: with the proxy's token`)
  t.equal(stack.mock.requests.at(-1)?.headers.expect, undefined, `${what}: no Expect in what the mock recorded`)
}

let stack: Stack
t.before(async () => {
  stack = await startStack(t, { config: { maxBodyBytes: LIMIT, logLevel: 'info' } })
})

t.test('a client that waits for the 100, as curl does, gets it and its 2 MB arrive intact', async (t) => {
  const body = randomBytes(TWO_MB)
  const result = await exchange(stack.url, head([
    'POST /api/v1/echo/upload HTTP/1.1', 'Host: localhost', 'Content-Type: application/octet-stream',
    `Content-Length: ${body.length}`, 'Expect: 100-continue', 'Connection: close'
  ]), body)
  t.ok(result.continued, '100 Continue came before the final answer')
  t.ok(result.bodySent, 'the body was sent after it')
  t.equal(result.response.status, 200)
  arrivedIntact(t, stack, result.response.body, body, '2 MB after a 100')
})

t.test('a small body with Expect, waiting for the 100', async (t) => {
  const body = Buffer.from('{"amount":12.5,"currency":"EUR"}')
  const result = await exchange(stack.url, head([
    'POST /api/v1/echo/small HTTP/1.1', 'Host: localhost', 'Content-Type: application/json',
    `Content-Length: ${body.length}`, 'Expect: 100-continue', 'Connection: close'
  ]), body)
  t.ok(result.continued)
  t.equal(result.response.status, 200)
  arrivedIntact(t, stack, result.response.body, body, 'small JSON body')
})

t.test('a client that sends its body with the head, without waiting, is served the same', async (t) => {
  for (const size of [32, TWO_MB]) {
    const body = randomBytes(size)
    const result = await exchange(stack.url, head([
      'PUT /api/v1/echo/eager HTTP/1.1', 'Host: localhost', `Content-Length: ${body.length}`,
      'Expect: 100-Continue', 'Connection: close'
    ]), body, { waitForContinue: false })
    t.equal(result.response.status, 200, `${size} bytes`)
    arrivedIntact(t, stack, result.response.body, body, `${size} bytes sent at once`)
  }
})

t.test('a chunked body with Expect: 100-continue', async (t) => {
  const body = randomBytes(TWO_MB)
  const result = await exchange(stack.url, head([
    'POST /api/v1/echo/chunked HTTP/1.1', 'Host: localhost', 'Transfer-Encoding: chunked',
    'Expect: 100-continue', 'Connection: close'
  ]), chunkedBody(body))
  t.ok(result.continued)
  t.equal(result.response.status, 200)
  arrivedIntact(t, stack, result.response.body, body, 'chunked 2 MB')
})

t.test('a refused request gets its error without a 100, so the client never sends its body', async (t) => {
  const view = upstreamView(stack.mock)
  const body = randomBytes(1024)
  const wrongHost = await exchange(stack.url, head([
    'POST /api/v1/echo/refused HTTP/1.1', 'Host: evil.example', `Content-Length: ${body.length}`, 'Expect: 100-continue'
  ]), body)
  t.notOk(wrongHost.continued, 'wrong Host: no 100')
  t.notOk(wrongHost.bodySent, 'wrong Host: the body stayed with the client')
  expectProxyError(t, wrongHost.response, 403, 'PROXY_FORBIDDEN_HOST', 'wrong Host')
  // The client may still send the body it announced: the connection is not reused (it closed, or the helper would time out).
  t.equal(wrongHost.response.headers.connection, 'close', 'wrong Host: the connection closes')

  const tooLarge = await exchange(stack.url, head([
    'POST /api/v1/echo/refused HTTP/1.1', 'Host: localhost', `Content-Length: ${LIMIT + 1}`, 'Expect: 100-continue'
  ]), body)
  t.notOk(tooLarge.continued, 'over PROXY_MAX_BODY_BYTES: no 100')
  t.notOk(tooLarge.bodySent, 'over PROXY_MAX_BODY_BYTES: the body stayed with the client')
  expectProxyError(t, tooLarge.response, 413, 'PROXY_BODY_TOO_LARGE', 'over PROXY_MAX_BODY_BYTES')
  view.untouched(t, 'refused requests with Expect')
})

t.test('an expectation other than 100-continue gets 417 PROXY_EXPECTATION_FAILED', async (t) => {
  const view = upstreamView(stack.mock)
  const before = (await scrape(stack.url)).value('roecny_proxy_requests_total', { method: 'POST', status_class: '4xx' }) ?? 0
  for (const expect of ['something-else', '100-continue, something-else', 'something-else, 100-continue']) {
    const response = await send(stack.url, { method: 'POST', target: '/api/v1/echo/x', headers: { Expect: expect }, body: 'abc' })
    expectProxyError(t, response, 417, 'PROXY_EXPECTATION_FAILED', `Expect: ${expect}`)
    t.notMatch(response.raw, /^HTTP\/1\.1 100/, `Expect: ${expect}: no 100`)
  }
  // The proxy's own routes are not counted as requests, but are refused all the same.
  const own = await send(stack.url, { method: 'POST', target: '/-/healthz', headers: { Expect: 'something-else' }, body: 'abc' })
  expectProxyError(t, own, 417, 'PROXY_EXPECTATION_FAILED', 'an own route')
  view.untouched(t, 'unmet expectations')
  const after = (await scrape(stack.url)).value('roecny_proxy_requests_total', { method: 'POST', status_class: '4xx' })
  t.equal(after, before + 3, 'counted as answered requests')
  const lines = stack.logs.records().filter((line) => line.status === 417)
  t.same(lines.map((line) => line.path), ['/api/v1/echo/x', '/api/v1/echo/x', '/api/v1/echo/x', '/-/healthz'], 'one access-log line each')
})

t.test('an HTTP/1.0 request\'s Expect is ignored: no 100, forwarded without it', async (t) => {
  const body = Buffer.from('hello')
  const result = await exchange(stack.url, head([
    'POST /api/v1/echo/old HTTP/1.0', 'Host: localhost', `Content-Length: ${body.length}`, 'Expect: 100-continue'
  ]), body, { waitForContinue: false })
  t.notOk(result.continued)
  t.equal(result.response.status, 200)
  arrivedIntact(t, stack, result.response.body, body, 'HTTP/1.0')
})

t.test('onlyContinue: every member of the list must be 100-continue', async (t) => {
  t.ok(onlyContinue('100-continue'))
  t.ok(onlyContinue('100-CONTINUE'))
  t.ok(onlyContinue(' 100-continue ,, 100-continue'), 'repeated, with empty list elements')
  t.notOk(onlyContinue(''), 'nothing expected is not an expectation met')
  t.notOk(onlyContinue('100-continue; x=1'), 'parameters are not part of 100-continue')
  t.notOk(onlyContinue('a/100-continue'))
})
