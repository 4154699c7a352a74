// Request-target hygiene: only clean origin-form targets are forwarded; every other shape gets 400 and reaches nothing.
import type { Duplex } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { test } from 'tap'
import { createGuards } from '../src/proxy/guards.js'
import { rejectMalformedRequest } from '../src/listener.js'
import { testConfig } from './helpers/config.js'
import { expectProxyError, send, upstreamView } from './helpers/raw.js'
import { startStack } from './helpers/stack.js'

/** Targets that a client library would refuse or clean up before sending; each must get 400 PROXY_BAD_REQUEST. */
const BAD_TARGETS: Array<[string, string]> = [
  // Not origin-form: the proxy must never be steered to another host.
  ['absolute-form', 'http://evil.example/api/v1/balances/current'],
  ['absolute-form, https', 'https://evil.example:443/api/v1/balances/current'],
  ['absolute-form naming the upstream', 'http://127.0.0.1:9/api/v1/balances/current'],
  ['authority-form on GET', 'evil.example:443'],
  ['asterisk-form', '*'],
  ['scheme-relative', '//evil.example/api/v1/balances/current'],
  ['three slashes', '///evil.example/x'],
  ['escaped scheme-relative', '/%2F%2Fevil.example/x'],
  ['escaped scheme-relative, mixed', '/%2f/evil.example/x'],
  // Dot segments, plain and escaped: a URL parser would resolve them and escape the path policy.
  ['.. segment', '/api/v1/../v2/admin'],
  ['.. at the end', '/api/v1/echo/..'],
  ['.. before the query', '/api/v1/echo/..?x=1'],
  ['. segment', '/api/v1/./balances/current'],
  ['%2e%2e', '/api/v1/echo/%2e%2e/%2e%2e/admin'],
  ['%2E%2E', '/api/v1/echo/%2E%2E/admin'],
  ['.%2e', '/api/v1/echo/.%2e/admin'],
  ['%2e.', '/api/v1/echo/%2e./admin'],
  ['%2e', '/api/v1/echo/%2e/admin'],
  ['..%2F', '/api/v1/echo/..%2Fadmin'],
  ['%2F..%2F', '/api/v1/echo/a%2F..%2F..%2Fadmin'],
  ['%2F.. at the end', '/api/v1/echo/a%2F..'],
  // Dot segments with path parameters: a server that cuts `;...` from each segment then resolves them.
  ['..;/', '/api/v1/echo/open/..;/admin'],
  ['..;x at the end', '/api/v1/echo/..;x'],
  ['.;x segment', '/api/v1/echo/.;x/admin'],
  ['..%3B', '/api/v1/echo/open/..%3B/admin'],
  ['%2e%2e;', '/api/v1/echo/open/%2e%2e;x/admin'],
  // Backslashes: WHATWG URL parsing turns them into slashes.
  ['backslash', '/api/v1/echo\\..\\admin'],
  ['backslash alone', '/api/v1/echo/a\\b'],
  // Not a URI character anywhere (RFC 3986); a client percent-encodes it, as %5c in a query is forwarded.
  ['backslash in the query', '/api/v1/echo/x?a=\\b'],
  ['%5c', '/api/v1/echo/%5c..%5cadmin'],
  ['%5C', '/api/v1/echo/a%5Cb'],
  // Control characters after decoding.
  ['%00', '/api/v1/echo/a%00b'],
  ['%00 at the end', '/api/v1/echo/a.json%00'],
  ['%0d%0a', '/api/v1/echo/a%0d%0aX-Injected:%201'],
  ['%0a', '/api/v1/echo/a%0Ab'],
  ['%09', '/api/v1/echo/a%09b'],
  ['%7f', '/api/v1/echo/a%7fb'],
  // Escapes that do not decode.
  ['%zz', '/api/v1/echo/%zz'],
  ['%zz in an own route', '/-/%zz'],
  ['lone %', '/api/v1/echo/100%'],
  ['truncated %2', '/api/v1/echo/a%2'],
  ['truncated UTF-8', '/api/v1/authentication/%E0%A4%A'],
  ['invalid UTF-8', '/api/v1/echo/%ff'],
  ['overlong UTF-8 slash', '/api/v1/echo/%c0%af..%c0%afadmin'],
  // A fragment is cut by URL parsers: what the policy saw would not be what is sent.
  ['fragment', '/api/v1/echo/a#/../../admin'],
  ['fragment in the query', '/api/v1/echo/a?x=1#frag'],
  ['raw DEL', '/api/v1/echo/a\x7fb'],
  ['raw Latin-1', '/api/v1/echo/caf\xe9']
]

