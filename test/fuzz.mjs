// npm run fuzz -- --runs N --seed S: runs both fuzz suites with N cases each (no time limit) and seed S (default: a new one, printed).
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { parseArgs } from 'node:util'

const usage = 'usage: npm run fuzz -- [--runs N] [--seed S]'
let values
try {
  ({ values } = parseArgs({ options: { runs: { type: 'string' }, seed: { type: 'string' } } }))
} catch (err) {
  console.error(`${err.message}\n${usage}`)
  process.exit(2)
}
for (const [name, min] of [['runs', 1], ['seed', -(2 ** 31)]]) {
  const value = values[name]
  if (value !== undefined && !(Number.isSafeInteger(Number(value)) && Number(value) >= min)) {
    console.error(`--${name} must be an integer${name === 'runs' ? ' of at least 1' : ''}, not ${JSON.stringify(value)}\n${usage}`)
    process.exit(2)
  }
}
const env = { ...process.env }
if (values.runs !== undefined) env.FUZZ_RUNS = values.runs
if (values.seed !== undefined) env.FUZZ_SEED = values.seed
const tap = createRequire(import.meta.url).resolve('tap/package.json').replace(/package\.json$/, 'dist/esm/run.mjs')
// No coverage check (only these files run) and no time limit per file: a long run takes what it takes.
const result = spawnSync(process.execPath, [tap, '--disable-coverage', '--timeout=0', 'test/fuzz-client.test.ts', 'test/fuzz-upstream.test.ts'], { stdio: 'inherit', env })
process.exit(result.status ?? 1)
