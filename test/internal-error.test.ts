import { test } from 'tap'
import { json } from './helpers/http.js'
import { buildTestApp } from './helpers/stack.js'

test('an unforeseen failure answers 500 PROXY_INTERNAL_ERROR in the proxy shape and is logged', async (t) => {
  const built = await buildTestApp(t)
  // A route that fails stands in for any bug in a handler: the error handler is what is under test.
  built.app.get('/-/fails', async function fails () { throw new Error('handler bug') })
  const url = await built.app.listen({ host: '127.0.0.1', port: 0 })
  const res = await json<{ code: string, source: string }>(`${url}/-/fails`)
  t.equal(res.status, 500)
  t.equal(res.body.code, 'PROXY_INTERNAL_ERROR')
  t.equal(res.body.source, 'roecny-auth-proxy')
  t.ok(built.logs.records().some((r) => r.msg === 'request failed'), 'logged for the operator')
  const again = await json(`${url}/-/healthz`)
  t.equal(again.status, 200, 'the process goes on serving')
})
