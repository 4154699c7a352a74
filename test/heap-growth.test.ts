// V8's heap growth: the CLI sets --heap-growing-percent=20 first thing, unless node's command line names it.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { HEAP_GROWING_FLAG, heapGrowingFlag } from '../src/heap-growth.js'
import { probeNode } from './helpers/node-probe.js'

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url))

/**
 * V8's hash of its flags (v8.cachedDataVersionTag(), which follows flags set at run time too) in a
 * fresh node started with `flags`, after it imports the CLI (which runs nothing under -e) if asked.
 */
async function flagsTag (flags: string[], importCli: boolean): Promise<number> {
  const load = importCli ? `await import(${JSON.stringify(CLI)});` : ''
  return Number((await probeNode(`${load} const v8 = await import('node:v8'); console.log(v8.cachedDataVersionTag())`, flags)).trim())
}

t.test('the flag is set unless the command line names it, in either spelling', async (t) => {
  t.equal(heapGrowingFlag([]), HEAP_GROWING_FLAG)
  t.equal(heapGrowingFlag(['--max-semi-space-size=4', '--enable-source-maps']), HEAP_GROWING_FLAG)
  t.equal(heapGrowingFlag(['--heap-growing-percent=0']), undefined)
  t.equal(heapGrowingFlag(['--heap_growing_percent=50']), undefined)
  t.equal(heapGrowingFlag(['--heap-growing-percent', '50']), undefined)
})

t.test('a process that loads the CLI runs with the flag, as if node had been started with it', async (t) => {
  const [plain, started, loaded] = await Promise.all([
    flagsTag([], false),
    flagsTag([HEAP_GROWING_FLAG], false),
    flagsTag([], true)
  ])
  t.not(started, plain, 'the flag changes V8\'s flags hash')
  t.equal(loaded, started, 'loading the CLI set it')
})

t.test('a value of the command line\'s own is left alone', async (t) => {
  const [started, loaded] = await Promise.all([
    flagsTag(['--heap-growing-percent=0'], false),
    flagsTag(['--heap-growing-percent=0'], true)
  ])
  t.equal(loaded, started)
})

t.test('the CLI loads it before anything else, the compile cache included', async (t) => {
  const cli = readFileSync(CLI, 'utf8')
  const imports = [...cli.matchAll(/^import .*$/gm)].map(([line]) => line)
  t.same(imports.slice(0, 2), ["import './heap-growth.js'", "import './compile-cache.js'"])
})
