import { test } from 'tap'
import { json } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

test('at trace level no log line holds a token, a key or a credential header', async (t) => {
  const stack = await startStack(t, { config: { logLevel: 'trace', apiKey: 'api-key-3f9a7c', clientId: 'client-id-77b1' }, mock: { apiKey: 'api-key-3f9a7c', clientId: 'client-id-77b1' } })
  const secretHeaders = {
    authorization: 'Bearer client-secret-token-aa11',
    'x-api-key': 'client-header-key-bb22',
    'x-proxy-key': 'access-key-cc33',
    cookie: 'session=cookie-secret-dd44'
  }
  await json(`${stack.url}/api/v1/echo/a?q=1`, { headers: secretHeaders })
  stack.mock.revokeAll()
  await json(`${stack.url}/api/v1/balances/current`, { headers: secretHeaders })
  await json(`${stack.url}/api/v1/echo/b`, { method: 'POST', body: '{}', headers: secretHeaders })
  await json(`${stack.url}/api/v1/authentication/login`, { method: 'POST', headers: secretHeaders })
  await json(`${stack.url}/-/status`, { headers: secretHeaders })
  await stack.close()

  const secrets = [
    'api-key-3f9a7c',
    ...stack.mock.issuedTokens,
    ...Object.values(secretHeaders).map((v) => v.replace(/^Bearer |^session=/, ''))
  ]
  t.ok(stack.mock.issuedTokens.length >= 2, 'logins happened, so tokens existed to leak')
  t.ok(stack.logs.lines.length > 10, 'trace logging produced lines')
  for (const secret of secrets) {
    const leaks = stack.logs.lines.filter((line) => line.includes(secret))
    t.same(leaks, [], `no line holds ${secret.slice(0, 6)}…`)
  }
  const requests = stack.logs.records().filter((r) => r.msg === 'request')
  t.ok(requests.length >= 4, 'one line per request')
  for (const line of requests) {
    t.notOk(String(line.path).includes('?'), 'path logged without query')
    t.type(line.durationMs, 'number')
    t.ok(line.reqId, 'request id logged')
  }
})
