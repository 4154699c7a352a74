import { test } from 'tap'
import { json } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

test('the proxy injects its token and replaces any client credentials', async (t) => {
  const stack = await startStack(t)
  const res = await json<{ headers: Record<string, string> }>(`${stack.url}/api/v1/echo/hello`, {
    headers: {
      authorization: 'Bearer client-supplied',
      'x-api-key': 'client-key',
      'x-client-id': 'client-id',
      'x-proxy-key': 'proxy-key',
      'x-custom': 'kept'
    }
  })
  t.equal(res.status, 200)
  const token = stack.mock.issuedTokens[0]
  t.ok(token)
  t.equal(res.body.headers.authorization, `Bearer ${token}`)
  t.equal(res.body.headers['x-api-key'], undefined)
  t.equal(res.body.headers['x-client-id'], undefined)
  t.equal(res.body.headers['x-proxy-key'], undefined)
  t.equal(res.body.headers['x-custom'], 'kept')
  t.equal(res.body.headers.host, new URL(stack.mock.url).host, 'Host is the upstream')
  t.same(Object.keys(res.body.headers).filter((h) => h.startsWith('x-forwarded')), [], 'no X-Forwarded-*')
})

test('an app needs no auth code: the balances route answers through the proxy', async (t) => {
  const stack = await startStack(t)
  const res = await json<Array<{ currency: string }>>(`${stack.url}/api/v1/balances/current`)
  t.equal(res.status, 200)
  t.equal(res.body[0]?.currency, 'USD')
  t.equal(stack.mock.logins.length, 1)
})

test('a base URL with a path prefix is kept', async (t) => {
  const stack = await startStack(t, { mock: { pathPrefix: '/gateway/roecny' }, baseUrlSuffix: '/gateway/roecny' })
  const res = await json<{ url: string, path: string }>(`${stack.url}/api/v1/echo/x?q=1`)
  t.equal(res.status, 200)
  t.equal(res.body.url, '/gateway/roecny/api/v1/echo/x?q=1')
  t.equal(stack.mock.logins[0]?.url, '/gateway/roecny/api/v1/authentication/login')
})
