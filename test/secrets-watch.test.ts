// The secret watcher: a Kubernetes `..data` swap and an in-place rewrite are seen by directory events, debounced on the
// injected clock, re-read, compared and applied once; the poll is the fallback; a bad change is ignored with one warning.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { createLogger } from '../src/log.js'
import { DEBOUNCE_MS, createSecretWatcher } from '../src/secrets/watch.js'
import type { ApplyOutcome, ReloadResult, SecretWatcher, WatchedFile } from '../src/secrets/watch.js'
import { ManualClock } from './helpers/manual-clock.js'
import { writeSecretVolume } from './helpers/secret-volume.js'
import { until } from './helpers/until.js'

interface Harness {
  clock: ManualClock
  watcher: SecretWatcher
  /** Texts each file's apply() was given, by variable. */
  applied: Record<string, string[]>
  reloads: Array<[string, ReloadResult]>
  records: () => Array<Record<string, unknown>>
  lines: string[]
}

/**
 * A watcher over `files` (variable -> path) whose apply() records each text and, like the real ones,
 * finds the text read at start unchanged, refuses anything starting with "bad" and applies the rest.
 */
function startWatcher (t: Test, files: Record<string, string>, options: { pollMs?: number, apply?: (name: string, text: string) => ApplyOutcome, throwingHook?: boolean } = {}): Harness {
  const clock = new ManualClock()
  const lines: string[] = []
  const log = createLogger('trace', { write (line: string) { lines.push(line) } })
  const applied: Record<string, string[]> = {}
  const reloads: Array<[string, ReloadResult]> = []
  const watched: WatchedFile[] = Object.entries(files).map(([name, path]) => {
    let current = existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined
    return {
      name,
      path,
      maxBytes: 1024,
      apply (text) {
        applied[name] = [...applied[name] ?? [], text]
        if (options.apply !== undefined) return options.apply(name, text)
        if (text === current) return 'unchanged'
        if (text.startsWith('bad')) return { problem: `${name} is bad` }
        current = text
        return 'applied'
      }
    }
  })
  const watcher = createSecretWatcher({
    files: watched,
    pollMs: options.pollMs ?? 0,
    clock,
    log,
    onReload (name, result) {
      reloads.push([name, result])
      if (options.throwingHook === true) throw new Error('hook failure')
    }
  })
  t.teardown(() => watcher.close())
  return { clock, watcher, applied, reloads, lines, records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) }
}

/** Waits for the file event (real, from the OS), then runs the debounce on the manual clock. */
async function afterEvent (h: Harness, what: string): Promise<void> {
  await until(h.watcher.reloadScheduled, what)
  await h.clock.advance(DEBOUNCE_MS)
}

t.test('a Kubernetes Secret volume update (a new ..data link) is applied once, after the debounce', async (t) => {
  const dir = join(t.testdir(), 'secret')
  writeSecretVolume(dir, { 'api-key': 'key-one', 'client-id': 'client-one' })
  const h = startWatcher(t, { ROECNY_API_KEY_FILE: join(dir, 'api-key'), ROECNY_CLIENT_ID_FILE: join(dir, 'client-id') })
  h.watcher.start()
  t.same(h.applied, { ROECNY_API_KEY_FILE: ['key-one'], ROECNY_CLIENT_ID_FILE: ['client-one'] }, 'start reads each file once')
  h.applied.ROECNY_API_KEY_FILE = []
  h.applied.ROECNY_CLIENT_ID_FILE = []
  t.same(h.reloads, [], 'what the configuration read is no change')
  t.same(Object.values(h.watcher.status()).map((s) => s.generation), [1, 1])

  writeSecretVolume(dir, { 'api-key': 'key-two', 'client-id': 'client-one' })
  await until(h.watcher.reloadScheduled, 'the ..data swap event')
  t.same(h.applied.ROECNY_API_KEY_FILE, [], 'nothing is read before the debounce has run')
  await h.clock.advance(DEBOUNCE_MS - 1)
  t.same(h.applied.ROECNY_API_KEY_FILE, [])
  await h.clock.advance(1)
  t.same(h.applied, { ROECNY_API_KEY_FILE: ['key-two'], ROECNY_CLIENT_ID_FILE: [] }, 'only the file that changed is applied')
  t.same(h.reloads, [['ROECNY_API_KEY_FILE', 'applied']])
  t.match(h.watcher.status(), { ROECNY_API_KEY_FILE: { generation: 2, loadedAt: new Date(h.clock.wallNow()).toISOString(), lastIgnored: null } })
  const line = h.records().find((r) => r.msg === 'ROECNY_API_KEY_FILE changed; applied' && r.generation === 2)
  t.match(line, { level: 'info', secret: 'ROECNY_API_KEY_FILE' }, 'one info line names the variable')
  t.notMatch(h.lines.join('\n'), /key-one|key-two|client-one/, 'no value in any line')
})

