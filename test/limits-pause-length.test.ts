// How long a 429 holds requests: Retry-After as a floor (at most 60 s), else 1 s doubling to 16 s; jitter only adds.
import t from 'tap'
import { MAX_PAUSE_MS, pauseLength } from '../src/limits/pause.js'

t.test('a Retry-After is the floor; jitter adds up to a fifth of it', async (t) => {
  t.same(pauseLength(2000, 1, 0), { ms: 2000, cause: 'retry-after' }, 'no jitter at random 0')
  t.same(pauseLength(2000, 1, 0.5), { ms: 2200, cause: 'retry-after' })
  t.same(pauseLength(10_000, 7, 0.99), { ms: 11_980, cause: 'retry-after' }, 'the 429s in a row do not matter with a Retry-After')
  t.same(pauseLength(0, 1, 0.5), { ms: 100, cause: 'retry-after' }, 'Retry-After 0: jitter of up to a fifth of 1 s')
})

t.test('a Retry-After beyond 60 s holds 60 s, jitter included', async (t) => {
  t.same(pauseLength(3_600_000, 1, 0.5), { ms: MAX_PAUSE_MS, cause: 'retry-after' })
  t.same(pauseLength(55_000, 1, 0.9), { ms: MAX_PAUSE_MS, cause: 'retry-after' }, 'jitter never goes past the cap')
  t.equal(MAX_PAUSE_MS, 60_000)
})

t.test('without a Retry-After: 1 s, doubling over 429s in a row, to 16 s', async (t) => {
  const steps = [1, 2, 3, 4, 5, 6, 40].map((n) => pauseLength(undefined, n, 0).ms)
  t.same(steps, [1000, 2000, 4000, 8000, 16_000, 16_000, 16_000])
  t.same(pauseLength(undefined, 3, 0.5), { ms: 4400, cause: 'backoff' }, 'jitter adds up to a fifth')
  t.equal(pauseLength(undefined, 0, 0).ms, 1000, 'a count below 1 is the first step')
})
