// The default log destination: lines batched into few writes, in order, none lost when the process exits.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { Test } from 'tap'
import { batchedDestination, LOG_BATCH_CHARS, LOG_BATCH_MS, createLogger } from '../src/log.js'
import { until } from './helpers/until.js'

const CHILD = fileURLToPath(new URL('./helpers/log-child.ts', import.meta.url))

function lineNumbers (text: string): number[] {
  return text.split('\n').filter((line) => line !== '').map((line) => (JSON.parse(line) as { i: number }).i)
}

/** A batched destination on a fresh file, closed (with its file) when `t` ends. */
function destinationOnFile (t: Test): { path: string, destination: ReturnType<typeof batchedDestination> } {
  const path = join(t.testdir(), 'out.log')
  const destination = batchedDestination(openSync(path, 'w'))
  t.teardown(() => { destination.end() })
  return { path, destination }
}

t.test('lines wait in the batch until LOG_BATCH_MS has passed, then go out together and in order', async (t) => {
  const made = performance.now()
  const { path, destination } = destinationOnFile(t)
  const log = createLogger('info', destination)
  for (let i = 0; i < 3; i++) log.info({ i }, 'line')
  t.equal(readFileSync(path, 'utf8'), '', 'nothing written at once')
  // sonic-boom's own timer writes the batch (it takes no injected clock): waited for in real time.
  await until(() => readFileSync(path, 'utf8').split('\n').length > 3, 'the batch written')
  // Timers fire on whole milliseconds: no earlier than one short of their time.
  t.ok(performance.now() - made >= LOG_BATCH_MS - 1, 'not before LOG_BATCH_MS')
  t.same(lineNumbers(readFileSync(path, 'utf8')), [0, 1, 2])
})

t.test('a full batch goes out at once, without waiting for the timer', async (t) => {
  const { path, destination } = destinationOnFile(t)
  const line = `${'x'.repeat(99)}\n`
  const lines = Math.ceil(LOG_BATCH_CHARS / line.length)
  for (let i = 0; i < lines - 1; i++) destination.write(line)
  t.equal(readFileSync(path, 'utf8'), '', 'short of LOG_BATCH_CHARS: held')
  destination.write(line)
  t.equal(readFileSync(path, 'utf8').length, lines * line.length, 'written in the same turn')
})

async function runChild (mode: string, count: number): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [...process.execArgv, CHILD, mode, String(count)], { stdio: 'pipe', env: { ...process.env, UV_THREADPOOL_SIZE: '1' } })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const [code] = await once(child, 'close') as [number | null]
  return { code, stdout, stderr }
}

t.test('every batched line is written when the process exits, however it ends', async (t) => {
  const count = 200
  const expected = Array.from({ length: count }, (_, i) => i)
  const exited = await runChild('exit', count)
  t.equal(exited.code, 3, 'process.exit(3)')
  t.same(lineNumbers(exited.stdout), expected, 'process.exit: every line, in order')
  const crashed = await runChild('crash', count)
  t.equal(crashed.code, 1, 'an uncaught exception')
  t.match(crashed.stderr, /crashed on purpose/)
  t.same(lineNumbers(crashed.stdout), expected, 'uncaught exception: every line, in order')
  const drained = await runChild('drain', count)
  t.equal(drained.code, 0, 'the event loop emptied')
  t.same(lineNumbers(drained.stdout), expected, 'natural exit: every line, in order')
})
