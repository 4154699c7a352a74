import { test } from 'tap'
import { rawRequest } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

function echoedHeaders (response: string): Record<string, string> {
  const body = response.slice(response.indexOf('\r\n\r\n') + 4)
  // The echo answer is small and has a Content-Length: the body is the JSON itself.
  return (JSON.parse(body) as { headers: Record<string, string> }).headers
}

test('hop-by-hop request headers are dropped; Connection cannot remove the token', async (t) => {
  const stack = await startStack(t)
  const response = await rawRequest(stack.url, [
    'GET /api/v1/echo/hop HTTP/1.1',
    'Host: 127.0.0.1',
    'Connection: close, authorization, x-drop-me',
    'Authorization: Bearer client',
    'X-Drop-Me: 1',
    'Keep-Alive: timeout=5',
    'Proxy-Connection: keep-alive',
    'Proxy-Authorization: Basic c2VjcmV0',
    'TE: gzip',
    'Trailer: x-checksum',
    'Upgrade: websocket',
    'X-Kept: yes',
    '', ''
  ].join('\r\n'))
  t.match(response, /^HTTP\/1\.1 200 /)
  const headers = echoedHeaders(response)
  t.equal(headers.authorization, `Bearer ${stack.mock.issuedTokens[0]}`, 'the proxy token is sent')
  for (const name of ['x-drop-me', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'upgrade']) {
    t.equal(headers[name], undefined, `${name} dropped`)
  }
  t.equal(headers['x-kept'], 'yes')
})

test('TE: trailers is passed on', async (t) => {
  const stack = await startStack(t)
  const response = await rawRequest(stack.url, 'GET /api/v1/echo/te HTTP/1.1\r\nHost: localhost\r\nTE: trailers\r\nConnection: close\r\n\r\n')
  t.equal(echoedHeaders(response).te, 'trailers')
})

test('hop-by-hop and Access-Control-* response headers do not reach the client', async (t) => {
  const stack = await startStack(t)
  const response = await rawRequest(stack.url, 'GET /api/v1/test/status/302 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
  t.match(response, /^HTTP\/1\.1 302 /, 'redirect passed through, not followed')
  t.match(response, /\r\nlocation: \/api\/v1\/balances\/current\r\n/i)
  t.notMatch(response, /access-control-allow-origin/i)
  t.notMatch(response, /keep-alive: timeout/i)
  t.equal(stack.mock.requests.filter((r) => r.url === '/api/v1/balances/current').length, 0, 'redirect not followed')
})

test('response headers that Roecny\'s Connection lists do not reach the client; the others do', async (t) => {
  const stack = await startStack(t)
  const target = stack.mock.rawAnswer('HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nX-Kept: 2\r\nContent-Length: 2\r\n\r\nok')
  const response = await rawRequest(stack.url, `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`)
  t.match(response, /^HTTP\/1\.1 200 /)
  t.notMatch(response, /x-hop/i, 'the header Connection names is dropped')
  t.match(response, /\r\nx-kept: 2\r\n/i, 'an end-to-end header is passed on')
  t.match(response, /\r\n\r\nok$/, 'the body is passed on')
})
