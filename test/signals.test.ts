// SIGTERM and SIGINT: the first stops gracefully (exit 0, or 1 if stopping failed); a second exits at once.
import { test } from 'tap'
import { createLogger } from '../src/log.js'
import { stopOnSignals } from '../src/signals.js'

const log = createLogger('silent')

function listeners (): { term: number, int: number } {
  return { term: process.listenerCount('SIGTERM'), int: process.listenerCount('SIGINT') }
}

test('SIGTERM stops and resolves 0; the listeners go once it is done', async (t) => {
  const before = listeners()
  let stops = 0
  const code = stopOnSignals(async () => { stops++ }, log)
  t.same(listeners(), { term: before.term + 1, int: before.int + 1 })
  process.emit('SIGTERM', 'SIGTERM')
  t.equal(await code, 0)
  t.equal(stops, 1)
  t.same(listeners(), before, 'nothing left listening')
})

test('a second signal resolves 1 at once, while the first is still stopping', async (t) => {
  const before = listeners()
  let release: () => void = () => {}
  let stops = 0
  const code = stopOnSignals(() => { stops++; return new Promise((resolve) => { release = resolve }) }, log)
  t.teardown(() => release())
  process.emit('SIGTERM', 'SIGTERM')
  process.emit('SIGINT', 'SIGINT')
  t.equal(await code, 1, 'the second signal exits at once')
  t.equal(stops, 1, 'stop ran once')
  t.same(listeners(), before, 'nothing left listening')
})

test('SIGINT alone also stops; a stop that fails resolves 1', async (t) => {
  const code = stopOnSignals(() => Promise.reject(new Error('close failed')), log)
  process.emit('SIGINT', 'SIGINT')
  t.equal(await code, 1)
})
