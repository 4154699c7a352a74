// PROXY_ALLOW_PATHS / PROXY_DENY_PATHS: matched on the decoded, normalised path; deny wins; no spelling gets around them.
import { test } from 'tap'
import { compilePathPatterns } from '../src/proxy/target-checks.js'
import { expectProxyError, send, upstreamView } from './helpers/raw.js'
import { startStack } from './helpers/stack.js'

test('pattern semantics: * one segment (or part of one), ** any depth, case-insensitive', async (t) => {
  const cases: Array<[string, string[], string[]]> = [
    ['/', ['/'], ['/a']],
    ['/**', ['/', '/a', '/a/b/c'], []],
    ['/api/v1/balances', ['/api/v1/balances', '/API/V1/Balances'], ['/api/v1/balances/x', '/api/v1/balance', '/api/v1/balancesx']],
    ['/api/v1/balances/**', ['/api/v1/balances', '/api/v1/balances/current', '/api/v1/balances/a/b/c'], ['/api/v1/balancesx', '/api/v1', '/api/v2/balances']],
    ['/api/v1/*/status', ['/api/v1/payments/status', '/api/v1/x/status'], ['/api/v1/status', '/api/v1/a/b/status', '/api/v1/payments/statusx']],
    ['/api/*/payments/**', ['/api/v1/payments', '/api/v2/payments/p-1/refunds'], ['/api/payments', '/api/v1/x/payments']],
    ['/api/**/refunds', ['/api/refunds', '/api/v1/refunds', '/api/v1/payments/p-1/refunds'], ['/api/v1/refunds/r-1', '/apirefunds']],
    ['/api/v1/reports/report-*.csv', ['/api/v1/reports/report-2024.csv', '/api/v1/reports/report-.csv'], ['/api/v1/reports/report-2024.json', '/api/v1/reports/x/report-1.csv']],
    ['/api/v1/(a)+[b]$', ['/api/v1/(a)+[b]$'], ['/api/v1/aa[b]', '/api/v1/(a)[b]']]
  ]
  for (const [pattern, matches, misses] of cases) {
    const regexp = compilePathPatterns([pattern]) as RegExp
    for (const path of matches) t.ok(regexp.test(path), `${pattern} matches ${path}`)
    for (const path of misses) t.notOk(regexp.test(path), `${pattern} does not match ${path}`)
  }
  t.equal(compilePathPatterns(undefined), undefined)
  t.equal(compilePathPatterns([]), undefined)
  const both = compilePathPatterns(['/a/**', '/b']) as RegExp
  t.ok(both.test('/a/x') && both.test('/b') && !both.test('/c'), 'a list is one alternation')
})

test('allow and deny lists over the wire: deny wins, and no encoding or spelling gets around them', async (t) => {
  const stack = await startStack(t, {
    config: {
      allowPaths: ['/api/v1/balances/**', '/api/v1/echo/*/status', '/api/v1/echo/open/**'],
      denyPaths: ['/api/v1/balances/secret/**', '/api/v1/echo/open/admin']
    }
  })
  const allowed = [
    '/api/v1/balances/current',
    '/api/v1/balances/current?with=%2Fapi%2Fv1%2Fpayments',
    '/api/v1/echo/x/status',
    '/api/v1/echo/open/a/b/c',
    '/api/v1/echo/open/administrator',
    '/api/v1/echo/open/caf%C3%A9'
  ]
  for (const target of allowed) {
    const before = stack.mock.requests.length
    const response = await send(stack.url, { target })
    t.equal(response.status, 200, target)
    t.equal(stack.mock.requests.length, before + 1, `${target} reached the upstream`)
    t.equal(stack.mock.requests.at(-1)?.url, target, `${target} forwarded as sent`)
  }
  const refused = [
    '/api/v1/payments',
    '/api/v1/payments?next=/api/v1/balances/current',
    '/api/v1/echo/status',
    '/api/v1/echo/a/b/status',
    '/api/v1/echo/x/statusx',
    '/',
    // Deny wins over allow, however the path is spelled.
    '/api/v1/balances/secret',
    '/api/v1/balances/secret/',
    '/api/v1/balances/secret/a/b',
    '/api/v1/balances//secret',
    '/api/v1/balances/secret//',
    '/API/V1/BALANCES/SECRET',
    '/api/v1/balances/%73ecret',
    '/api/v1/balances/%53ECRET/x',
    '/api/v1/balances%2Fsecret',
    '/api/v1/balances/secret;jsessionid=1',
    '/api/v1/balances/secret%3Bx',
    '/api/v1/echo/open/admin',
    '/api/v1/echo/open/ADMIN/',
    '/api/v1/echo/open/%61dmin'
  ]
  for (const target of refused) {
    const view = upstreamView(stack.mock)
    for (const method of ['GET', 'POST']) {
      expectProxyError(t, await send(stack.url, { method, target, body: method === 'POST' ? '{}' : undefined }), 403, 'PROXY_PATH_NOT_ALLOWED', `${method} ${target}`)
    }
    view.untouched(t, target)
  }
})

test('a deny list alone forwards everything else', async (t) => {
  const stack = await startStack(t, { config: { denyPaths: ['/api/v1/echo/payments/**'] } })
  t.equal((await send(stack.url, { target: '/api/v1/echo/anything' })).status, 200)
  const view = upstreamView(stack.mock)
  expectProxyError(t, await send(stack.url, { method: 'POST', target: '/api/v1/echo/payments/p-1/capture', body: '{}' }), 403, 'PROXY_PATH_NOT_ALLOWED', 'denied')
  view.untouched(t, 'denied')
})

test('the policy does not cover the proxy\'s own routes', async (t) => {
  const stack = await startStack(t, { config: { allowPaths: ['/api/v1/balances/current'] } })
  for (const target of ['/-/healthz', '/-/readyz', '/-/status']) t.equal((await send(stack.url, { target })).status, 200, target)
})
