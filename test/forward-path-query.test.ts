import { test } from 'tap'
import { json, rawRequest } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

function echoedUrl (response: string): string {
  return (JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as { url: string }).url
}

test('path and query reach Roecny byte for byte', async (t) => {
  const stack = await startStack(t)
  // Raw requests: a client library would re-encode some of these targets before sending.
  for (const target of [
    '/api/v1/echo/a?a=%2F&b=1&b=2;c',
    "/api/v1/echo/O'Brien?name=O'Brien&x=%zz-not-decoded&empty=&&",
    '/api/v1/echo/caf%C3%A9/%20space?q=caf%C3%A9+au+lait',
    '/api/v1/echo/a%2Fb',
    '/api/v1/echo/trailing/',
    '/api/v1/echo/q?a=1?b=2&c=%3D'
  ]) {
    const response = await rawRequest(stack.url, `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`)
    t.match(response, /^HTTP\/1\.1 200 /, target)
    t.equal(echoedUrl(response), target, `forwarded as sent: ${target}`)
  }
})

test('a long path is forwarded, not cut', async (t) => {
  const stack = await startStack(t)
  const target = '/api/v1/echo/' + 'segment/'.repeat(200) + 'end'
  const res = await json<{ url: string }>(`${stack.url}${target}`)
  t.equal(res.body.url, target)
})

test('every method is forwarded; TRACE and CONNECT are not', async (t) => {
  const stack = await startStack(t)
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'PROPFIND', 'REPORT', 'SEARCH']) {
    const res = await json<{ method: string }>(`${stack.url}/api/v1/echo/m`, { method })
    t.equal(res.body.method, method, method)
  }
  const head = await rawRequest(stack.url, 'HEAD /api/v1/echo/m HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
  t.match(head, /^HTTP\/1\.1 200 /)
  const before = stack.mock.requests.length
  const trace = await json<{ code: string }>(`${stack.url}/api/v1/echo/m`, { method: 'TRACE' })
  t.equal(trace.status, 405)
  t.equal(trace.body.code, 'PROXY_METHOD_NOT_ALLOWED')
  const connect = await rawRequest(stack.url, 'CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n')
  t.notMatch(connect, /^HTTP\/1\.1 200 /, 'CONNECT opens no tunnel')
  t.equal(stack.mock.requests.length, before, 'neither reached Roecny')
})
