import { test } from 'tap'
import { json } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

test('POST to the login path through the proxy is refused in every spelling', async (t) => {
  const stack = await startStack(t)
  for (const path of [
    '/api/v1/authentication/login',
    '/api/v1/authentication/login/',
    '/API/V1/Authentication/Login',
    '/api/v1//authentication/login',
    '/api/v1/authentication/%6Cogin',
    '/api/v1/authentication/login?x=1'
  ]) {
    const res = await json<{ code: string }>(`${stack.url}${path}`, { method: 'POST', headers: { 'x-client-id': 'a', 'x-api-key': 'b' } })
    t.equal(res.status, 403, path)
    t.equal(res.body.code, 'PROXY_LOGIN_BLOCKED', path)
  }
  t.equal(stack.mock.logins.length, 1, 'only the proxy itself logged in')
})
