// A client that leaves is its own outcome (one info line, its own counter), never an upstream error; a real upstream failure is counted once and logged in one warning line.
import t from 'tap'
import type { Test } from 'tap'
import { scrape } from './helpers/metrics.js'
import { hasHead, openRaw, within } from './helpers/raw-client.js'
import { startStack } from './helpers/stack.js'
import type { Stack } from './helpers/stack.js'
import { until } from './helpers/until.js'

const HOST = 'Host: localhost\r\n'
const WARN = 'warn'

function warnings (stack: Stack): Array<Record<string, unknown>> {
  return stack.logs.records().filter((record) => record.level === WARN)
}

async function expectNoUpstreamError (t: Test, stack: Stack): Promise<void> {
  const metrics = await scrape(stack.url)
  t.equal(metrics.value('roecny_proxy_upstream_errors_total', { code: 'PROXY_UPSTREAM_UNREACHABLE' }), 0, 'no upstream error counted as unreachable')
  t.equal(metrics.value('roecny_proxy_upstream_errors_total', { code: 'PROXY_UPSTREAM_TIMEOUT' }), 0, 'nor as a timeout')
  t.same(warnings(stack), [], 'no warning line')
}

t.test('twenty clients that leave before Roecny answers: twenty client aborts, no upstream error, no warning', async (t) => {
  const stack = await startStack(t)
  const clients = await Promise.all(Array.from({ length: 20 }, () => openRaw(stack.url)))
  for (const client of clients) client.socket.write(`GET /api/v1/test/held HTTP/1.1\r\n${HOST}\r\n`)
  await until(() => stack.mock.held.length === 20, 'the twenty requests to be held at the mock')
  for (const client of clients) client.socket.destroy()
  // Each upstream request closes because its client left (the mock never answers them).
  await Promise.all(stack.mock.held.map((request) => request.closed))

  t.equal((await scrape(stack.url)).value('roecny_proxy_client_aborts_total'), 20, 'each counted as a client abort')
  await expectNoUpstreamError(t, stack)
  const gone = stack.logs.records().filter((record) => record.msg === 'client went away')
  t.equal(gone.length, 20, 'one line each')
  t.ok(gone.every((record) => record.level === 'info' && record.err === undefined), 'at info, without an error or a stack trace')
})

t.test('a client that leaves while Roecny\'s body streams: a client abort, no upstream error, no warning', async (t) => {
  const stack = await startStack(t)
  const client = await openRaw(stack.url)
  client.socket.write(`GET /api/v1/test/bytes/100000000 HTTP/1.1\r\n${HOST}\r\n`)
  // Roecny's head has come through; most of its 100 MB body is still to come.
  await client.waitFor(hasHead, 'Roecny\'s head')
  client.socket.destroy()
  await until(async () => (await scrape(stack.url)).value('roecny_proxy_client_aborts_total') === 1, 'the client abort to be counted')
  await expectNoUpstreamError(t, stack)
})

t.test('a real upstream failure: counted once, one warning line, no client abort', async (t) => {
  const stack = await startStack(t, { config: { upstreamTimeoutMs: 200 } })
  for (const [method, target, status, code] of [
    ['GET', '/api/v1/test/reset', 502, 'PROXY_UPSTREAM_UNREACHABLE'],
    ['GET', '/api/v1/test/hang', 504, 'PROXY_UPSTREAM_TIMEOUT'],
    // A status no HTTP answer may carry: Roecny's answer is unusable, and none of it goes to the client.
    ['GET', '/api/v1/test/status/600', 502, 'PROXY_UPSTREAM_UNREACHABLE']
  ] as const) {
    const before = { warnings: warnings(stack).length, count: (await scrape(stack.url)).value('roecny_proxy_upstream_errors_total', { code }) as number }
    const client = await openRaw(stack.url)
    client.socket.write(`${method} ${target} HTTP/1.1\r\n${HOST}Content-Length: 0\r\nConnection: close\r\n\r\n`)
    const answer = await client.closed
    t.match(answer, new RegExp(`^HTTP/1.1 ${status} .*x-roecny-proxy-error: ${code}`, 's'), `${target}: ${status} ${code}`)
    t.notMatch(answer, /\r\nlocation:/i, `${target}: no header of Roecny's`)
    const lines = warnings(stack).slice(before.warnings)
    t.equal(lines.length, 1, `${target}: one warning line`)
    t.match(lines[0], { msg: 'upstream request failed', proxyCode: code }, `${target}: naming the failure`)
    t.equal(lines[0]?.err, undefined, `${target}: without a stack trace`)
    t.equal((await scrape(stack.url)).value('roecny_proxy_upstream_errors_total', { code }), before.count + 1, `${target}: counted once`)
  }
  t.equal((await scrape(stack.url)).value('roecny_proxy_client_aborts_total'), 0, 'no client abort counted')
  t.notOk(stack.logs.records().some((record) => record.msg === 'client went away'), 'nor logged')
})

t.test('Roecny unreachable before a body could be sent: the client is still there, and gets the 502', async (t) => {
  const stack = await startStack(t)
  // The token is at hand; from now on every connection to Roecny is refused.
  await stack.mock.close()
  const client = await openRaw(stack.url)
  // Undici destroys the body it could not send, which Fastify reports as an aborted request.
  client.socket.write(`POST /api/v1/echo/pay HTTP/1.1\r\n${HOST}Content-Length: 12\r\nConnection: close\r\n\r\n{"amount":1}`)
  t.match(await within(client.closed, 'the proxy\'s answer'), /^HTTP\/1.1 502 .*x-roecny-proxy-error: PROXY_UPSTREAM_UNREACHABLE/s, '502 PROXY_UPSTREAM_UNREACHABLE')
  const metrics = await scrape(stack.url)
  t.equal(metrics.value('roecny_proxy_upstream_errors_total', { code: 'PROXY_UPSTREAM_UNREACHABLE' }), 1, 'counted once')
  t.equal(metrics.value('roecny_proxy_client_aborts_total'), 0, 'no client abort counted')
  t.equal(warnings(stack).length, 1, 'one warning line')
  t.notOk(stack.logs.records().some((record) => record.msg === 'client went away'), 'no client abort logged')
})
