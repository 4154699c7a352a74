// UPSTREAM_RATE_LIMIT / UPSTREAM_RATE_BURST: starts toward Roecny stay within the token bucket, on the injected clock.
import { test } from 'tap'
import { get } from './helpers/http.js'
import { limitStatus } from './helpers/limits.js'
import { MANUAL_CLOCK_START, ManualClock } from './helpers/manual-clock.js'
import { startStack } from './helpers/stack.js'
import { until } from './helpers/until.js'

test('a burst starts at once, then one request every 1/rate seconds, first in first out', async (t) => {
  const clock = new ManualClock()
  const stack = await startStack(t, { config: { upstreamRateLimit: 5, upstreamRateBurst: 3 }, clock, mock: { now: clock.wallNow } })
  const answers: Array<Promise<{ status: number }>> = []
  for (let i = 0; i < 8; i++) {
    answers.push(get(`${stack.url}/api/v1/echo/${i}`))
    // One at a time, so they queue in a known order.
    await until(async function queuedOrSent () { return stack.mock.requests.length + (await limitStatus(stack.url)).queued === i + 1 }, `request ${i} sent or queued`)
  }
  t.equal(stack.mock.requests.length, 3, 'the burst went at once')
  for (let sent = 4; sent <= 8; sent++) {
    await clock.advance(199)
    t.equal(stack.mock.requests.length, sent - 1, `not before ${sent - 3} × 200 ms`)
    await clock.advance(1)
    await until(() => stack.mock.requests.length === sent, `request ${sent} at the mock`)
  }
  t.same((await Promise.all(answers)).map((a) => a.status), Array(8).fill(200))
  const arrivals = stack.mock.requests.map((r) => r.arrivedAt - MANUAL_CLOCK_START)
  t.same(arrivals, [0, 0, 0, 200, 400, 600, 800, 1000])
  t.same(stack.mock.requests.map((r) => r.url), [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `/api/v1/echo/${i}`), 'in order')
  // The bucket's promise: in any window of a second, at most burst + rate starts.
  for (const start of arrivals) t.ok(arrivals.filter((a) => a >= start && a < start + 1000).length <= 3 + 5)
})

test('after a quiet spell the bucket holds the burst, no more', async (t) => {
  const clock = new ManualClock()
  const stack = await startStack(t, { config: { upstreamRateLimit: 2, upstreamRateBurst: 2 }, clock, mock: { now: clock.wallNow } })
  await clock.advance(60_000)
  const answers = Array.from({ length: 4 }, (_, i) => get(`${stack.url}/api/v1/echo/${i}`))
  await until(async () => (await limitStatus(stack.url)).queued === 2, 'two requests queued')
  t.equal(stack.mock.requests.length, 2, 'a minute of quiet saved up two starts, not 120')
  await clock.advance(1000)
  await Promise.all(answers)
  t.same(stack.mock.requests.map((r) => r.arrivedAt - MANUAL_CLOCK_START), [60_000, 60_000, 60_500, 61_000])
})