t.test('a plain file rewritten in place is applied', async (t) => {
  const dir = t.testdir({ key: 'first' })
  const h = startWatcher(t, { PROXY_ACCESS_KEY_FILE: join(dir, 'key') })
  h.watcher.start()
  writeFileSync(join(dir, 'key'), 'second\n')
  await afterEvent(h, 'the write event')
  t.same(h.applied.PROXY_ACCESS_KEY_FILE, ['first', 'second'], 'trimmed, as at start')
  t.equal(h.watcher.status().PROXY_ACCESS_KEY_FILE?.generation, 2)
  writeFileSync(join(dir, 'key'), '  second  ')
  await afterEvent(h, 'the second write event')
  t.same(h.applied.PROXY_ACCESS_KEY_FILE, ['first', 'second'], 'the same text after trimming is no change')
  t.equal(h.watcher.status().PROXY_ACCESS_KEY_FILE?.generation, 2)
})

t.test('an apply() that finds nothing new (e.g. a comment changed) is no change: no line, no count', async (t) => {
  const dir = t.testdir({ keys: 'k1\n# old' })
  const h = startWatcher(t, { PROXY_ACCESS_KEY_FILE: join(dir, 'keys') }, { apply: () => 'unchanged' })
  h.watcher.start()
  writeFileSync(join(dir, 'keys'), 'k1\n# new')
  await afterEvent(h, 'the write event')
  t.same(h.applied.PROXY_ACCESS_KEY_FILE, ['k1\n# old', 'k1\n# new'])
  t.same(h.reloads, [])
  t.equal(h.watcher.status().PROXY_ACCESS_KEY_FILE?.generation, 1)
  t.equal(h.records().filter((r) => r.secret !== undefined).length, 0)
})

t.test('empty, unreadable, too large or invalid: ignored with one warning; the process goes on; a good file is applied again', async (t) => {
  const dir = t.testdir({ key: 'good-one' })
  const path = join(dir, 'key')
  const h = startWatcher(t, { ROECNY_API_KEY_FILE: path }, { pollMs: 1000 })
  h.watcher.start()
  const cases: Array<[string, () => void, string]> = [
    ['empty', () => writeFileSync(path, '  \n'), 'ROECNY_API_KEY_FILE names an empty file'],
    ['removed', () => rmSync(path), 'ROECNY_API_KEY_FILE cannot be read (ENOENT)'],
    ['a folder', () => mkdirSync(path), 'ROECNY_API_KEY_FILE must name a regular file'],
    ['too large', () => { rmSync(path, { recursive: true }); writeFileSync(path, 'x'.repeat(1025)) }, 'ROECNY_API_KEY_FILE names a file larger than 1024 bytes'],
    ['invalid', () => writeFileSync(path, 'bad value'), 'ROECNY_API_KEY_FILE is bad']
  ]
  for (const [what, change, problem] of cases) {
    change()
    await h.clock.advance(1000)
    const warnings = h.records().filter((r) => r.level === 'warn')
    t.equal(warnings.length, cases.findIndex(([w]) => w === what) + 1, `${what}: one more warning`)
    t.match(warnings.at(-1), { secret: 'ROECNY_API_KEY_FILE', problem, msg: `ROECNY_API_KEY_FILE changed but was ignored: ${problem}; the last good value stays in use` }, what)
    t.match(h.watcher.status().ROECNY_API_KEY_FILE, { generation: 1, lastIgnored: { problem, at: String } }, what)
    await h.clock.advance(1000)
    t.equal(h.records().filter((r) => r.level === 'warn').length, warnings.length, `${what}: the same problem at the next poll is not warned about again`)
  }
  t.same(h.applied.ROECNY_API_KEY_FILE, ['good-one', 'bad value'], 'apply() saw only readable texts')
  t.same(h.reloads.map(([, result]) => result), ['ignored', 'ignored', 'ignored', 'ignored', 'ignored'])
  writeFileSync(path, 'good-two')
  await h.clock.advance(1000)
  t.same(h.applied.ROECNY_API_KEY_FILE, ['good-one', 'bad value', 'good-two'])
  t.match(h.watcher.status().ROECNY_API_KEY_FILE, { generation: 2, lastIgnored: { problem: 'ROECNY_API_KEY_FILE is bad' } }, 'the last ignored change stays visible')
  t.notMatch(h.lines.join('\n'), /good-one|good-two|bad value/)
})

