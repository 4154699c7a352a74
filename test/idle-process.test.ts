// An idle proxy leaves its core alone: the built CLI, serving and logged in, wakes its event loop a
// few times a second (the log's flush timer, the event-loop-delay sampler), not a hundred.
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { DEMO_API_KEY, DEMO_CLIENT_ID } from '../src/mock/roecny.js'
import { built, spawnScript } from './helpers/cli.js'
import { startMock } from './helpers/stack.js'

/** How often a process's main thread has gone to sleep waiting for work (Linux's count for the thread that /proc/<pid> names). */
function sleepsOf (pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status)?.[1])
}

const WINDOW_MS = 2000

t.test('an idle proxy wakes about twenty times a second, not a hundred', async (t) => {
  const mock = await startMock(t)
  const child = spawnScript(t, built('cli'), ['serve'], { ROECNY_BASE_URL: mock.url, ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY: DEMO_API_KEY, PROXY_PORT: '0' })
  await child.line(/login succeeded/)
  await child.line(/roecny-auth-proxy listening/)
  // What start-up leaves behind (the last compilations, a collection) is over by then.
  await sleep(500)
  const pid = child.process.pid as number
  const before = sleepsOf(pid)
  await sleep(WINDOW_MS)
  const wakeups = sleepsOf(pid) - before
  t.ok(Number.isInteger(wakeups) && wakeups >= 0, `the count is read (${wakeups})`)
  // Two timers of 100 ms: about 40 wakeups in the window. Sampling the event loop every 10 ms
  // (Node's default) would add 200 on its own.
  t.ok(wakeups < WINDOW_MS / 20, `${wakeups} wakeups in ${WINDOW_MS} ms while idle`)
})
