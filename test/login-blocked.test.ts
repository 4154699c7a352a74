// POST to the login path through the proxy is refused (SPEC §5) in every spelling a common server maps to it, and nothing reaches Roecny.
import { test } from 'tap'
import { expectProxyError, send, upstreamView } from './helpers/raw.js'
import { startStack } from './helpers/stack.js'

/** Spellings that Java servlet containers, Spring, nginx or a decoding router route to the login endpoint. */
const BLOCKED: Array<[string, string]> = [
  ['as written', '/api/v1/authentication/login'],
  ['with a query', '/api/v1/authentication/login?x=1'],
  ['trailing slash', '/api/v1/authentication/login/'],
  ['two trailing slashes', '/api/v1/authentication/login//'],
  ['doubled slash inside', '/api/v1//authentication/login'],
  ['upper case', '/API/V1/AUTHENTICATION/LOGIN'],
  ['mixed case', '/api/v1/Authentication/Login'],
  ['percent-encoded letter', '/api/v1/authentication/%6Cogin'],
  ['percent-encoded upper-case letter', '/api/v1/authentication/%4COGIN'],
  ['percent-encoded slash', '/api/v1/authentication%2Flogin'],
  ['percent-encoded slash, lower case', '/api/v1%2fauthentication/login'],
  ['path parameter on the last segment', '/api/v1/authentication/login;x=1'],
  ['empty path parameter', '/api/v1/authentication/login;'],
  ['jsessionid parameter', '/api/v1/authentication/login;jsessionid=0123ABCD'],
  ['path parameter on the first segment', '/api;x=1/v1/authentication/login'],
  ['path parameter on a middle segment', '/api/v1/authentication;a=b/login'],
  ['path parameters on every segment', '/api;a/v1;b/authentication;c/login;d'],
  ['path parameter then a trailing slash', '/api/v1/authentication/login;x=1/'],
  ['percent-encoded semicolon', '/api/v1/authentication/login%3Bx=1'],
  ['percent-encoded semicolon, lower case', '/api/v1/authentication/login%3bx'],
  ['percent-encoded semicolon on a middle segment', '/api/v1%3Bx/authentication/login'],
  ['file suffix (suffix pattern matching)', '/api/v1/authentication/login.json'],
  ['file suffix and a path parameter', '/api/v1/authentication/Login.do;x=1']
]

/** Spellings with a dot segment: the target scan refuses them as malformed before any path rule runs. */
const MALFORMED: Array<[string, string]> = [
  ['. segment', '/api/v1/./authentication/login'],
  ['.. segment', '/api/v1/x/../authentication/login'],
  ['trailing . segment', '/api/v1/authentication/login/.'],
  ['..;/ (parameters cut, then resolved)', '/api/v1/x/..;/authentication/login'],
  ['.;x segment', '/api/v1/.;x/authentication/login'],
  ['escaped . segment', '/api/v1/%2e/authentication/login'],
  ['escaped .. segment with an escaped semicolon', '/api/v1/x/%2e%2e%3B/authentication/login'],
  ['..%3B segment', '/api/v1/x/..%3Bx/authentication/login'],
  ['leading doubled slash', '//api/v1/authentication/login'],
  ['backslash', '/api/v1/authentication\\login']
]

test('login-path spellings', async (t) => {
  const stack = await startStack(t)
  const body = '{}'
  const headers = { 'content-type': 'application/json', 'x-client-id': 'someone', 'x-api-key': 'something' }

  for (const [name, target] of BLOCKED) {
    t.test(`refused as the login path: ${name}`, async (t) => {
      const view = upstreamView(stack.mock)
      expectProxyError(t, await send(stack.url, { method: 'POST', target, headers, body }), 403, 'PROXY_LOGIN_BLOCKED', target)
      view.untouched(t, target)
    })
  }

  for (const [name, target] of MALFORMED) {
    t.test(`refused as malformed: ${name}`, async (t) => {
      const view = upstreamView(stack.mock)
      expectProxyError(t, await send(stack.url, { method: 'POST', target, headers, body }), 400, 'PROXY_BAD_REQUEST', target)
      view.untouched(t, target)
    })
  }

  t.test('only the proxy itself logged in', async (t) => {
    t.equal(stack.mock.logins.length, 1)
  })
})

test('only POST is blocked: other methods on the login path, and paths that merely resemble it, are forwarded', async (t) => {
  const stack = await startStack(t)
  for (const [method, target] of [
    ['GET', '/api/v1/authentication/login'],
    ['PUT', '/api/v1/authentication/login'],
    ['POST', '/api/v1/authentication/logins'],
    ['POST', '/api/v1/authentication/login-history'],
    ['POST', '/api/v1/authentication/loginx.json'],
    ['POST', '/api/v1/authentication/log'],
    ['POST', '/api/v2/authentication/login'],
    ['POST', '/api/v1/authentication/login/sessions'],
    ['POST', '/api/v1/authentication/login%2Fsessions']
  ] as const) {
    const before = stack.mock.requests.length
    const response = await send(stack.url, { method, target, body: method === 'GET' ? undefined : '{}' })
    t.equal(response.status, 404, `${method} ${target}: the upstream's own answer`)
    t.equal(stack.mock.requests.length, before + 1, `${method} ${target} reached the upstream`)
    t.equal(stack.mock.requests.at(-1)?.url, target, `${method} ${target} forwarded as sent`)
  }
  t.equal(stack.mock.logins.length, 1, 'none of them was a login')
})
