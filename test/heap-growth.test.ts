// V8's heap growth: every way of starting the CLI gives node --heap-growing-percent=20 on its own command line.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import t from 'tap'
import type { Test } from 'tap'
import { builtPackage, childEnv, outputOf, spawnCommand } from './helpers/cli.js'

const FLAG = '--heap-growing-percent=20'
const ROOT = fileURLToPath(new URL('../', import.meta.url))
const PROBE = pathToFileURL(fileURLToPath(new URL('./helpers/v8-flags-probe.mjs', import.meta.url))).href

interface Seen { script: string, tag: number, execArgv: string[], nodeOptions: string }

/** The image's ENTRYPOINT, as the Dockerfile says it. */
function entrypoint (): string[] {
  const line = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').split('\n').find((l) => l.startsWith('ENTRYPOINT '))
  return JSON.parse((line as string).slice('ENTRYPOINT '.length)) as string[]
}

/** What the probe saw in a CLI started by `command` in the built package, answering --version. */
async function started (t: Test, command: string[]): Promise<Seen> {
  const [file, ...args] = command as [string, ...string[]]
  const env = childEnv({ NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${PROBE}` })
  const out = await outputOf(spawnCommand(t, file, args, { env, cwd: builtPackage() }))
  t.equal(out.code, 0, command.join(' '))
  // npm, a node process too, reports its own: the CLI's is the one whose script is cli.js.
  const seen = out.stderr.split('\n').filter((l) => l.startsWith('v8-flags ')).map((l) => JSON.parse(l.slice('v8-flags '.length)) as Seen)
  return seen.find((s) => s.script.endsWith('cli.js')) as Seen
}

/** V8's flags hash in a node started by hand with `flags`, under the NODE_OPTIONS the CLI saw. */
async function tagOf (t: Test, flags: string[], nodeOptions: string): Promise<number> {
  const env = childEnv({ NODE_OPTIONS: nodeOptions })
  const out = await outputOf(spawnCommand(t, process.execPath, [...flags, '-p', 'require("node:v8").cachedDataVersionTag()'], { env }))
  return Number(out.stdout.trim())
}

const WAYS: Array<{ way: string, command: () => string[] }> = [
  { way: 'the bin, through its shebang', command: () => [join(builtPackage(), 'dist', 'src', 'cli.js'), '--version'] },
  { way: 'npm start', command: () => ['npm', 'start', '--silent', '--', '--version'] },
  { way: 'the image\'s ENTRYPOINT', command: () => [process.execPath, ...entrypoint().slice(1), '--version'] }
]

for (const { way, command } of WAYS) {
  t.test(`${way}: node runs with the flag, and V8 with it in effect`, async (t) => {
    const seen = await started(t, command())
    t.ok(seen.execArgv.includes(FLAG), `node's own options: ${seen.execArgv.join(' ')}`)
    const [withFlag, without] = await Promise.all([tagOf(t, [FLAG], seen.nodeOptions), tagOf(t, [], seen.nodeOptions)])
    t.not(withFlag, without, 'the flag changes V8\'s flags hash')
    t.equal(seen.tag, withFlag, 'the CLI\'s V8 has the flag')
  })
}

t.test('the image fills its compile cache with the flag, since V8 checks the cache against its flags', async (t) => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
  t.match(dockerfile, new RegExp(`^RUN node ${FLAG} .*/app/dist/src/`, 'm'))
  t.same(entrypoint().slice(0, 3), ['node', FLAG, '--'])
})
