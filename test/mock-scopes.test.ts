// The mock binds each token to its login's account, scope and login-as, and answers 403 where the scope does not cover the request.
import { test } from 'tap'
import { json } from './helpers/http.js'
import { DEMO_API_KEY, DEMO_CLIENT_ID, LOGIN_PATH, scopeCovers, startMockRoecny } from '../src/mock/roecny.js'
import type { MockRoecny } from '../src/mock/roecny.js'

const READ_BALANCES = 'r:awx_action:balances_view'
const PAY = 'w:awx_action:transfers_create r:awx_action:balances_view'

async function login (mock: MockRoecny, headers: Record<string, string>): Promise<string> {
  const res = await json<{ token: string }>(`${mock.url}${LOGIN_PATH}`, { method: 'POST', headers })
  if (res.status !== 200) throw new Error(`login answered ${res.status}`)
  return res.body.token
}

function claims (token: string): { sub: string } {
  return JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as { sub: string }
}

test('the scope rule of the mock', async (t) => {
  const rows: Array<[scope: string | undefined, method: string, path: string, covered: boolean, why: string]> = [
    [undefined, 'DELETE', '/api/v1/anything', true, 'no scope: every right'],
    [READ_BALANCES, 'GET', '/api/v1/balances/current', true, 'r reads its resource'],
    [READ_BALANCES, 'HEAD', '/api/v1/balances', true, 'the resource itself, and HEAD'],
    [READ_BALANCES, 'POST', '/api/v1/balances/current', false, 'r does not write'],
    [READ_BALANCES, 'GET', '/api/v1/balancesx', false, 'a whole segment only'],
    [READ_BALANCES, 'GET', '/api/v1/transfers/create', false, 'another resource'],
    [PAY, 'POST', '/api/v1/transfers/create', true, 'w writes its resource'],
    [PAY, 'GET', '/api/v1/transfers/123', true, 'w reads it too'],
    [PAY, 'GET', '/api/v1/balances/current', true, 'the second word'],
    ['r:awx_action:global_accounts_view', 'GET', '/api/v1/global_accounts/1', true, 'a resource with an underscore'],
    ['balances', 'GET', '/api/v1/balances/current', false, 'a word not in the form covers nothing'],
    ['', 'GET', '/api/v1/balances/current', false, 'an empty scope (never sent by the mock\'s own logins) covers nothing']
  ]
  for (const [scope, method, path, covered, why] of rows) t.equal(scopeCovers(scope, method, path), covered, why)
})

test('each token carries its login\'s account, scope and login-as; Roecny-style 403 outside the scope', async (t) => {
  const mock = await startMockRoecny({ faultRoutes: true })
  t.teardown(mock.close)
  mock.acceptedCredentials.push({ clientId: 'payments-client', apiKey: 'payments-key' })
  const reporting = await login(mock, { 'x-client-id': DEMO_CLIENT_ID, 'x-api-key': DEMO_API_KEY, scope: READ_BALANCES })
  const payments = await login(mock, { 'x-client-id': 'payments-client', 'x-api-key': 'payments-key', scope: PAY, 'x-login-as': 'acct-42' })
  const full = await login(mock, { 'x-client-id': DEMO_CLIENT_ID, 'x-api-key': DEMO_API_KEY, scope: ' ' })

  t.same(mock.grantOf(reporting), { clientId: DEMO_CLIENT_ID, scope: READ_BALANCES, loginAs: undefined })
  t.same(mock.grantOf(payments), { clientId: 'payments-client', scope: PAY, loginAs: 'acct-42' })
  t.same(mock.grantOf(full), { clientId: DEMO_CLIENT_ID, scope: undefined, loginAs: undefined }, 'a blank scope is no scope')
  t.equal(mock.grantOf('not-issued'), undefined)
  t.same([claims(reporting).sub, claims(payments).sub], [DEMO_CLIENT_ID, 'payments-client'], 'the JWT names the login\'s account')

  const as = (token: string): { authorization: string } => ({ authorization: `Bearer ${token}` })
  const read = await json(`${mock.url}/api/v1/balances/current`, { headers: as(reporting) })
  t.equal(read.status, 200, 'the reporting token reads balances')
  t.same(mock.requests.at(-1)?.grant, mock.grantOf(reporting), 'the request records what its token was issued for')

  const refused = await json<{ code: string, message: string }>(`${mock.url}/api/v1/transfers/create`, { method: 'POST', headers: as(reporting), body: '{}' })
  t.equal(refused.status, 403, 'the reporting token is refused on a transfer path')
  t.same(refused.body, { code: 'insufficient_scope', message: 'The access token\'s scope does not cover this request' })
  t.equal(mock.requests.at(-1)?.grant?.scope, READ_BALANCES)

  const paid = await json<{ status: string, bodyBytes: number }>(`${mock.url}/api/v1/transfers/create`, { method: 'POST', headers: as(payments), body: '{"amount":1}' })
  t.equal(paid.status, 201, 'the paying token creates a transfer')
  t.match(paid.body, { status: 'PENDING', bodyBytes: 12 })
  t.equal(mock.requests.at(-1)?.grant?.loginAs, 'acct-42')

  t.equal((await json(`${mock.url}/api/v1/echo/x`, { headers: as(payments) })).status, 403, 'echo is outside the paying scope')
  t.equal((await json(`${mock.url}/api/v1/echo/x`, { headers: as(full) })).status, 200, 'an unscoped token goes everywhere')
  t.equal((await json(`${mock.url}/api/v1/transfers/create`, { headers: as(full) })).status, 404, 'a transfer is created by POST only')

  const unknown = await json(`${mock.url}/api/v1/balances/current`, { headers: as('forged') })
  t.equal(unknown.status, 401)
  t.equal(mock.requests.at(-1)?.grant, undefined, 'no grant for a token the mock never issued')
})
