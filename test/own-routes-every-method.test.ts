// The proxy's own /-/ routes answer every method Node parses: none of them is ever forwarded, whatever follows /-/.
import t from 'tap'
import { FORWARDED_METHODS } from '../src/proxy/target.js'
import { expectProxyError, send, upstreamView } from './helpers/raw.js'
import { startStack } from './helpers/stack.js'

// Target hygiene does not apply under /-/ (nothing there is forwarded), so these must not be forwarded either.
const OWN_TARGETS = ['/-/status', '/-/%5c', '/-/%2e%2e/api/v1/balances/current']

t.test('an extension method on a /-/ path is answered by the proxy, never forwarded', async (t) => {
  const stack = await startStack(t)
  const view = upstreamView(stack.mock)
  for (const method of ['PROPFIND', 'SEARCH', 'MKCOL', 'LOCK', 'PURGE']) {
    expectProxyError(t, await send(stack.url, { method, target: '/-/status' }), 405, 'PROXY_METHOD_NOT_ALLOWED', `${method} /-/status`)
    for (const target of OWN_TARGETS.slice(1)) {
      expectProxyError(t, await send(stack.url, { method, target }), 404, 'PROXY_NOT_FOUND', `${method} ${target}`)
    }
  }
  for (const method of FORWARDED_METHODS) {
    for (const target of OWN_TARGETS) {
      const response = await send(stack.url, { method, target })
      if ((method === 'GET' || method === 'HEAD') && target === '/-/status') continue
      t.ok(response.headers['x-roecny-proxy-error'], `${method} ${target}: the proxy's own answer (${response.status})`)
    }
  }
  view.untouched(t, 'every method on /-/')
})
