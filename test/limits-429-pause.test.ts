// Roecny's 429 goes to its client unchanged and holds every new request: for its Retry-After, else 1 s doubling to 16 s.
import { test } from 'tap'
import type { Test } from 'tap'
import { get, json } from './helpers/http.js'
import { limitStatus, untilLimits } from './helpers/limits.js'
import { MANUAL_CLOCK_START, ManualClock } from './helpers/manual-clock.js'
import { scrape } from './helpers/metrics.js'
import { startStack } from './helpers/stack.js'
import type { Stack } from './helpers/stack.js'
import { until } from './helpers/until.js'

async function limitedStack (t: Test, random = 0): Promise<{ stack: Stack, clock: ManualClock }> {
  const clock = new ManualClock({ random })
  const stack = await startStack(t, { config: { upstreamMaxInFlight: 10 }, clock, mock: { now: clock.wallNow, setTimer: clock.setTimer } })
  return { stack, clock }
}

test('a 429 with Retry-After reaches its client unchanged and holds new requests until it has passed', async (t) => {
  const { stack, clock } = await limitedStack(t, 0.5)
  stack.mock.apiQueue.push({ status: 429, headers: { 'retry-after': '2', 'x-ratelimit-scope': 'account' } })
  const throttled = await json<{ code: string }>(`${stack.url}/api/v1/echo/first`)
  t.equal(throttled.status, 429)
  t.equal(throttled.body.code, 'too_many_requests', 'Roecny\'s own body')
  t.equal(throttled.headers['retry-after'], '2')
  t.equal(throttled.headers['x-ratelimit-scope'], 'account')
  t.equal(throttled.headers['x-roecny-proxy-error'], undefined, 'not an error of the proxy')

  t.match(await limitStatus(stack.url), { pause: { remainingMs: 2200, cause: 'retry-after', consecutive429s: 1, until: new Date(MANUAL_CLOCK_START + 2200).toISOString() } },
    '2 s and up to a fifth more of jitter (here a tenth)')
  const held = [get(`${stack.url}/api/v1/echo/second`), get(`${stack.url}/api/v1/echo/third`)]
  await untilLimits(stack.url, (s) => s.queued === 2)
  await clock.advance(2199)
  t.equal(stack.mock.requests.length, 1, 'nothing reached Roecny during the pause')
  await clock.advance(1)
  t.same((await Promise.all(held)).map((r) => r.status), [200, 200])
  t.same(stack.mock.requests.map((r) => [r.url, r.arrivedAt - MANUAL_CLOCK_START]), [['/api/v1/echo/first', 0], ['/api/v1/echo/second', 2200], ['/api/v1/echo/third', 2200]])

  const lines = stack.logs.records().filter((r) => r.component === 'limits')
  t.match(lines, [
    { level: 'info', msg: 'Roecny answered 429: requests to it are held', pauseMs: 2200, cause: 'retry-after', consecutive429s: 1 },
    { level: 'info', msg: 'pause over: requests to Roecny resume', queued: 2 }
  ])
  t.equal(lines.length, 2, 'one line when the pause starts, one when it ends')
  const metrics = await scrape(stack.url)
  t.equal(metrics.value('roecny_proxy_upstream_pauses_total', { cause: 'retry_after' }), 1)
  t.equal(metrics.value('roecny_proxy_upstream_pause_seconds'), 0)
})

