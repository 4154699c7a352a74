// The log lines' "time": the text of pino's isoTime, formatted from a cached second.
import fc from 'fast-check'
import t from 'tap'
import { createLogger, isoTime } from '../src/log.js'

const expected = (now: number): string => `,"time":"${new Date(now).toISOString()}"`

t.test('the same text as Date#toISOString, at every millisecond of a second and across seconds', async (t) => {
  const base = Date.UTC(2026, 11, 7, 23, 59, 59)
  for (const now of [base, base + 1, base + 9, base + 10, base + 99, base + 100, base + 999, base + 1000, base + 1001, base - 1, 0, 999, 1000]) {
    t.equal(isoTime(now), expected(now), String(now))
  }
})

t.test('any instant, in any order (a clock stepped back included)', async (t) => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: Date.UTC(9999, 11, 31) }), { minLength: 1, maxLength: 20 }), (instants) => {
    for (const now of instants) {
      if (isoTime(now) !== expected(now)) return false
      if (isoTime(now + 1) !== expected(now + 1)) return false
    }
    return true
  }))
  t.pass('isoTime matched toISOString for every instant')
})

t.test('a logger\'s lines carry the current time in that format', async (t) => {
  const lines: string[] = []
  const log = createLogger('info', { write (line: string) { lines.push(line) } })
  const before = Date.now()
  log.info('line')
  const after = Date.now()
  const time = (JSON.parse(lines[0] as string) as { time: string }).time
  t.match(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  t.ok(Date.parse(time) >= before && Date.parse(time) <= after, 'the time of the call')
})
