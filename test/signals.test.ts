import { test } from 'tap'
import { closeOnSignals } from '../src/server.js'
import type { RunningProxy } from '../src/server.js'
import { createLogger } from '../src/log.js'

function fakeProxy (shutdown: () => Promise<void>): RunningProxy {
  // closeOnSignals needs only the logger and shutdown(); the rest of a running proxy is not touched.
  return { logger: createLogger('silent'), shutdown } as unknown as RunningProxy
}

test('SIGTERM shuts down and exits 0; a second signal exits at once with 1', async (t) => {
  const before = { term: process.listenerCount('SIGTERM'), int: process.listenerCount('SIGINT') }
  let release: () => void = () => {}
  const exits: number[] = []
  closeOnSignals(fakeProxy(() => new Promise((resolve) => { release = resolve })), (code) => exits.push(code))
  t.teardown(() => {
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      const listeners = process.listeners(signal)
      process.removeListener(signal, listeners[listeners.length - 1] as () => void)
    }
  })
  t.equal(process.listenerCount('SIGTERM'), before.term + 1)
  t.equal(process.listenerCount('SIGINT'), before.int + 1)
  process.emit('SIGTERM', 'SIGTERM')
  t.same(exits, [], 'the first signal drains, it does not exit')
  process.emit('SIGINT', 'SIGINT')
  t.same(exits, [1], 'the second signal exits at once')
  release()
  await new Promise((resolve) => setImmediate(resolve))
  t.same(exits, [1, 0])
})

test('a shutdown that fails exits 1', async (t) => {
  const exits: number[] = []
  closeOnSignals(fakeProxy(() => Promise.reject(new Error('close failed'))), (code) => exits.push(code))
  t.teardown(() => {
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      const listeners = process.listeners(signal)
      process.removeListener(signal, listeners[listeners.length - 1] as () => void)
    }
  })
  process.emit('SIGTERM', 'SIGTERM')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(exits, [1])
})