test('a Retry-After date is read against the 429\'s own Date; one beyond 60 s holds 60 s', async (t) => {
  const { stack, clock } = await limitedStack(t)
  const serverNow = Date.UTC(2031, 5, 1)
  stack.mock.apiQueue.push({ status: 429, headers: { date: new Date(serverNow).toUTCString(), 'retry-after': new Date(serverNow + 7000).toUTCString() } })
  t.equal((await get(`${stack.url}/api/v1/echo/1`)).status, 429)
  t.equal((await limitStatus(stack.url)).pause?.remainingMs, 7000, 'the proxy\'s clock, six years off, does not matter')
  await clock.advance(7000)
  stack.mock.apiQueue.push({ status: 429, headers: { 'retry-after': '86400' } })
  t.equal((await get(`${stack.url}/api/v1/echo/2`)).status, 429)
  t.equal((await limitStatus(stack.url)).pause?.remainingMs, 60_000)
  const scraped = await scrape(stack.url)
  t.equal(scraped.value('roecny_proxy_upstream_pause_seconds'), 60)
  // The default wait (10 s) is shorter than this pause: a request waiting that long is told how much is left.
  const waiting = json<{ code: string }>(`${stack.url}/api/v1/echo/3`)
  await untilLimits(stack.url, (s) => s.queued === 1)
  await clock.advance(10_000)
  const refused = await waiting
  t.equal(refused.body.code, 'PROXY_RATE_LIMITED')
  t.equal(refused.headers['retry-after'], '50')
  await clock.advance(49_999)
  t.equal((await limitStatus(stack.url)).pause?.remainingMs, 1)
  await clock.advance(1)
  t.equal((await get(`${stack.url}/api/v1/echo/4`)).status, 200)
  t.same(stack.mock.requests.map((r) => r.url), ['/api/v1/echo/1', '/api/v1/echo/2', '/api/v1/echo/4'])
})

test('without Retry-After: 1 s, then 2 s, 4 s over 429s in a row; an answer of another status starts over', async (t) => {
  const { stack, clock } = await limitedStack(t)
  const pauses: number[] = []
  for (const status of [429, 429, 429, 200, 429]) {
    if (status === 429) stack.mock.apiQueue.push({ status: 429 })
    t.equal((await get(`${stack.url}/api/v1/echo/x`)).status, status)
    const pause = (await limitStatus(stack.url)).pause
    if (pause !== null) {
      pauses.push(pause.remainingMs)
      await clock.advance(pause.remainingMs)
    }
  }
  t.same(pauses, [1000, 2000, 4000, 1000])
  t.equal((await scrape(stack.url)).value('roecny_proxy_upstream_pauses_total', { cause: 'backoff' }), 4)
})

test('429s to requests already in flight when the pause began lengthen it, but count as one', async (t) => {
  const { stack, clock } = await limitedStack(t)
  stack.mock.apiQueue.push({ status: 429, delayMs: 10 }, { status: 429, delayMs: 10 }, { status: 429, delayMs: 10 })
  // Three requests in flight at once, then all answered 429.
  const pending = [1, 2, 3].map((i) => get(`${stack.url}/api/v1/echo/${i}`))
  await until(() => stack.mock.inFlight === 3, 'three requests at the mock')
  await clock.advance(10)
  const answers = await Promise.all(pending)
  t.same(answers.map((a) => a.status), [429, 429, 429])
  t.match(await limitStatus(stack.url), { pause: { remainingMs: 1000, consecutive429s: 1 }, pauses: { backoff: 1 } }, 'not 4 s')
  t.equal(stack.logs.records().filter((r) => r.msg === 'Roecny answered 429: requests to it are held').length, 1)
  await clock.advance(1000)
  const next = await get(`${stack.url}/api/v1/echo/4`)
  t.equal(next.status, 200)
  await until(() => stack.mock.requests.length === 4, 'the fourth request at the mock')
})

test('PROXY_RATE_LIMITED during a pause says how long is left', async (t) => {
  const clock = new ManualClock({ random: 0 })
  const stack = await startStack(t, { config: { upstreamMaxInFlight: 10, upstreamQueueMax: 0 }, clock })
  stack.mock.apiQueue.push({ status: 429, headers: { 'retry-after': '20' } })
  await get(`${stack.url}/api/v1/echo/1`)
  await clock.advance(4500)
  const refused = await json<{ code: string }>(`${stack.url}/api/v1/echo/2`)
  t.equal(refused.body.code, 'PROXY_RATE_LIMITED')
  t.equal(refused.headers['retry-after'], '16', '15.5 s left, rounded up')
})
