// A skewed wall clock, ours or Roecny's, changes nothing: the lifetime runs on the local monotonic clock.
import t from 'tap'
import type { Test } from 'tap'
import { startTokenHarness } from './helpers/token-harness.js'
import type { TokenHarnessOptions } from './helpers/token-harness.js'

const LIFETIME = 1_800_000
const HOUR = 3_600_000

interface Observed {
  /** Monotonic times at which the mock saw a login. */
  loginTimes: number[]
  problems: string[]
}

/** Runs three token lifetimes in 10 s steps, noting when logins happen and any token the mock refuses. */
async function threeLifetimes (t: Test, options: TokenHarnessOptions): Promise<Observed> {
  const h = await startTokenHarness(t, { clock: { random: 0.5, ...options.clock }, ...options })
  await h.manager.acquire()
  const loginTimes = [0]
  const problems: string[] = []
  for (let elapsed = 0; elapsed <= 3 * LIFETIME; elapsed += 10_000) {
    const token = h.manager.current()
    if (token === undefined) problems.push(`no token at ${elapsed} ms`)
    else if (await h.apiStatus(token) !== 200) problems.push(`the mock refused the token at ${elapsed} ms`)
    const before = h.mock.logins.length
    const next = h.clock.nextTimerIn() ?? Infinity
    await h.clock.advance(10_000)
    if (h.mock.logins.length > before) loginTimes.push(elapsed + next)
  }
  await h.close()
  return { loginTimes, problems }
}

t.test('Roecny an hour ahead, an hour behind, our clock an hour off: the same schedule', async (t) => {
  const reference = await threeLifetimes(t, {})
  t.same(reference.problems, [])
  t.same(reference.loginTimes, [0, 1, 2, 3, 4].map((n) => n * 1_175_850))
  for (const [name, options] of [
    ['Roecny an hour ahead', { mockSkewMs: HOUR }],
    ['Roecny an hour behind', { mockSkewMs: -HOUR }],
    ['our wall clock an hour behind', { clock: { wallOffsetMs: -HOUR } }],
    ['our wall clock a day ahead', { clock: { wallOffsetMs: 24 * HOUR } }]
  ] as const) {
    const observed = await threeLifetimes(t, options)
    t.same(observed, reference, name)
  }
})

t.test('status() shows times on our own wall clock, whatever Roecny\'s says', async (t) => {
  const h = await startTokenHarness(t, { mockSkewMs: HOUR, clock: { random: 0 } })
  await h.manager.acquire()
  const now = h.clock.wallNow()
  t.equal(h.manager.status().token.expiresAt, new Date(now + LIFETIME).toISOString())
  t.equal(h.manager.expiresAtWallMs(), now + LIFETIME)
})
