// The default log destination: lines batched into few writes, in order, none lost when the process exits.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { BatchedDestination, LOG_BATCH_CHARS, LOG_BATCH_MS, createLogger } from '../src/log.js'
import { ManualClock } from './helpers/manual-clock.js'
import { until } from './helpers/until.js'

const CHILD = fileURLToPath(new URL('./helpers/log-child.ts', import.meta.url))

/** Waits for the writer to put `length` characters into the file; bounded. */
async function fileReaches (path: string, length: number): Promise<string> {
  return await fileUntil(path, (text) => text.length >= length)
}

/** Waits for the writer to put `lines` whole lines into the file; bounded. */
async function fileHasLines (path: string, lines: number): Promise<string> {
  return await fileUntil(path, (text) => text.split('\n').length - 1 >= lines)
}

async function fileUntil (path: string, done: (text: string) => boolean): Promise<string> {
  let text = ''
  await until(() => done(text = readFileSync(path, 'utf8')), () => `the writer (the file holds ${JSON.stringify(text.slice(-200))})`, 5000)
  return text
}

function lineNumbers (text: string): number[] {
  return text.split('\n').filter((line) => line !== '').map((line) => (JSON.parse(line) as { i: number }).i)
}

t.test('lines wait in the batch until LOG_BATCH_MS has passed, then go out together and in order', async (t) => {
  const path = join(t.testdir(), 'out.log')
  const fd = openSync(path, 'w')
  t.teardown(() => closeSync(fd))
  const clock = new ManualClock()
  const destination = new BatchedDestination(fd, clock)
  const log = createLogger('info', destination)
  for (let i = 0; i < 3; i++) log.info({ i }, 'line')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(readFileSync(path, 'utf8'), '', 'nothing written yet')
  await clock.advance(LOG_BATCH_MS - 1)
  t.equal(readFileSync(path, 'utf8'), '', 'nothing written before LOG_BATCH_MS')
  await clock.advance(1)
  t.same(lineNumbers(await fileHasLines(path, 3)), [0, 1, 2])
  // The timer is armed again by the next line only.
  log.info({ i: 3 }, 'line')
  await clock.advance(LOG_BATCH_MS)
  t.same(lineNumbers(await fileHasLines(path, 4)), [0, 1, 2, 3])
})

t.test('a full batch goes out at once, without waiting for the timer', async (t) => {
  const path = join(t.testdir(), 'out.log')
  const fd = openSync(path, 'w')
  t.teardown(() => closeSync(fd))
  const destination = new BatchedDestination(fd, new ManualClock())
  const line = `${'x'.repeat(99)}\n`
  const lines = Math.ceil(LOG_BATCH_CHARS / line.length)
  for (let i = 0; i < lines; i++) destination.write(line)
  t.equal((await fileReaches(path, lines * line.length)).length, lines * line.length)
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
