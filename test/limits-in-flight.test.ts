// UPSTREAM_MAX_IN_FLIGHT: Roecny never sees more at once, and a slot comes back however its exchange ends.
import { test } from 'tap'
import { request } from 'undici'
import type { LimiterStatus } from '../src/limits/limiter.js'
import { get, json } from './helpers/http.js'
import { limitStatus, untilLimits } from './helpers/limits.js'
import { ManualClock } from './helpers/manual-clock.js'
import { startStack } from './helpers/stack.js'
import { until } from './helpers/until.js'

test('Roecny never sees more than UPSTREAM_MAX_IN_FLIGHT requests at once; the rest wait and then go, in order', async (t) => {
  const clock = new ManualClock()
  const stack = await startStack(t, { config: { upstreamMaxInFlight: 2 }, clock })
  const answers = Array.from({ length: 6 }, (_, i) => get(`${stack.url}/api/v1/test/held?n=${i}`))
  await untilLimits(stack.url, (s) => s.queued === 4 && s.inFlight === 2)
  t.equal(stack.mock.requests.length, 2, 'two reached Roecny')
  t.equal(stack.mock.inFlight, 2)
  for (const expected of [4, 6]) {
    stack.mock.releaseHeld()
    await until(() => stack.mock.requests.length === expected && stack.mock.held.length === expected, `${expected} requests held at the mock`)
    t.equal(stack.mock.inFlight, 2, `${expected} reached Roecny, never more than two at a time`)
  }
  stack.mock.releaseHeld()
  t.same((await Promise.all(answers)).map((a) => a.status), [200, 200, 200, 200, 200, 200])
  t.equal(stack.mock.peakInFlight, 2)
  t.same(stack.mock.requests.map((r) => r.url), [0, 1, 2, 3, 4, 5].map((i) => `/api/v1/test/held?n=${i}`), 'first in, first out')
  await untilLimits(stack.url, (s) => s.inFlight === 0 && s.queued === 0)
})

test('a slot comes back however the exchange ends, and only once', async (t) => {
  const clock = new ManualClock()
  const stack = await startStack(t, { config: { upstreamMaxInFlight: 1, upstreamTimeoutMs: 150 }, clock })
  const idle = (s: LimiterStatus): boolean => s.inFlight === 0 && s.queued === 0

  const body = await get(`${stack.url}/api/v1/test/bytes/300000`)
  t.equal(body.body.length, 300000, 'an answer whose body streamed to its end')
  await untilLimits(stack.url, idle)

  t.equal((await json<{ code: string }>(`${stack.url}/api/v1/test/reset`)).body.code, 'PROXY_UPSTREAM_UNREACHABLE', 'an upstream error')
  await untilLimits(stack.url, idle)

  t.equal((await json<{ code: string }>(`${stack.url}/api/v1/test/hang`)).body.code, 'PROXY_UPSTREAM_TIMEOUT', 'an upstream timeout')
  await untilLimits(stack.url, idle)

  const cut = await request(`${stack.url}/api/v1/test/reset-mid-body`)
  await t.rejects(cut.body.arrayBuffer(), 'an upstream that died mid-body')
  await untilLimits(stack.url, idle)

  const controller = new AbortController()
  const gone = request(`${stack.url}/api/v1/test/held`, { signal: controller.signal })
  await until(() => stack.mock.held.length === 1, 'the request held at the mock')
  controller.abort()
  await t.rejects(gone, 'a client that went away while its request was with Roecny')
  await untilLimits(stack.url, idle)

  stack.mock.revokeAll()
  const replayed = await get(`${stack.url}/api/v1/balances/current`)
  t.equal(replayed.status, 200, 'a 401 replay runs on the request\'s own slot (with a cap of 1 it could not wait for another)')
  await untilLimits(stack.url, idle)

  const status = await limitStatus(stack.url)
  t.equal(status.inFlight, 0, 'never below zero: no slot was released twice')
  const after = await Promise.all([get(`${stack.url}/api/v1/test/held`), until(() => stack.mock.inFlight === 1, 'the last request at the mock').then(() => stack.mock.releaseHeld())])
  t.equal(after[0].status, 200, 'the one slot still works')
  t.equal(stack.mock.peakInFlight, 1)
})

test('logins are not counted: the proxy logs in while every slot is taken', async (t) => {
  const clock = new ManualClock()
  const stack = await startStack(t, { config: { upstreamMaxInFlight: 1 }, clock })
  const held = get(`${stack.url}/api/v1/test/held`)
  await until(() => stack.mock.held.length === 1, 'the request held at the mock')
  stack.proxy.tokens.invalidate(stack.mock.issuedTokens[0] as string)
  await until(() => stack.proxy.tokens.current() !== undefined, 'a new token')
  t.equal(stack.mock.logins.length, 2, 'the login went out beside the request in flight')
  stack.mock.releaseHeld()
  t.equal((await held).status, 200)
})
