// Profiles' limits on a started proxy (SPEC §13 "Limits"): the account's budget shared by its profiles, each profile's own caps and queue.
import { createHash } from 'node:crypto'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'tap'
import { loadConfig } from '../src/config.js'
import type { Config } from '../src/config.js'
import type { LimiterStatus } from '../src/limits/limiter.js'
import { DEMO_API_KEY, DEMO_CLIENT_ID } from '../src/mock/roecny.js'
import { loadProfilesFor } from '../src/profiles/start.js'
import { get, json } from './helpers/http.js'
import { scrape } from './helpers/metrics.js'
import type { SimpleResponse } from './helpers/http.js'
import { MANUAL_CLOCK_START, ManualClock } from './helpers/manual-clock.js'
import { startStack } from './helpers/stack.js'
import type { Stack, Teardown } from './helpers/stack.js'
import { until } from './helpers/until.js'
import { tempDir } from './helpers/temp.js'

const A_KEY = 'profile-a-key-0123456789abcdef'
const B_KEY = 'profile-b-key-0123456789abcdef'

function sha256 (text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** Profiles a and b on the environment's client ID, b logged in as another user (two tokens, one account); `a` and `b` are extra lines. */
function profilesFile (t: Teardown, a: string[] = [], b: string[] = []): string {
  const path = join(tempDir(t, 'profiles-limits'), 'profiles.yaml')
  writeFileSync(path, [
    'profiles:',
    '  a:',
    `    accessKeys: ["${sha256(A_KEY)}"]`,
    '    scope: ""',
    ...a.map((line) => `    ${line}`),
    '  b:',
    `    accessKeys: ["${sha256(B_KEY)}"]`,
    '    scope: ""',
    '    loginAs: acct-b',
    ...b.map((line) => `    ${line}`),
    ''
  ].join('\n'))
  chmodSync(path, 0o600)
  return path
}

async function profilesStack (t: Teardown, file: string, config: Partial<Config> = {}, clock?: ManualClock): Promise<Stack> {
  return await startStack(t, {
    env: { ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY: DEMO_API_KEY, PROXY_PROFILES_FILE: file },
    config,
    clock,
    mock: clock === undefined ? {} : { now: clock.wallNow }
  })
}

function as (key: string): { headers: Record<string, string> } {
  return { headers: { 'x-proxy-key': key } }
}

interface ProfileEntry { name: string, maxInFlight: number, rateLimit: number, queue: LimiterStatus | null }

type Entries = Record<'a' | 'b', ProfileEntry>

async function queues (url: string): Promise<Entries> {
  const { body } = await json<{ profiles: ProfileEntry[] }>(`${url}/-/status`, as(A_KEY))
  return Object.fromEntries(body.profiles.map((entry) => [entry.name, entry])) as Entries
}

async function untilQueues (url: string, check: (entries: Entries) => boolean): Promise<void> {
  let seen: Entries | undefined
  await until(async () => check(seen = await queues(url)), () => `the profiles' queues to match (last seen: ${JSON.stringify(seen)})`, 5000)
}

test('the account\'s UPSTREAM_MAX_IN_FLIGHT is shared by two profiles on one client ID', async (t) => {
  const stack = await profilesStack(t, profilesFile(t), { upstreamMaxInFlight: 2 })
  const { url, mock } = stack
  t.equal(mock.logins.length, 2, 'two logins: two tokens')
  const answers: Array<Promise<SimpleResponse>> = []
  for (let i = 0; i < 3; i++) answers.push(get(`${url}/api/v1/test/held?a=${i}`, as(A_KEY)), get(`${url}/api/v1/test/held?b=${i}`, as(B_KEY)))
  await untilQueues(url, (q) => (q.a.queue?.queued ?? 0) + (q.b.queue?.queued ?? 0) === 4)
  t.equal(mock.held.length, 2, 'two at Roecny for the account, whichever profile they came from')
  const status = await queues(url)
  t.equal(status.a.queue?.maxInFlight, 0, 'no cap of its own')
  t.equal((status.a.queue?.inFlight ?? 0) + (status.b.queue?.inFlight ?? 0), 2)
  const { body } = await json<{ limits: unknown }>(`${url}/-/status`, as(A_KEY))
  t.same(body.limits, { enabled: true, per: 'account', maxInFlight: 2, rateLimit: 0, rateBurst: 0, queueTimeoutMs: 10_000, queueMax: 1000, accounts: [{ profiles: ['a', 'b'], inFlight: 2, pause: null }] },
    'the top-level limits are the account\'s: its settings and its two requests in flight, named by its profiles')
  while (mock.requests.length < 6) {
    const before = mock.requests.length
    mock.releaseHeld()
    await until(() => mock.requests.length > before && mock.held.length === mock.requests.length, 'the next requests held at the mock')
    t.ok(mock.inFlight <= 2, `${mock.requests.length} reached Roecny, never more than two at a time`)
  }
  mock.releaseHeld()
  t.same((await Promise.all(answers)).map((a) => a.status), Array(6).fill(200))
  t.equal(mock.peakInFlight, 2)
  t.equal(mock.requests.filter((r) => r.url.includes('?a=')).length, 3)
  t.equal(mock.requests.filter((r) => r.url.includes('?b=')).length, 3)
  await untilQueues(url, (q) => q.a.queue?.inFlight === 0 && q.b.queue?.inFlight === 0)
})

test('a profile\'s maxInFlight queues that profile only; another profile\'s requests pass at once', async (t) => {
  const stack = await profilesStack(t, profilesFile(t, ['maxInFlight: 1']))
  const { url, mock } = stack
  const status = await queues(url)
  t.equal(status.a.queue?.maxInFlight, 1, 'its cap shows with its queue')
  t.equal(status.b.queue, null, 'b has no limit: it waits for nothing')
  const a = [0, 1, 2].map((i) => get(`${url}/api/v1/test/held?a=${i}`, as(A_KEY)))
  await untilQueues(url, (q) => q.a.queue?.inFlight === 1 && q.a.queue.queued === 2)
  t.equal(mock.held.length, 1)
  const b = [0, 1, 2].map((i) => get(`${url}/api/v1/test/held?b=${i}`, as(B_KEY)))
  await until(() => mock.held.length === 4, 'b\'s three requests at the mock at once')
  t.equal((await queues(url)).a.queue?.queued, 2, 'a still waits')
  while (mock.requests.filter((r) => r.url.includes('?a=')).length < 3) {
    const before = mock.requests.length
    mock.releaseHeld()
    await until(() => mock.requests.length === before + 1, 'a\'s next request at the mock')
  }
  mock.releaseHeld()
  t.same((await Promise.all([...a, ...b])).map((r) => r.status), Array(6).fill(200))
  t.same(mock.requests.filter((r) => r.url.includes('?a=')).map((r) => r.url), [0, 1, 2].map((i) => `/api/v1/test/held?a=${i}`), 'first in, first out')
})

test('a profile\'s rateLimit spreads its own requests; another profile\'s pass at once', async (t) => {
  const clock = new ManualClock()
  const stack = await profilesStack(t, profilesFile(t, ['rateLimit: 5', 'rateBurst: 1']), {}, clock)
  const { url, mock } = stack
  const a = [0, 1, 2].map((i) => get(`${url}/api/v1/echo/a${i}`, as(A_KEY)))
  await untilQueues(url, (q) => q.a.queue?.queued === 2)
  t.equal(mock.requests.length, 1, 'a\'s burst of one went at once')
  const b = [0, 1, 2].map((i) => get(`${url}/api/v1/echo/b${i}`, as(B_KEY)))
  t.same((await Promise.all(b)).map((r) => r.status), [200, 200, 200], 'b did not wait for a\'s rate')
  t.equal(mock.requests.length, 4)
  await clock.advance(199)
  t.equal(mock.requests.length, 4, 'a\'s second not before 200 ms')
  await clock.advance(1)
  await until(() => mock.requests.length === 5, 'a\'s second at the mock')
  await clock.advance(200)
  await until(() => mock.requests.length === 6, 'a\'s third at the mock')
  t.same((await Promise.all(a)).map((r) => r.status), [200, 200, 200])
  const arrivals = mock.requests.filter((r) => r.url.includes('/echo/a')).map((r) => r.arrivedAt - MANUAL_CLOCK_START)
  t.same(arrivals, [0, 200, 400])
  t.same(mock.requests.filter((r) => r.url.includes('/echo/b')).map((r) => r.arrivedAt - MANUAL_CLOCK_START), [0, 0, 0])
})

test('over its queue a profile gets 429 PROXY_RATE_LIMITED; another profile is not refused', async (t) => {
  const stack = await profilesStack(t, profilesFile(t, ['maxInFlight: 1']), { upstreamQueueMax: 1 })
  const { url, mock } = stack
  const first = get(`${url}/api/v1/test/held?a=0`, as(A_KEY))
  await until(() => mock.held.length === 1, 'a\'s first at the mock')
  const second = get(`${url}/api/v1/test/held?a=1`, as(A_KEY))
  await untilQueues(url, (q) => q.a.queue?.queued === 1)
  const refused = await json<{ code: string }>(`${url}/api/v1/test/held?a=2`, as(A_KEY))
  t.equal(refused.status, 429)
  t.equal(refused.body.code, 'PROXY_RATE_LIMITED')
  t.ok(Number(refused.headers['retry-after']) >= 1, 'with Retry-After')
  const b = [0, 1].map((i) => get(`${url}/api/v1/test/held?b=${i}`, as(B_KEY)))
  await until(() => mock.held.length === 3, 'b\'s two at the mock at once')
  t.equal((await queues(url)).a.queue?.rateLimited.full, 1)
  mock.releaseHeld()
  await until(() => mock.held.length === 4, 'a\'s second at the mock')
  mock.releaseHeld()
  t.same((await Promise.all([first, second, ...b])).map((r) => r.status), [200, 200, 200, 200])
})

test('a new description applied at run time gives a profile its cap at once, with no UPSTREAM_* set', async (t) => {
  const file = profilesFile(t)
  const stack = await profilesStack(t, file)
  const { url, mock, proxy } = stack
  t.same(Object.values(await queues(url)).map((entry) => entry.queue), [null, null], 'no profile limited: nothing waits')
  writeFileSync(file, readFileSync(profilesFile(t, [], ['maxInFlight: 1']), 'utf8'))
  const apply = proxy.applyProfiles as NonNullable<typeof proxy.applyProfiles>
  apply(loadProfilesFor(loadConfig({ ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY: DEMO_API_KEY, PROXY_PROFILES_FILE: file, ROECNY_BASE_URL: mock.url, PROXY_PORT: '0' })))
  const b = [0, 1].map((i) => get(`${url}/api/v1/test/held?b=${i}`, as(B_KEY)))
  await untilQueues(url, (q) => q.b.queue?.inFlight === 1 && q.b.queue.queued === 1)
  t.equal(mock.held.length, 1, 'b now waits for its own cap')
  mock.releaseHeld()
  await until(() => mock.held.length === 2, 'b\'s second at the mock')
  mock.releaseHeld()
  t.same((await Promise.all(b)).map((r) => r.status), [200, 200])
})

/** The limits' series of a scrape: each sample's name and labels, without its value. */
function limitSeries (text: string): string[] {
  return text.split('\n')
    .filter((line) => /^roecny_proxy_(upstream_in_flight|upstream_queue_length|upstream_queue_wait_seconds|rate_limited_total|upstream_pauses_total|upstream_pause_seconds)/.test(line))
    .map((line) => line.slice(0, line.lastIndexOf(' ')))
}

test('without a profiles file the limits\' metrics keep their label sets: none but their own', async (t) => {
  const stack = await startStack(t, { config: { upstreamMaxInFlight: 1 } })
  t.equal((await get(`${stack.url}/api/v1/echo/1`)).status, 200)
  const series = limitSeries((await scrape(stack.url)).text)
  t.same(series.filter((line) => !line.includes('_bucket')), [
    'roecny_proxy_upstream_queue_wait_seconds_sum',
    'roecny_proxy_upstream_queue_wait_seconds_count',
    'roecny_proxy_upstream_in_flight',
    'roecny_proxy_upstream_queue_length',
    'roecny_proxy_rate_limited_total{reason="timeout"}',
    'roecny_proxy_rate_limited_total{reason="full"}',
    'roecny_proxy_upstream_pauses_total{cause="retry_after"}',
    'roecny_proxy_upstream_pauses_total{cause="backoff"}',
    'roecny_proxy_upstream_pause_seconds'
  ].sort((a, b) => series.indexOf(a) - series.indexOf(b)))
  t.notMatch(series.join('\n'), 'profile=')
})

test('with profiles the limits\' metrics carry the profile: in flight, queue, wait, refusals, pauses', async (t) => {
  const clock = new ManualClock()
  const stack = await profilesStack(t, profilesFile(t, ['maxInFlight: 1']), { upstreamQueueMax: 1 }, clock)
  const { url, mock } = stack
  const first = get(`${url}/api/v1/test/held`, as(A_KEY))
  await until(() => mock.held.length === 1, 'a\'s first at the mock')
  const second = get(`${url}/api/v1/echo/second`, as(A_KEY))
  await untilQueues(url, (q) => q.a.queue?.queued === 1)
  t.equal((await get(`${url}/api/v1/echo/third`, as(A_KEY))).status, 429, 'a\'s queue is full')
  let metrics = await scrape(url)
  t.equal(metrics.value('roecny_proxy_upstream_in_flight', { profile: 'a' }), 1)
  t.equal(metrics.value('roecny_proxy_upstream_queue_length', { profile: 'a' }), 1)
  t.equal(metrics.value('roecny_proxy_rate_limited_total', { profile: 'a', reason: 'full' }), 1)
  t.notMatch(limitSeries(metrics.text).join('\n'), 'profile="b"', 'b has no limiter: none of its series')
  await clock.advance(300)
  mock.releaseHeld()
  t.same([(await first).status, (await second).status], [200, 200])
  mock.apiQueue.push({ status: 429, headers: { 'retry-after': '30' } })
  t.equal((await get(`${url}/api/v1/echo/paused`, as(A_KEY))).status, 429)
  metrics = await scrape(url)
  t.equal(metrics.value('roecny_proxy_upstream_queue_wait_seconds_count', { profile: 'a' }), 3)
  t.equal(metrics.value('roecny_proxy_upstream_queue_wait_seconds_sum', { profile: 'a' }), 0.3, 'the second waited 300 ms')
  t.equal(metrics.value('roecny_proxy_upstream_pauses_total', { profile: 'a', cause: 'retry_after' }), 1)
  t.ok((metrics.value('roecny_proxy_upstream_pause_seconds', { profile: 'a' }) ?? 0) > 0, 'a is paused')
  t.notMatch(metrics.text, /roecny_proxy_upstream_in_flight \d/, 'no series without a profile')
})