t.test('the poll finds a change no event reported: a directory that could not be watched', async (t) => {
  const dir = join(t.testdir(), 'not-yet')
  const h = startWatcher(t, { ROECNY_CA_FILE: join(dir, 'ca.pem') }, { pollMs: 5000 })
  h.watcher.start()
  t.match(h.records().filter((r) => r.level === 'warn'), [
    { secret: 'ROECNY_CA_FILE', problem: 'ROECNY_CA_FILE cannot be read (ENOENT)' },
    { dir, code: 'ENOENT', msg: 'cannot watch a secret directory; its files are re-read every SECRETS_POLL_MS and on SIGHUP' }
  ])
  mkdirSync(dir)
  writeFileSync(join(dir, 'ca.pem'), 'bundle')
  await h.clock.advance(4999)
  t.same(h.applied, {}, 'not before the poll')
  await h.clock.advance(1)
  t.same(h.applied, { ROECNY_CA_FILE: ['bundle'] })
  t.equal(h.watcher.status().ROECNY_CA_FILE?.generation, 2)
})

t.test('SECRETS_POLL_MS=0: no timer at all; events and reload() only', async (t) => {
  const dir = join(t.testdir(), 'missing')
  const h = startWatcher(t, { ROECNY_API_KEY_FILE: join(dir, 'key') }, { pollMs: 0 })
  h.watcher.start()
  t.equal(h.clock.pendingTimers(), 0)
  t.match(h.records().at(-1), { code: 'ENOENT', msg: 'cannot watch a secret directory; with SECRETS_POLL_MS=0 its files are re-read on SIGHUP only' })
  mkdirSync(dir)
  writeFileSync(join(dir, 'key'), 'now-here')
  await h.clock.advance(3_600_000)
  t.same(h.applied, {})
  h.watcher.reload()
  t.same(h.applied, { ROECNY_API_KEY_FILE: ['now-here'] }, 'reload() (SIGHUP) reads at once, without the debounce')
})

t.test('a burst of events is one re-read; a file that does not change is not applied', async (t) => {
  const dir = t.testdir({ a: 'one', b: 'unchanged' })
  const h = startWatcher(t, { ROECNY_CLIENT_ID_FILE: join(dir, 'a'), ROECNY_API_KEY_FILE: join(dir, 'b') })
  h.watcher.start()
  for (const text of ['two', 'three', 'four']) writeFileSync(join(dir, 'a'), text)
  writeFileSync(join(dir, 'unrelated'), 'x')
  await afterEvent(h, 'the events')
  t.same(h.applied, { ROECNY_CLIENT_ID_FILE: ['one', 'four'], ROECNY_API_KEY_FILE: ['unchanged'] })
  t.equal(h.watcher.reloadScheduled(), false)
})

t.test('an apply() or a hook that throws does not stop the watcher', async (t) => {
  const dir = t.testdir({ key: 'one' })
  let calls = 0
  const h = startWatcher(t, { ROECNY_API_KEY_FILE: join(dir, 'key') }, {
    throwingHook: true,
    apply () {
      calls++
      if (calls === 2) throw new Error('apply failure')
      return 'applied'
    }
  })
  h.watcher.start()
  t.match(h.records().find((r) => r.level === 'warn'), { msg: 'onReload hook threw; ignored' })
  writeFileSync(join(dir, 'key'), 'two')
  h.watcher.reload()
  t.match(h.records().find((r) => r.level === 'error'), { msg: 'ROECNY_API_KEY_FILE: applying the change failed', err: { message: 'apply failure' } })
  t.match(h.watcher.status().ROECNY_API_KEY_FILE, { generation: 2, lastIgnored: { problem: 'ROECNY_API_KEY_FILE could not be applied' } })
  writeFileSync(join(dir, 'key'), 'three')
  h.watcher.reload()
  t.equal(h.watcher.status().ROECNY_API_KEY_FILE?.generation, 3)
})

t.test('close() stops events, polls and reloads', async (t) => {
  const dir = t.testdir({ key: 'one' })
  const h = startWatcher(t, { ROECNY_API_KEY_FILE: join(dir, 'key') }, { pollMs: 1000 })
  h.watcher.start()
  writeFileSync(join(dir, 'key'), 'two')
  await until(h.watcher.reloadScheduled, 'the write event')
  h.watcher.close()
  t.equal(h.clock.pendingTimers(), 0, 'the debounce and the poll are cancelled')
  h.watcher.reload()
  t.same(h.applied.ROECNY_API_KEY_FILE, ['one'])
})
