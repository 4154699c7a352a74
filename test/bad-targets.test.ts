import { test } from 'tap'
import { rawRequest } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

test('malformed percent-escapes get 400 PROXY_BAD_REQUEST and reach nothing', async (t) => {
  const stack = await startStack(t)
  for (const target of ['/api/v1/echo/%zz', '/api/v1/authentication/%E0%A4%A', '/-/%zz']) {
    for (const method of ['GET', 'POST']) {
      const response = await rawRequest(stack.url, `${method} ${target} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)
      t.match(response, /^HTTP\/1\.1 400 /, `${method} ${target}`)
      t.match(response, /x-roecny-proxy-error: PROXY_BAD_REQUEST/)
      t.match(response, /"source":"roecny-auth-proxy"/)
    }
  }
  t.equal(stack.mock.requests.length, 0, 'Roecny received nothing')
})

test('a dot-dot segment hidden in escapes gets 400 PROXY_BAD_REQUEST', async (t) => {
  const stack = await startStack(t)
  const response = await rawRequest(stack.url, 'GET /api/v1/echo/%2e%2e/%2e%2e/admin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
  t.match(response, /^HTTP\/1\.1 400 /)
  t.match(response, /x-roecny-proxy-error: PROXY_BAD_REQUEST/)
  t.equal(stack.mock.requests.length, 0)
})

test('absolute-form and asterisk-form targets are not forwarded', async (t) => {
  const stack = await startStack(t)
  for (const line of ['GET http://evil.example/api/v1/balances/current HTTP/1.1', 'OPTIONS * HTTP/1.1']) {
    const response = await rawRequest(stack.url, `${line}\r\nHost: localhost\r\nConnection: close\r\n\r\n`)
    t.match(response, /^HTTP\/1\.1 400 /, line)
    t.match(response, /x-roecny-proxy-error: PROXY_BAD_REQUEST/, line)
  }
  t.equal(stack.mock.requests.length, 0, 'Roecny received nothing')
})
