// The plan of a token's time, on its own: expiry, the safety margin, the refresh with its jitter, the lifetime cap.
import t from 'tap'
import { backoffDelay, MAX_RETRY_AFTER_MS, retryDelay } from '../src/token/backoff.js'
import { MAX_LIFETIME_MS, MIN_REFRESH_DELAY_MS, planToken, safetyMarginMs, usableSpanMs } from '../src/token/plan.js'
import type { PlanInput, TokenPlan } from '../src/token/plan.js'

const MIN = 60_000
const HOUR = 3_600_000
const DAY = 86_400_000
/** A monotonic origin far from 0, so no case passes by a time that happens to be 0. */
const T0 = 5_000_000

interface Row {
  readonly why: string
  readonly input: Omit<PlanInput, 'refreshRatio' | 'random'> & Partial<Pick<PlanInput, 'refreshRatio' | 'random'>>
  readonly plan: TokenPlan
}

const rows: Row[] = [
  {
    why: 'a 30 min token from our own login: refresh at 67 %, never sent in its last 30 s',
    input: { lifetimeMs: 30 * MIN, grantedAt: T0, now: T0 },
    plan: { lifetimeMs: 30 * MIN, expiresAt: T0 + 30 * MIN, usableUntil: T0 + 30 * MIN - 30_000, refreshAt: T0 + 1_206_000, refreshDelayMs: 1_206_000 }
  },
  {
    why: 'jitter: random 0.5 moves the refresh 2.5 % earlier',
    input: { lifetimeMs: 30 * MIN, grantedAt: T0, now: T0, random: 0.5 },
    plan: { lifetimeMs: 30 * MIN, expiresAt: T0 + 30 * MIN, usableUntil: T0 + 30 * MIN - 30_000, refreshAt: T0 + 1_175_850, refreshDelayMs: 1_175_850 }
  },
  {
    why: 'the lifetime runs from when the login was sent: an answer 3 s late moves nothing but the delay',
    input: { lifetimeMs: 30 * MIN, grantedAt: T0, now: T0 + 3000 },
    plan: { lifetimeMs: 30 * MIN, expiresAt: T0 + 30 * MIN, usableUntil: T0 + 30 * MIN - 30_000, refreshAt: T0 + 1_206_000, refreshDelayMs: 1_203_000 }
  },
  {
    why: 'a short token: the margin is 10 % of its lifetime, below 30 s',
    input: { lifetimeMs: 100_000, grantedAt: T0, now: T0 },
    plan: { lifetimeMs: 100_000, expiresAt: T0 + 100_000, usableUntil: T0 + 90_000, refreshAt: T0 + 67_000, refreshDelayMs: 67_000 }
  },
  {
    why: 'a high ratio never plans the refresh past the safety margin',
    input: { lifetimeMs: 100_000, grantedAt: T0, now: T0, refreshRatio: 0.95 },
    plan: { lifetimeMs: 100_000, expiresAt: T0 + 100_000, usableUntil: T0 + 90_000, refreshAt: T0 + 90_000, refreshDelayMs: 90_000 }
  },
  {
    why: 'an absurdly short token still waits MIN_REFRESH_DELAY_MS: no login storm',
    input: { lifetimeMs: 1000, grantedAt: T0, now: T0 },
    plan: { lifetimeMs: 1000, expiresAt: T0 + 1000, usableUntil: T0 + 900, refreshAt: T0 + MIN_REFRESH_DELAY_MS, refreshDelayMs: MIN_REFRESH_DELAY_MS }
  },
  {
    why: 'a token adopted past its refresh time is refreshed after MIN_REFRESH_DELAY_MS, and served until its margin',
    input: { lifetimeMs: 30 * MIN, grantedAt: T0 - 25 * MIN, now: T0 },
    plan: { lifetimeMs: 30 * MIN, expiresAt: T0 + 5 * MIN, usableUntil: T0 + 5 * MIN - 30_000, refreshAt: T0 + 1000, refreshDelayMs: 1000 }
  },
  {
    why: 'a token adopted before its refresh time keeps the refresh of its grant',
    input: { lifetimeMs: 30 * MIN, grantedAt: T0 - 10 * MIN, now: T0 },
    plan: { lifetimeMs: 30 * MIN, expiresAt: T0 + 20 * MIN, usableUntil: T0 + 20 * MIN - 30_000, refreshAt: T0 + 606_000, refreshDelayMs: 606_000 }
  },
  {
    why: 'exactly MAX_LIFETIME_MS is not cut',
    input: { lifetimeMs: DAY, grantedAt: T0 - HOUR, now: T0 },
    plan: { lifetimeMs: DAY, expiresAt: T0 + 23 * HOUR, usableUntil: T0 + 23 * HOUR - 30_000, refreshAt: T0 - HOUR + 0.67 * DAY, refreshDelayMs: 0.67 * DAY - HOUR }
  },
  {
    why: 'a 10-day token from our own login is planned as a day',
    input: { lifetimeMs: 10 * DAY, grantedAt: T0, now: T0 },
    plan: { lifetimeMs: DAY, expiresAt: T0 + DAY, usableUntil: T0 + DAY - 30_000, refreshAt: T0 + 0.67 * DAY, refreshDelayMs: 0.67 * DAY }
  },
  {
    why: 'a 7-day token adopted 2 days late is planned as the day from now: not expired on arrival',
    input: { lifetimeMs: 7 * DAY, grantedAt: T0 - 2 * DAY, now: T0 },
    plan: { lifetimeMs: DAY, expiresAt: T0 + DAY, usableUntil: T0 + DAY - 30_000, refreshAt: T0 + 0.67 * DAY, refreshDelayMs: 0.67 * DAY }
  },
  {
    why: 'a 7-day token adopted with 12 h left is planned on its last day: never past its real expiry',
    input: { lifetimeMs: 7 * DAY, grantedAt: T0 - 7 * DAY + 12 * HOUR, now: T0 },
    plan: { lifetimeMs: DAY, expiresAt: T0 + 12 * HOUR, usableUntil: T0 + 12 * HOUR - 30_000, refreshAt: T0 - 12 * HOUR + 0.67 * DAY, refreshDelayMs: 0.67 * DAY - 12 * HOUR }
  }
]

