// The token's state is a field set at each transition, the one docs/architecture.md draws, and what status() reports.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { TOKEN_STATES } from '../src/token/token-manager.js'
import type { TokenState } from '../src/token/token-manager.js'
import { startTokenHarness } from './helpers/token-harness.js'
import type { TokenHarness } from './helpers/token-harness.js'
import { until } from './helpers/until.js'

/** Lets the next login reach the mock and stay there until answer(). */
async function loginOnItsWay (h: TokenHarness, logins: number): Promise<void> {
  await until(() => h.mock.logins.length === logins, `login ${logins} to reach the mock`)
}

async function answer (h: TokenHarness, results: number): Promise<void> {
  h.mock.releaseLogins()
  await until(() => h.results.length === results, `login ${results} to end`)
}

interface Step {
  readonly why: string
  readonly step: (h: TokenHarness) => Promise<void>
  readonly state: TokenState
  readonly ready: boolean
}

// Every login is held at the mock until a step answers it, so the state in flight is seen too; a
// login's answer is queued before the login is sent.
const walk: Step[] = [
  { why: 'built, not started', step: async () => {}, state: 'starting', ready: false },
  { why: 'the first login on its way', step: async (h) => { h.mock.loginQueue.push({ status: 500, held: true }); h.manager.start(); await loginOnItsWay(h, 1) }, state: 'starting', ready: false },
  { why: 'it failed: waiting for the retry', step: async (h) => { await answer(h, 1) }, state: 'backoff', ready: false },
  { why: 'the retry on its way, before any token: still starting', step: async (h) => { await h.clock.runNext(); await loginOnItsWay(h, 2) }, state: 'starting', ready: false },
  { why: 'it succeeded', step: async (h) => { await answer(h, 2) }, state: 'ready', ready: true },
  { why: 'the refresh on its way, the token serving', step: async (h) => { h.mock.loginQueue.push({ status: 502, held: true }); await h.clock.runNext(); await loginOnItsWay(h, 3) }, state: 'refreshing', ready: true },
  { why: 'the refresh failed: waiting for the retry, the token serving', step: async (h) => { await answer(h, 3) }, state: 'backoff', ready: true },
  { why: 'the retry after a failure is on its way: refreshing, not backoff', step: async (h) => { h.mock.loginQueue.push({ status: 401, held: true }); await h.clock.runNext(); await loginOnItsWay(h, 4) }, state: 'refreshing', ready: true },
  { why: 'rejected', step: async (h) => { await answer(h, 4) }, state: 'rejected', ready: true },
  { why: 'a slow retry of rejected credentials on its way', step: async (h) => { h.mock.loginQueue.push({ status: 500, held: true }); await h.clock.runNext(); await loginOnItsWay(h, 5) }, state: 'refreshing', ready: true },
  { why: 'a server error before any success: the credentials are still not known good', step: async (h) => { await answer(h, 5) }, state: 'rejected', ready: true },
  { why: 'the next retry succeeds', step: async (h) => { await h.clock.runNext(); await loginOnItsWay(h, 6); await answer(h, 6) }, state: 'ready', ready: true },
  { why: 'an upstream 401 retires the token: a login on its way', step: async (h) => { h.manager.invalidate(h.manager.current() as string); await loginOnItsWay(h, 7) }, state: 'refreshing', ready: false },
  { why: 'new credentials while that login is on its way: it is replaced by one with them', step: async (h) => { h.manager.setCredentials({ apiKey: 'demo-key-2' }); await loginOnItsWay(h, 8) }, state: 'refreshing', ready: false },
  { why: 'the mock knows only the old key: rejected', step: async (h) => { await answer(h, 7) }, state: 'rejected', ready: false },
  { why: 'stopped', step: async (h) => { await h.manager.stop() }, state: 'stopped', ready: false }
]

t.test('a walk through the lifecycle: the state after each step', async (t) => {
  const h = await startTokenHarness(t, { start: false, settleLogins: false, clock: { random: 0.5 }, mock: { tokenLifetimeSeconds: 1800 } })
  h.mock.defaultLogin = { held: true }
  for (const { why, step, state, ready } of walk) {
    await step(h)
    t.match(h.manager.status(), { state, ready }, why)
  }
})

t.test('the states are the ones docs/architecture.md draws in the token lifecycle', async (t) => {
  const doc = readFileSync(new URL('../docs/architecture.md', import.meta.url), 'utf8')
  const section = /## The token lifecycle\n([\s\S]*?)\n## /.exec(doc)?.[1] ?? ''
  const drawn = [...section.matchAll(/│ +(\w+) +│/g)].map((match) => match[1])
  t.same(new Set(drawn), new Set(TOKEN_STATES), 'one box per state, no box for anything else')
})
