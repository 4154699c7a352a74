// At most one login is ever in flight: a burst of requests on a cold manager causes exactly one.
import t from 'tap'
import { startTokenHarness } from './helpers/token-harness.js'

t.test('1,000 concurrent acquire() on a cold manager cause exactly one login', async (t) => {
  const h = await startTokenHarness(t)
  const tokens = await Promise.all(Array.from({ length: 1000 }, () => h.manager.acquire()))
  t.equal(h.mock.logins.length, 1)
  t.equal(new Set(tokens).size, 1, 'everyone got the same token')
  const token = tokens[0]
  t.type(token, 'string')
  t.equal(await h.apiStatus(token as string), 200, 'the mock accepts it')
  t.equal(h.manager.current(), token)
  t.equal(h.manager.isReady(), true)
})

t.test('a burst while a fresh login is in flight after invalidate() adds exactly one login', async (t) => {
  const h = await startTokenHarness(t)
  const first = await h.manager.acquire()
  h.manager.invalidate(first as string)
  const tokens = await Promise.all(Array.from({ length: 1000 }, () => h.manager.acquire()))
  t.equal(h.mock.logins.length, 2)
  t.equal(new Set(tokens).size, 1)
  t.not(tokens[0], first)
})

t.test('acquire() never starts a login', async (t) => {
  const h = await startTokenHarness(t, { start: false })
  t.equal(await h.manager.acquire(), undefined, 'before start()')
  t.equal(h.manager.current(), undefined)
  await h.clock.advance(60_000)
  t.equal(h.mock.logins.length, 0)
  t.equal(h.manager.status().state, 'starting')
})

t.test('start() twice logs in once', async (t) => {
  const h = await startTokenHarness(t, { start: false })
  h.manager.start()
  h.manager.start()
  await h.manager.acquire()
  await h.clock.advance(1000)
  t.equal(h.mock.logins.length, 1)
})
