// V8's heap growth: the CLI sets --heap-growing-percent=20 first thing, unless node's command line names it.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { HEAP_GROWING_FLAG, heapGrowingFlag } from '../src/heap-growth.js'

const MODULE = fileURLToPath(new URL('../src/heap-growth.ts', import.meta.url))

/** What a fresh node process with these flags set: the module's `appliedHeapFlag`. */
async function appliedIn (flags: string[]): Promise<unknown> {
  const child = spawn(process.execPath, [...process.execArgv, ...flags, '--input-type=module', '-e',
    `const { appliedHeapFlag } = await import(${JSON.stringify(MODULE)}); console.log(JSON.stringify({ appliedHeapFlag: appliedHeapFlag ?? null }))`], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  await once(child, 'close')
  return (JSON.parse(out) as { appliedHeapFlag: unknown }).appliedHeapFlag
}

t.test('the flag is set unless the command line names it, in either spelling', async (t) => {
  t.equal(heapGrowingFlag([]), HEAP_GROWING_FLAG)
  t.equal(heapGrowingFlag(['--max-semi-space-size=4', '--enable-source-maps']), HEAP_GROWING_FLAG)
  t.equal(heapGrowingFlag(['--heap-growing-percent=0']), undefined)
  t.equal(heapGrowingFlag(['--heap_growing_percent=50']), undefined)
  t.equal(heapGrowingFlag(['--heap-growing-percent', '50']), undefined)
})

t.test('a process that loads it sets the flag; one started with its own value keeps it', async (t) => {
  t.equal(await appliedIn([]), HEAP_GROWING_FLAG)
  t.equal(await appliedIn(['--heap-growing-percent=0']), null)
})

t.test('the CLI loads it before anything else, the compile cache included', async (t) => {
  const cli = readFileSync(fileURLToPath(new URL('../src/cli.ts', import.meta.url)), 'utf8')
  const imports = [...cli.matchAll(/^import .*$/gm)].map(([line]) => line)
  t.same(imports.slice(0, 2), ["import './heap-growth.js'", "import './compile-cache.js'"])
})
