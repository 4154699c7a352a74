import { test } from 'tap'
import { request } from 'undici'
import { json } from './helpers/http.js'
import { ManualClock } from './helpers/manual-clock.js'
import { startStack } from './helpers/stack.js'
import { until } from './helpers/until.js'

test('shutdown: readiness fails at once, serving goes on for the delay, in-flight requests finish', async (t) => {
  const clock = new ManualClock()
  const stack = await startStack(t, { clock, mock: { now: () => clock.wallNow() }, config: { shutdownDelayMs: 5000, shutdownTimeoutMs: 20_000 } })
  const inFlight = request(`${stack.url}/api/v1/test/held`)
  await until(() => stack.mock.held.length > 0, 'the request to be held at the mock')

  const stopped = stack.proxy.shutdown()
  const ready = await json<{ reason: string }>(`${stack.url}/-/readyz`)
  t.equal(ready.status, 503, 'readiness fails at once')
  t.equal(ready.body.reason, 'draining')
  const during = await json(`${stack.url}/api/v1/balances/current`)
  t.equal(during.status, 200, 'requests are still served during SHUTDOWN_DELAY_MS')

  await clock.advance(5000)
  stack.mock.releaseHeld()
  const res = await inFlight
  t.equal(res.statusCode, 200, 'the in-flight request finished')
  t.same(await res.body.json(), { released: true })
  await stopped
  t.equal(stack.proxy.app.server.listening, false, 'the listener is closed')
  t.ok(stack.logs.records().some((r) => r.msg === 'stopped'))
})

test('shutdown: requests still in flight after SHUTDOWN_TIMEOUT_MS are cut off', async (t) => {
  const clock = new ManualClock()
  const stack = await startStack(t, { clock, mock: { now: () => clock.wallNow() }, config: { shutdownDelayMs: 0, shutdownTimeoutMs: 1000 } })
  const inFlight = request(`${stack.url}/api/v1/test/held`)
  await until(() => stack.mock.held.length > 0, 'the request to be held at the mock')
  const stopped = stack.proxy.shutdown()
  t.equal(stack.proxy.shutdown(), stopped, 'a second call joins the first')
  const cut = t.rejects(inFlight, 'the connection was closed')
  await clock.advance(1000)
  await cut
  await stopped
  t.ok(stack.logs.records().some((r) => String(r.msg).includes('did not finish within SHUTDOWN_TIMEOUT_MS')))
})
