// A missing --env-file exits 78 with the proxy's message however the CLI is started as documented:
// the bin, npx, npm start, node with `--`, the image's ENTRYPOINT. The built package, real child processes.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { builtPackage, childEnv, outputOf, spawnCommand } from './helpers/cli.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const MISSING = '/nonexistent/proxy.env'
const MESSAGE = `roecny-auth-proxy: configuration error: --env-file cannot be read (ENOENT): ${MISSING}`

/** The image's ENTRYPOINT, as the Dockerfile says it, with this node. */
function entrypoint (): string[] {
  const line = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').split('\n').find((l) => l.startsWith('ENTRYPOINT '))
  const [, ...rest] = JSON.parse((line as string).slice('ENTRYPOINT '.length)) as string[]
  return [process.execPath, ...rest]
}

// One row per way of starting; `code` and `message` are what the user sees.
const WAYS: Array<{ way: string, command: () => string[], code: number, message: string | RegExp }> = [
  { way: 'the bin, through its shebang (whose `--` ends node\'s options)', command: () => [join(builtPackage(), 'dist', 'src', 'cli.js'), 'check', '--env-file', MISSING], code: 78, message: MESSAGE },
  { way: 'npm start -- --env-file PATH', command: () => ['npm', 'start', '--silent', '--', '--env-file', MISSING], code: 78, message: MESSAGE },
  { way: 'npx -- roecny-auth-proxy --env-file PATH', command: () => ['npx', '--', 'roecny-auth-proxy', 'check', '--env-file', MISSING], code: 78, message: MESSAGE },
  { way: 'npm exec roecny-auth-proxy -- --env-file PATH', command: () => ['npm', 'exec', 'roecny-auth-proxy', '--', 'check', '--env-file', MISSING], code: 78, message: MESSAGE },
  { way: 'node -- dist/src/cli.js', command: () => [process.execPath, '--', 'dist/src/cli.js', 'check', '--env-file', MISSING], code: 78, message: MESSAGE },
  { way: 'the image\'s ENTRYPOINT', command: () => [...entrypoint(), 'check', '--env-file', MISSING], code: 78, message: MESSAGE },
  // Node reads --env-file anywhere on its command line up to a `--`, before any script runs: without
  // one, node itself refuses the missing file (exit 9), and npx is a node script too. The docs show the
  // forms above; these rows say why, and fail the day node stops doing so.
  { way: 'node dist/src/cli.js, without `--`', command: () => [process.execPath, 'dist/src/cli.js', 'check', '--env-file', MISSING], code: 9, message: /not found/ },
  { way: 'npx roecny-auth-proxy --env-file PATH, without `--`', command: () => ['npx', 'roecny-auth-proxy', 'check', '--env-file', MISSING], code: 9, message: /not found/ }
]

for (const { way, command, code, message } of WAYS) {
  t.test(way, async (t) => {
    const [file, ...args] = command() as [string, ...string[]]
    const out = await outputOf(spawnCommand(t, file, args, { env: childEnv({}), cwd: builtPackage() }))
    t.equal(out.code, code, `exit ${code}`)
    t.match(out.stderr, message)
  })
}
