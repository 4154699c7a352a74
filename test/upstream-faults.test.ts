// A broken or hostile upstream never crashes the proxy, and never gives a client an answer that looks complete when it is not.
import t from 'tap'
import type { Test } from 'tap'
import { headerOf, readResponses } from './helpers/http-framing.js'
import type { ParsedResponse } from './helpers/http-framing.js'
import { openRaw } from './helpers/raw-client.js'
import { startStack } from './helpers/stack.js'
import type { Stack } from './helpers/stack.js'

const HOST = 'Host: localhost\r\n'

let stack: Stack
t.before(async () => {
  stack = await startStack(t, { mock: { faultRoutes: true } })
})

/** One GET through the proxy on a fresh connection, read to the proxy's close. */
async function through (target: string): Promise<{ response: ParsedResponse | undefined, malformed: string | undefined, count: number }> {
  const connection = await openRaw(stack.url)
  connection.socket.write(`GET ${target} HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`)
  const read = readResponses(Buffer.from(await connection.closed, 'latin1'), ['GET'], true)
  return { response: read.responses[0], malformed: read.malformed, count: read.responses.length }
}

/** The next request gets its own, whole answer: no connection of the pool was left out of step. */
async function nextIsClean (t: Test, what: string): Promise<void> {
  const nonce = `after-${Math.random().toString(36).slice(2)}`
  const { response, malformed } = await through(`/api/v1/echo/${nonce}`)
  t.equal(malformed, undefined, `${what}: the next answer is well-formed`)
  t.equal(response?.status, 200, `${what}: the next request is served`)
  t.equal((JSON.parse(String(response?.body)) as { path: string }).path, `/api/v1/echo/${nonce}`, `${what}: with its own answer`)
}

/** The proxy's own 502: Roecny's answer was unusable, and nothing of it reached the client. */
function expectBadGateway (t: Test, what: string, answer: Awaited<ReturnType<typeof through>>): void {
  t.equal(answer.malformed, undefined, `${what}: well-formed`)
  t.equal(answer.count, 1, `${what}: one answer`)
  t.equal(answer.response?.status, 502, `${what}: 502`)
  t.equal(headerOf(answer.response as ParsedResponse, 'x-roecny-proxy-error'), 'PROXY_UPSTREAM_UNREACHABLE', `${what}: the proxy's own error`)
}

/** Roecny's head was passed on, then the body was cut: the client must see that it is incomplete. */
function expectCut (t: Test, what: string, answer: Awaited<ReturnType<typeof through>>, framing: ParsedResponse['framing']): void {
  t.equal(answer.malformed, undefined, `${what}: well-formed as far as it goes`)
  t.equal(answer.response?.status, 200, `${what}: Roecny's status`)
  t.equal(answer.response?.framing, framing, `${what}: framed by ${framing}`)
  t.equal(answer.response?.complete, false, `${what}: visibly incomplete`)
}

for (const [fault, framing] of [['short-length', 'length'], ['bad-chunk-size', 'chunked'], ['chunk-overrun', 'chunked'], ['cut-chunked', 'chunked'], ['reset-mid-chunked', 'chunked']] as const) {
  t.test(`${fault}: the client's answer is cut, never complete`, async (t) => {
    expectCut(t, fault, await through(`/api/v1/test/fault/${fault}`), framing)
    await nextIsClean(t, fault)
  })
}

t.test('reset mid-body (Content-Length): the client\'s answer is cut, never complete', async (t) => {
  expectCut(t, 'reset mid-body', await through('/api/v1/test/reset-mid-body'), 'length')
  await nextIsClean(t, 'reset mid-body')
})

for (const fault of ['duplicate-length', 'switching-protocols', 'interim-only', 'invalid-status-line', 'not-http', 'huge-header']) {
  t.test(`${fault}: 502, and the proxy goes on`, async (t) => {
    expectBadGateway(t, fault, await through(`/api/v1/test/fault/${fault}`))
    await nextIsClean(t, fault)
  })
}

t.test('a body broken before its first byte: 502, without any of Roecny\'s headers', async (t) => {
  const answer = await through('/api/v1/test/fault/bad-first-chunk')
  expectBadGateway(t, 'bad first chunk', answer)
  t.equal(headerOf(answer.response as ParsedResponse, 'set-cookie'), undefined, 'Roecny\'s cookie is not on the proxy\'s error')
  t.notOk(stack.logs.lines.some((line) => line.includes('"level":"error"')), 'not logged as a failure of the proxy')
  t.ok(stack.logs.records().some((r) => r.msg === 'upstream answer unusable' && r.upstreamError === 'HTTPParserError'), 'logged as Roecny\'s')
  await nextIsClean(t, 'bad first chunk')
})

t.test('interim answers (103, 102) before the real one: the real one gets through whole', async (t) => {
  const { response, malformed, count } = await through('/api/v1/test/fault/early-hints')
  t.equal(malformed, undefined)
  t.equal(count, 1, 'interim answers are not passed on')
  t.equal(response?.status, 200)
  t.equal(String(response?.body), 'ok')
  t.equal(response?.complete, true)
  await nextIsClean(t, 'early hints')
})

t.test('100 Continue nobody asked for: the HTTP client refuses the exchange, the proxy answers 502', async (t) => {
  // undici fails a request that did not send Expect and gets 100 Continue; a 502 is an honest answer.
  expectBadGateway(t, 'unasked 100 Continue', await through('/api/v1/test/fault/unasked-continue'))
  await nextIsClean(t, 'unasked 100 Continue')
})

t.test('a second response nobody asked for answers no one', async (t) => {
  const { response, malformed, count } = await through('/api/v1/test/fault/extra-response')
  t.equal(malformed, undefined)
  t.equal(count, 1, 'one answer')
  t.equal(String(response?.body), 'first', 'the first response, whole')
  t.equal(response?.complete, true)
  for (let i = 0; i < 3; i++) await nextIsClean(t, `extra response, request ${i + 1} after it`)
})

t.test('a body that stops with the connection open: the client sees it unfinished, and leaving cancels the upstream request', async (t) => {
  const connection = await openRaw(stack.url)
  let upstreamSocket: import('node:net').Socket | undefined
  const upstreamClosed = new Promise<void>((resolve) => stack.mock.server.once('request', (req) => {
    upstreamSocket = req.socket
    req.socket.once('close', () => resolve())
  }))
  connection.socket.write(`GET /api/v1/test/fault/partial-then-hold HTTP/1.1\r\n${HOST}\r\n`)
  const received = await connection.waitFor((data) => data.endsWith('x'.repeat(100)), 'the first 100 bytes')
  const read = readResponses(Buffer.from(received, 'latin1'), ['GET'], false)
  t.equal(read.malformed, undefined)
  t.equal(read.responses[0]?.complete, false, 'not complete')
  connection.socket.destroy()
  t.equal(upstreamSocket?.destroyed, false, 'the upstream connection is open while the client is')
  await upstreamClosed
  t.equal(upstreamSocket?.destroyed, true, 'the upstream connection was closed when the client left')
  await nextIsClean(t, 'partial body, client gone')
})
