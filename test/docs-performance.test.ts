// docs/performance.md shows the run in bench/results/latest.json: a page left behind by a new run fails here.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import ts from 'typescript'
import { REGENERATE } from '../scripts/config-docs.js'
import { END, LATEST_FILE, PERFORMANCE_FILE, renderLatestRun, START, withLatestRun, writePerformanceDoc } from '../scripts/performance-docs.js'
import type { ContenderTable, LatestRun } from '../scripts/performance-docs.js'
import { ROOT } from './helpers/docs.js'

/**
 * bench/report.ts's table, from bench/ compiled below .tap/ as `npm run docs` runs it from dist/:
 * the bench is a tool, not part of the suite's coverage.
 */
async function benchTable (): Promise<ContenderTable> {
  mkdirSync(join(ROOT, '.tap'), { recursive: true })
  const out = mkdtempSync(join(ROOT, '.tap', 'bench-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  for (const name of readdirSync(join(ROOT, 'bench')).filter((file) => file.endsWith('.ts'))) {
    const { outputText } = ts.transpileModule(readFileSync(join(ROOT, 'bench', name), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 }
    })
    writeFileSync(join(out, name.replace(/\.ts$/, '.js')), outputText)
  }
  writeFileSync(join(out, 'package.json'), '{"type":"module"}')
  const report = await import(pathToFileURL(join(out, 'report.js')).href) as { contenderTable: ContenderTable }
  return report.contenderTable
}

const TABLE = await benchTable()

const LATEST = JSON.parse(readFileSync(join(ROOT, LATEST_FILE), 'utf8')) as LatestRun
const PAGE = readFileSync(join(ROOT, PERFORMANCE_FILE), 'utf8')

/** A contender's name as a pattern: names such as `proxy (compared)` hold characters a pattern reads. */
function escapeRegExp (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

t.test('docs/performance.md shows the latest run', async (t) => {
  t.ok(PAGE === withLatestRun(PAGE, LATEST, TABLE), `docs/performance.md is stale: run \`${REGENERATE}\` and commit the page`)
})

t.test('the latest run holds the bench\'s table and the proxy against the bare stack', async (t) => {
  const shown = renderLatestRun(LATEST, TABLE)
  for (const contender of LATEST.contenders) t.match(shown, new RegExp(`^${escapeRegExp(contender.name)} +[\\d,]+ `, 'm'), `${contender.name} has its row`)
  t.match(shown, /^\| req\/s at 50 connections \| \d\.\d\d× \(rounds: [\d., ]+\) \|$/m)
  t.match(shown, /^\| idle RSS \| [\d.]+ MiB against [\d.]+ MiB \|$/m)
  const unmeasured = renderLatestRun({ ...LATEST, ratios: { proxyToFastify: null } }, TABLE)
  t.match(unmeasured, '| req/s at 50 connections | not measured |', 'a run without bare Fastify says so')
})

t.test('the latest run shows what SPEC §8\'s access line costs the stack itself, and the proxy against that logged stack', async (t) => {
  const ratios = {
    proxyToFastify: null,
    loggedToFastify: { perRound: [0.84, 0.86, 0.85], median: 0.85 },
    loggedToFastifyByCpu: { perRound: [0.8, 0.9], median: 0.85 },
    proxyToLogged: { perRound: [0.9, 0.91, 0.92], median: 0.91 },
    proxyToLoggedByCpu: { perRound: [0.93], median: 0.93 }
  }
  const shown = renderLatestRun({ ...LATEST, ratios }, TABLE)
  t.match(shown, '| against bare Fastify: what the line costs the stack itself | 0.85× (rounds: 0.84, 0.86, 0.85) | 0.85× (rounds: 0.80, 0.90) |')
  t.match(shown, '| the proxy against it | 0.91× (rounds: 0.90, 0.91, 0.92) | 0.93× (rounds: 0.93) |')
  const older = renderLatestRun({ ...LATEST, ratios: { proxyToFastify: null } }, TABLE)
  t.match(older, '| against bare Fastify: what the line costs the stack itself | not measured | not measured |', 'a run from before that contender says so')
  t.match(older, '| the proxy against it | not measured | not measured |')
})

t.test('the latest run lists the bench\'s targets, each against the stack of the same run, and says which are missed', async (t) => {
  const target = { what: 'idle RSS vs bare Fastify\'s', goal: '≤ +10 MB', value: '90.0 MB (85.8 MiB), +3.0 MB', met: true }
  const full = renderLatestRun({ ...LATEST, mode: 'full', targets: [target] }, TABLE)
  t.match(full, '| target | goal | measured | met |')
  t.match(full, '| idle RSS vs bare Fastify\'s | ≤ +10 MB | 90.0 MB (85.8 MiB), +3.0 MB | yes |')
  const quick = renderLatestRun({ ...LATEST, mode: 'quick', targets: [{ ...target, met: false }] }, TABLE)
  t.match(quick, '| target (a quick run: not judged) | goal | measured | met |')
  t.match(quick, '| idle RSS vs bare Fastify\'s | ≤ +10 MB | 90.0 MB (85.8 MiB), +3.0 MB | **no** |')
  for (const each of LATEST.targets) t.notMatch(each.goal, /^≤ \d+ (MB|ms)$/, `${each.what}: no absolute goal`)
})

t.test('a page without its markers is refused with where they go', async (t) => {
  t.throws(() => withLatestRun('# Performance\n', LATEST, TABLE), { message: `${PERFORMANCE_FILE} has no place for the latest run: put ${START} and ${END} on lines of their own` })
  t.equal(withLatestRun(`before\n${START}\nold\n${END}\nafter\n`, LATEST, TABLE), `before\n${renderLatestRun(LATEST, TABLE)}\nafter\n`)
})

t.test('npm run docs rewrites the page with the latest run', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'performance-docs-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const target = join(dir, 'performance.md')
  writePerformanceDoc(ROOT, TABLE, target)
  t.equal(readFileSync(target, 'utf8'), withLatestRun(PAGE, LATEST, TABLE))
})