t.test('planToken: one row per case', async (t) => {
  for (const row of rows) {
    const plan = planToken({ refreshRatio: 0.67, random: 0, ...row.input })
    t.same(plan, row.plan, row.why)
  }
})

t.test('planToken: what holds for every plan', async (t) => {
  const problems: string[] = []
  for (const lifetimeMs of [1, 999, 1000, 100_000, 30 * MIN, DAY - 1, DAY, DAY + 1, 7 * DAY, 400 * DAY]) {
    for (const ageShare of [0, 0.1, 0.5, 0.9, 0.999]) {
      for (const refreshRatio of [0.5, 0.67, 0.95]) {
        for (const random of [0, 0.5, 0.999]) {
          const grantedAt = T0
          const now = T0 + Math.floor(usableSpanMs(lifetimeMs) * ageShare)
          const plan = planToken({ lifetimeMs, grantedAt, now, refreshRatio, random })
          const at = `lifetime ${lifetimeMs}, age ${now - grantedAt}, ratio ${refreshRatio}, random ${random}`
          if (plan.expiresAt > grantedAt + lifetimeMs) problems.push(`${at}: planned past Roecny's expiry`)
          if (plan.expiresAt - now > MAX_LIFETIME_MS) problems.push(`${at}: planned more than MAX_LIFETIME_MS ahead`)
          if (plan.usableUntil <= now && now < grantedAt + usableSpanMs(lifetimeMs)) problems.push(`${at}: a usable token planned as unusable`)
          if (plan.usableUntil !== plan.expiresAt - safetyMarginMs(plan.lifetimeMs)) problems.push(`${at}: margin`)
          if (plan.refreshDelayMs < MIN_REFRESH_DELAY_MS) problems.push(`${at}: refresh sooner than the floor`)
          if (plan.refreshAt > Math.max(plan.usableUntil, now + MIN_REFRESH_DELAY_MS)) problems.push(`${at}: refresh past the margin`)
          if (plan.refreshAt !== now + plan.refreshDelayMs) problems.push(`${at}: refreshAt and its delay disagree`)
        }
      }
    }
  }
  t.same(problems, [])
})

t.test('safetyMarginMs and usableSpanMs', async (t) => {
  for (const [lifetimeMs, margin, why] of [
    [1000, 100, '10 % of a short lifetime'],
    [300_000, 30_000, 'both rules meet at 5 min'],
    [30 * MIN, 30_000, 'at most 30 s'],
    [10 * DAY, 30_000, 'at most 30 s, however long']
  ] as const) {
    t.equal(safetyMarginMs(lifetimeMs), margin, why)
    t.equal(usableSpanMs(lifetimeMs), lifetimeMs - margin, why)
  }
})

t.test('retryDelay: the backoff, or Retry-After when longer', async (t) => {
  for (const [kind, failures, retryAfterMs, random, delay, why] of [
    ['error', 1, undefined, 0.5, 500, 'first failure: up to 1 s'],
    ['error', 4, undefined, 1, 8000, 'doubling'],
    ['error', 40, undefined, 1, 60_000, 'capped at 60 s'],
    ['rejected', 1, undefined, 1, 10_000, 'rejected credentials: from 10 s'],
    ['rejected', 40, undefined, 1, 300_000, 'capped at 5 min'],
    ['rate_limited', 1, 120_000, 0.5, 120_000, 'a longer Retry-After wins'],
    ['rate_limited', 7, 5000, 1, 60_000, 'a shorter Retry-After does not shorten the backoff'],
    ['rate_limited', 1, 30 * DAY, 0, MAX_RETRY_AFTER_MS, 'a Retry-After of days is cut to an hour']
  ] as const) {
    t.equal(retryDelay({ kind, retryAfterMs }, failures, random), delay, why)
  }
  t.equal(backoffDelay(5000, 1000, 60_000, 1), 60_000, 'no overflow after many failures')
})