/** Request lines Node's parser refuses itself; they must still get the proxy's own 400, and nothing else. */
const UNPARSABLE: Array<[string, string]> = [
  ['CR/LF in the target', 'GET /api/v1/echo/a\r\nX-Injected: 1 HTTP/1.1'],
  ['LF in the target', 'GET /api/v1/echo/a\nHost: evil.example HTTP/1.1'],
  ['CR in the target', 'GET /api/v1/echo/a\rb HTTP/1.1'],
  ['NUL in the target', 'GET /api/v1/echo/a\x00b HTTP/1.1'],
  ['TAB in the target', 'GET /api/v1/echo/a\tb HTTP/1.1'],
  ['space in the target', 'GET /api/v1/echo/a b HTTP/1.1'],
  ['no version (read as HTTP/0.9)', 'GET /api/v1/echo/a'],
  ['HTTP/2.0 on an HTTP/1 listener', 'GET /api/v1/echo/a HTTP/2.0'],
  ['lower-case method', 'get /api/v1/echo/a HTTP/1.1'],
  ['header without a colon', 'GET /api/v1/echo/a HTTP/1.1\r\nX-Broken']
]

test('every bad request shape gets 400 PROXY_BAD_REQUEST and reaches nothing', async (t) => {
  const stack = await startStack(t)
  const view = upstreamView(stack.mock)
  for (const [what, target] of BAD_TARGETS) {
    for (const method of ['GET', 'POST', 'DELETE']) {
      const response = await send(stack.url, { method, target, body: method === 'POST' ? '{"amount":1}' : undefined })
      expectProxyError(t, response, 400, 'PROXY_BAD_REQUEST', `${method} ${what}`)
    }
  }
  // The one form a request may use "*" for: still not forwarded.
  expectProxyError(t, await send(stack.url, { method: 'OPTIONS', target: '*' }), 400, 'PROXY_BAD_REQUEST', 'OPTIONS asterisk-form')
  for (const [what, line] of UNPARSABLE) {
    const response = await send(stack.url, `${line}\r\nHost: localhost\r\nConnection: close\r\n\r\n`)
    expectProxyError(t, response, 400, 'PROXY_BAD_REQUEST', what)
  }
  view.untouched(t, 'bad request shapes')
  t.equal((await send(stack.url, { target: '/api/v1/balances/current' })).status, 200, 'the process is still up and serving')
})

test('CONNECT (authority-form) gets 400 and opens no tunnel', async (t) => {
  const stack = await startStack(t)
  const view = upstreamView(stack.mock)
  const port = new URL(stack.mock.url).port
  for (const target of ['evil.example:443', `127.0.0.1:${port}`]) {
    const response = await send(stack.url, `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\nGET /api/v1/balances/current HTTP/1.1\r\nHost: localhost\r\n\r\n`)
    expectProxyError(t, response, 400, 'PROXY_BAD_REQUEST', `CONNECT ${target}`)
  }
  view.untouched(t, 'CONNECT')
})

test('the guards hold on a kept-alive connection, request after request', async (t) => {
  const stack = await startStack(t)
  // Three requests on one connection: good, bad, good. The bad one must not poison the others.
  const raw = 'GET /api/v1/echo/one HTTP/1.1\r\nHost: localhost\r\n\r\n' +
    'GET /api/v1/echo/%2e%2e/admin HTTP/1.1\r\nHost: localhost\r\n\r\n' +
    'GET /api/v1/echo/three HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'
  const answer = (await send(stack.url, raw)).raw
  t.same([...answer.matchAll(/HTTP\/1\.1 (\d{3}) [A-Z]/g)].map((m) => m[1]), ['200', '400', '200'])
  t.same(stack.mock.requests.map((r) => r.url), ['/api/v1/echo/one', '/api/v1/echo/three'])
})

