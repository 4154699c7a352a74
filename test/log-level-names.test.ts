// Log lines name their level ("level":"info"), as log pipelines read it, never by pino's number.
import t from 'tap'
import { createLogger } from '../src/log.js'

t.test('every level by its name', async (t) => {
  const lines: string[] = []
  const log = createLogger('trace', { write (line: string) { lines.push(line) } })
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const
  for (const level of levels) log[level]('line')
  t.same(lines.map((line) => (JSON.parse(line) as { level: unknown }).level), levels)
})
