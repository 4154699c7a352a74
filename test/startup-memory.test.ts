// What starting leaves behind is given back once the proxy is first ready: one collection, with V8's gc extension, never before the login.
import { readFileSync } from 'node:fs'
import t from 'tap'
import type { Test } from 'tap'
import { DEMO_API_KEY, DEMO_CLIENT_ID } from '../src/mock/roecny.js'
import { LAST_RESORT, READY_POLL_MS, releaseStartupMemory } from '../src/startup-memory.js'
import { built, childEnv, outputOf, spawnCommand, spawnScript } from './helpers/cli.js'
import { ManualClock } from './helpers/manual-clock.js'
import { startMock } from './helpers/stack.js'

const NODE_MAJOR = Number(process.versions.node.split('.')[0])
const NODE_OPTIONS = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { config: { nodeOptions: string } }).config.nodeOptions

t.test('one collection once readiness first holds, none before, none after', async (t) => {
  const clock = new ManualClock()
  const calls: unknown[] = []
  const took: number[] = []
  let ready = false
  const handle = releaseStartupMemory(() => ready, clock, (ms) => took.push(ms), (options) => calls.push(options))
  t.ok(handle, 'scheduled when the gc extension is there')
  await clock.advance(READY_POLL_MS * 20)
  t.same(calls, [], 'not while the first login is on its way')
  ready = true
  await clock.advance(READY_POLL_MS)
  t.same(calls, [LAST_RESORT], 'the next look after readiness collects, with the last-resort flavour')
  t.same(took, [0], 'and says how long it took')
  await clock.advance(READY_POLL_MS * 20)
  t.equal(calls.length, 1, 'once')
  t.equal(clock.pendingTimers(), 0, 'and nothing is left scheduled')
})

t.test('a proxy stopped before it was ever ready leaves no timer behind', async (t) => {
  const clock = new ManualClock()
  const handle = releaseStartupMemory(() => false, clock, () => t.fail('never ready'), () => t.fail('no collection'))
  await clock.advance(READY_POLL_MS * 3)
  t.equal(clock.pendingTimers(), 1, 'still looking')
  handle?.cancel()
  t.equal(clock.pendingTimers(), 0, 'cancelled')
})

t.test('without the gc extension (node without --expose-gc) nothing is scheduled', async (t) => {
  const clock = new ManualClock()
  t.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'this test process has no gc extension')
  t.equal(releaseStartupMemory(() => true, clock, () => t.fail('no collection')), undefined)
  t.equal(clock.pendingTimers(), 0)
})

// The one coupling: the options V8's gc extension reads. A young generation grown to 32 MiB by
// survivors; the collection must bring it back to its smallest, where a plain full one keeps it.
const GROW_THEN_COLLECT = `
const v8 = require('node:v8')
const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size
const kept = []
for (let i = 0; i < 400000; i++) kept.push({ i, s: 'x' + i })
const grown = newSpace()
globalThis.gc(JSON.parse(process.argv[1]))
process.stdout.write(JSON.stringify({ grown, after: newSpace(), kept: kept.length }))
`

async function youngGeneration (t: Test, options: object): Promise<{ grown: number, after: number }> {
  const child = spawnCommand(t, process.execPath, ['--expose-gc', '--max-semi-space-size=16', '-e', GROW_THEN_COLLECT, JSON.stringify(options)], { env: childEnv({ NODE_OPTIONS: '' }) })
  const out = await outputOf(child)
  t.equal(out.code, 0, out.stderr)
  return JSON.parse(out.stdout) as { grown: number, after: number }
}

t.test(`V8's gc extension shrinks the young generation with these options (Node ${process.versions.node})`, async (t) => {
  const plain = await youngGeneration(t, { type: 'major', execution: 'sync' })
  const lastResort = await youngGeneration(t, LAST_RESORT)
  t.ok(plain.grown >= 16 * 1048576, `survivors grew the young generation (${plain.grown} bytes)`)
  t.equal(plain.after, plain.grown, 'a plain full collection keeps it at its size')
  if (NODE_MAJOR >= 24) {
    t.ok(lastResort.after <= lastResort.grown / 8, `the last-resort flavour shrinks it (${lastResort.grown} -> ${lastResort.after} bytes)`)
  } else {
    // Node 20's V8 has no `flavor`: the call is a plain full collection, and harmless.
    t.equal(lastResort.after, lastResort.grown, `an older V8 ignores the flavour (${lastResort.after} bytes)`)
  }
})

t.test('the CLI, under the NODE_OPTIONS of the image and npm start, collects once after its first login', async (t) => {
  t.match(NODE_OPTIONS, /(^| )--expose-gc( |$)/, 'package.json config.nodeOptions exposes the gc extension')
  const mock = await startMock(t)
  const child = spawnScript(t, built('cli'), ['serve'], {
    ROECNY_BASE_URL: mock.url,
    ROECNY_CLIENT_ID: DEMO_CLIENT_ID,
    ROECNY_API_KEY: DEMO_API_KEY,
    PROXY_PORT: '0',
    LOG_LEVEL: 'debug',
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${NODE_OPTIONS}`
  })
  const login = await child.line(/login succeeded/)
  const released = JSON.parse(await child.line(/start-up memory released/)) as { time: string, durationMs: number, rssMiB: number }
  t.ok(Date.parse(released.time) >= Date.parse((JSON.parse(login) as { time: string }).time), 'after the login, never before')
  t.ok(Number.isInteger(released.durationMs) && released.rssMiB > 0, `took ${released.durationMs} ms, ${released.rssMiB} MiB resident after`)
  t.equal(child.stdout.filter((l) => l.includes('start-up memory released')).length, 1, 'once')
})
