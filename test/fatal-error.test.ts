// An uncaught exception or unhandled rejection ends the CLI with one JSON fatal line and exit 1, never a bare stack trace.
import { fileURLToPath, pathToFileURL } from 'node:url'
import t from 'tap'
import { source, spawnScript } from './helpers/cli.js'

const CRASH = pathToFileURL(fileURLToPath(new URL('./helpers/crash-on-signal.mjs', import.meta.url))).href

const CASES = [
  { what: 'an uncaught exception', crash: 'exception', message: 'crashed on purpose', origin: 'uncaughtException' },
  { what: 'an unhandled rejection', crash: 'rejection', message: 'rejected on purpose', origin: 'unhandledRejection' }
]

for (const { what, crash, message, origin } of CASES) {
  t.test(what, async (t) => {
    const env = { MOCK_PORT: '0', CRASH: crash, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${CRASH}` }
    const child = spawnScript(t, source('cli'), ['mock'], env)
    await child.line(/mock Roecny API listening/)
    child.process.kill('SIGUSR2')
    t.equal(await child.exited, 1)
    t.equal(child.stderr.join('\n'), '', 'nothing on stderr: no bare stack trace')
    const fatal = child.stdout.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>)
    t.equal(fatal.length, 1, 'one log line')
    t.match(fatal[0], { level: 'fatal', msg: 'uncaught error: exiting', origin, err: { message } })
  })
}
