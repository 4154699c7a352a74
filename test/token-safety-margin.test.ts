// A token is never handed out within min(30 s, 10 % of its lifetime) of its expiry.
import t from 'tap'
import { startTokenHarness } from './helpers/token-harness.js'

for (const [lifetimeSeconds, usableMs] of [[1800, 1_770_000], [100, 90_000], [200, 180_000], [600, 570_000]] as const) {
  t.test(`a ${lifetimeSeconds} s token is handed out for ${usableMs} ms`, async (t) => {
    // Every refresh fails, so the first token is the only one.
    const h = await startTokenHarness(t, { clock: { random: [0, 0.5] }, mock: { tokenLifetimeSeconds: lifetimeSeconds } })
    const token = await h.manager.acquire()
    h.mock.defaultLogin = { status: 500 }
    await h.clock.advance(usableMs - 1)
    t.equal(h.manager.current(), token, 'just before the margin')
    t.equal(h.manager.isReady(), true)
    t.equal(await h.apiStatus(token as string), 200)
    await h.clock.advance(1)
    t.equal(h.manager.current(), undefined, 'at the margin')
    t.equal(h.manager.isReady(), false)
    t.equal(h.manager.status().ready, false)
    t.equal(await h.apiStatus(token as string), 200, 'though Roecny would still take it')
  })
}