test('clean targets that merely look odd are forwarded byte for byte', async (t) => {
  const stack = await startStack(t)
  for (const target of [
    '/api/v1/echo/a%2Fb',
    '/api/v1/echo/caf%C3%A9?q=%zz&r=..%2F..',
    '/api/v1/echo/.well-known/x',
    '/api/v1/echo/x..',
    '/api/v1/echo/a.b/c..d',
    '/api/v1/echo/%25',
    '/api/v1/echo/a%20b',
    '/api/v1/echo/x?path=../../etc/passwd',
    '/api/v1/echo/x?a=%00&b=%5c'
  ]) {
    const response = await send(stack.url, { target })
    t.equal(response.status, 200, target)
    t.equal((JSON.parse(response.body) as { url: string }).url, target, `${target} forwarded as sent`)
  }
})

test('oversized headers get 431; a parser timeout 408; a reset connection nothing', async (t) => {
  const stack = await startStack(t)
  const view = upstreamView(stack.mock)
  const huge = await send(stack.url, { target: '/api/v1/echo/x', headers: { 'x-padding': 'p'.repeat(20_000) } })
  t.equal(huge.status, 431)
  view.untouched(t, 'oversized headers')

  // Node's request timeout takes minutes of real time: the handler is called as Node would call it.
  const written: string[] = []
  function socket (state: { destroyed?: boolean, writable?: boolean } = {}): Duplex {
    return { destroyed: state.destroyed ?? false, writable: state.writable ?? true, write (text: string) { written.push(text); return true }, destroy () {} } as unknown as Duplex
  }
  const self = { log: { debug () {} } } as unknown as FastifyInstance
  rejectMalformedRequest.call(self, Object.assign(new Error('timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), socket())
  t.match(written.pop(), /^HTTP\/1\.1 408 Request Timeout\r\n/)
  rejectMalformedRequest.call(self, Object.assign(new Error('reset'), { code: 'ECONNRESET' }), socket())
  rejectMalformedRequest.call(self, Object.assign(new Error('gone'), { code: 'HPE_INVALID_METHOD' }), socket({ destroyed: true }))
  rejectMalformedRequest.call(self, Object.assign(new Error('closing'), { code: 'HPE_INVALID_METHOD' }), socket({ writable: false }))
  t.same(written, [], 'nothing is written to a connection that is gone or closing')
})

test('a path the forwarding library refuses by itself also gets PROXY_BAD_REQUEST, and reaches nothing', async (t) => {
  const stack = await startStack(t)
  const view = upstreamView(stack.mock)
  // No dot segment, but @fastify/reply-from refuses any "/.." in a path; the answer is still the proxy's own.
  for (const target of ['/api/v1/echo/...', '/api/v1/echo/..x']) {
    expectProxyError(t, await send(stack.url, { target }), 400, 'PROXY_BAD_REQUEST', target)
  }
  view.untouched(t, 'refused by the library')
})

test('the guards refuse a malformed escape themselves, whatever the router let through', async (t) => {
  const guards = createGuards(testConfig(), { closing: false })
  const sent: string[] = []
  const reply = {
    request: { raw: { complete: true, headers: {} } },
    code () { return reply },
    header (name: string, value: string) { if (name === 'x-roecny-proxy-error') sent.push(value); return reply },
    headers () { return reply },
    send () { return reply }
  }
  for (const url of ['/api/v1/echo/%zz', '/api/v1/echo/%E0%A4%A', '/api/v1/echo/%ff']) {
    const request = { url, method: 'GET', headers: { host: 'localhost' }, raw: { httpVersionMajor: 1, rawHeaders: ['Host', 'localhost'] } }
    t.equal(guards.refused(request as unknown as FastifyRequest, reply as unknown as FastifyReply), true, url)
  }
  t.same(sent, ['PROXY_BAD_REQUEST', 'PROXY_BAD_REQUEST', 'PROXY_BAD_REQUEST'])
})

test('a HEAD request the parser refuses gets its 400 without a body', async (t) => {
  const stack = await startStack(t)
  const response = await send(stack.url, 'HEAD /api/v1/echo/a HTTP/1.1\r\nHost: localhost\r\nX-Folded: first\r\n second\r\n\r\n')
  t.equal(response.status, 400)
  t.equal(response.headers['x-roecny-proxy-error'], 'PROXY_BAD_REQUEST')
  t.equal(response.body, '', 'nothing follows the head: a HEAD answer has no body')
  t.match((await send(stack.url, 'GET /api/v1/echo/a HTTP/1.1\r\nHost: localhost\r\nX-Folded: first\r\n second\r\n\r\n')).body, /"code":"PROXY_BAD_REQUEST"/, 'GET keeps its body')
})
