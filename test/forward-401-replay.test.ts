import { test } from 'tap'
import { json } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

test('an upstream 401 retires the token; a GET is replayed once with a new one', async (t) => {
  const stack = await startStack(t)
  stack.mock.revokeAll()
  const res = await json<Array<{ currency: string }>>(`${stack.url}/api/v1/balances/current`)
  t.equal(res.status, 200, 'the client never saw the 401')
  t.equal(res.headers['www-authenticate'], undefined, 'no header of the 401 leaks into the replayed answer')
  t.equal(stack.mock.logins.length, 2, 'exactly one new login')
  const sent = stack.mock.requests.map((r) => r.headers.authorization)
  t.equal(sent.length, 2)
  t.not(sent[0], sent[1], 'the replay carried the new token')
})

test('a request with a body gets the 401, and the next one uses a new token', async (t) => {
  const stack = await startStack(t)
  stack.mock.revokeAll()
  const res = await json<{ code: string }>(`${stack.url}/api/v1/echo/post`, { method: 'POST', body: '{"amount":1}', headers: { 'content-type': 'application/json' } })
  t.equal(res.status, 401)
  t.equal(res.body.code, 'unauthorized', "Roecny's own error, untouched")
  const next = await json(`${stack.url}/api/v1/echo/post`, { method: 'POST', body: '{}' })
  t.equal(next.status, 200)
  t.equal(stack.mock.logins.length, 2)
})

test('a replay that gets 401 again is passed to the client, not replayed twice', async (t) => {
  const stack = await startStack(t)
  // Every token the mock issues from now on is unknown to its API.
  stack.mock.defaultLogin = { token: 'not-a-known-token' }
  stack.mock.revokeAll()
  const res = await json<{ code: string }>(`${stack.url}/api/v1/balances/current`)
  t.equal(res.status, 401)
  t.equal(stack.mock.requests.length, 2, 'one try, one replay')
})

test('a 401 to a request that carried an old token does not start another login', async (t) => {
  const stack = await startStack(t)
  stack.mock.revokeAll()
  await Promise.all([
    json(`${stack.url}/api/v1/balances/current`),
    json(`${stack.url}/api/v1/balances/current`),
    json(`${stack.url}/api/v1/balances/current`)
  ])
  t.equal(stack.mock.logins.length, 2, 'three 401s with the same token, one login')
})

test('a GET whose 401 is followed by a failed login gets 503 PROXY_TOKEN_UNAVAILABLE', async (t) => {
  const stack = await startStack(t)
  stack.mock.revokeAll()
  stack.mock.loginQueue.push({ status: 500 })
  const res = await json<{ code: string }>(`${stack.url}/api/v1/balances/current`)
  t.equal(res.status, 503)
  t.equal(res.body.code, 'PROXY_TOKEN_UNAVAILABLE')
  t.ok(Number(res.headers['retry-after']) >= 1)
  t.equal(res.headers['www-authenticate'], undefined, 'nothing of the 401 reaches the client')
})
