// README.md is the front door and docs/ the reference: what they state about the code is checked against the code.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { slug } from '../scripts/config-docs.js'
import { EXIT_CONFIG, EXIT_FAILURE, EXIT_OK } from '../src/cli.js'
import { defaultOf, VARIABLES } from '../src/config/variables.js'
import type { VariableName } from '../src/config/variables.js'
import { PROXY_ERRORS } from '../src/errors.js'
import { EVENT_LOOP_SAMPLE_MS } from '../src/metrics.js'
import { localLinks, pages, read, ROOT } from './helpers/docs.js'

const README = read('README.md')
const OBSERVABILITY = read('docs/observability.md')

/** The rows of the first Markdown table after `heading`, each as its cells. */
function tableAfter (text: string, heading: string): string[][] {
  const start = text.indexOf(`\n${heading}\n`)
  const lines = text.slice(start + heading.length + 2).split('\n')
  const first = lines.findIndex((line) => line.startsWith('|'))
  const rows: string[][] = []
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break
    rows.push(line.slice(1, -1).split(/(?<!\\)\|/).map((cell) => cell.trim()))
  }
  return rows
}

function headings (text: string): Set<string> {
  return new Set(text.split('\n').filter((line) => /^#{1,6} /.test(line)).map((line) => slug(line.replace(/^#+ /, ''))))
}

function sourceFiles (dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' }).filter((name) => /\.c?ts$/.test(name)).map((name) => join(ROOT, dir, name))
}

/** Whether an `engines.node` range admits some Node 20 release: one of its alternatives names 20 or starts at or below it. */
function admitsNode20 (range: string): boolean {
  return range.split('||').some((part) => {
    const [, operator = '', major = ''] = /^\s*(>=|\^|~)?\s*v?(\d+)/.exec(part) ?? []
    return part.trim() === '*' || Number(major) === 20 || (operator === '>=' && Number(major) < 20)
  })
}

t.test('the README names every installed package whose engines leave out Node 20, the warnings npm ci prints there', async (t) => {
  t.ok(admitsNode20('20 || >=22') && admitsNode20('^20.17.0 || >=22.9.0') && admitsNode20('>=14') && admitsNode20('*'))
  t.notOk(admitsNode20('>=22') || admitsNode20('^18.0.0 || >=22'))
  const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { engines?: { node?: string } }> }
  const refused = Object.entries(lock.packages)
    .filter(([path, entry]) => path !== '' && typeof entry.engines?.node === 'string' && !admitsNode20(entry.engines.node))
    .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length))
  t.ok(refused.length > 0, 'the lockfile holds packages that ask for a newer Node (cookie@2 does)')
  const section = README.slice(README.indexOf('## Node.js versions'), README.indexOf('\n## ', README.indexOf('## Node.js versions') + 1))
  for (const name of refused) {
    const named = section.includes(`\`${name}\``) || section.includes(`\`${name}@`) || (name.startsWith('@kubernetes-models/') && section.includes('`@kubernetes-models/*`'))
    t.ok(named, `README's Node.js versions section names ${name}, whose engines leave out Node 20`)
  }
})

t.test('the README fits on a few screens, starts with the two commands and has a table of contents', async (t) => {
  const lines = README.split('\n').length
  t.ok(lines <= 250, `README.md has ${lines} lines, at most 250`)
  t.match(README, /^npm ci && npm run demo /m, 'npm ci && npm run demo')
  t.match(README, /^npm ci && npm test$/m, 'npm ci && npm test')
  t.match(README, '\n## Contents\n', 'a table of contents')
  const contents = README.slice(README.indexOf('## Contents'), README.indexOf('\n## ', README.indexOf('## Contents') + 1))
  const sections = [...README.matchAll(/^## (.+)$/gm)].map((match) => slug(match[1] as string)).filter((name) => name !== 'contents')
  for (const section of sections) t.match(contents, `(#${section})`, `the contents list ${section}`)
})

t.test('every link between the pages leads to a file and a heading that exist', async (t) => {
  for (const page of [...pages(), 'CHANGELOG.md']) {
    const dir = page.includes('/') ? page.slice(0, page.lastIndexOf('/') + 1) : ''
    for (const { file, anchor } of localLinks(read(page))) {
      const target = file === '' ? page : join(dir, file).replace(/\/$/, '')
      t.ok(existsSync(join(ROOT, target)), `${page} links to ${target}`)
      if (anchor !== undefined && target.endsWith('.md')) t.ok(headings(read(target)).has(anchor), `${page} links to ${target}#${anchor}`)
    }
  }
})

t.test('every file of the project a page names in code exists (dist/ as the source it is built from)', async (t) => {
  let named = 0
  for (const page of [...pages(), 'CHANGELOG.md']) {
    for (const [, path] of read(page).matchAll(/[`\s(](\.?(?:dist|src|test|bench|scripts|examples|deploy|docs|\.ci)\/[\w./*-]*)/g)) {
      if (/\.\.\.|\*/.test(path as string)) continue
      // dist/ is the build's output, absent from a fresh clone: a file in it is checked as its source.
      if (path === 'dist/') continue
      const source = (path as string).replace(/^dist\/(.+)\.js$/, '$1.ts')
      t.ok(existsSync(join(ROOT, source)), `${page} names ${path as string}`)
      named++
    }
  }
  t.ok(named >= 30, `${named} paths named`)
})

t.test('the README\'s error codes are the proxy\'s, each with its status', async (t) => {
  const rows = tableAfter(README, '### Error codes').map(([status, code]) => [Number(status), (code as string).replace(/`/g, '')])
  t.same(rows, Object.entries(PROXY_ERRORS).map(([code, { status }]) => [status, code]))
})

t.test('the README\'s exit codes are the CLI\'s', async (t) => {
  t.same(tableAfter(README, '### Exit codes').map(([code]) => code).sort(), [EXIT_OK, EXIT_FAILURE, EXIT_CONFIG].map((code) => `\`${code}\``).sort())
})

t.test('the README\'s ten variables exist, with their defaults', async (t) => {
  const rows = tableAfter(README, '### Variables')
  t.equal(rows.length, 10)
  for (const [variable, fallback] of rows) {
    const name = (variable as string).replace(/`/g, '') as VariableName
    t.ok(name in VARIABLES, `${name} is a variable`)
    const expected = defaultOf(name)
    t.equal(fallback, expected !== undefined ? `\`${expected}\`` : name === 'ROECNY_BASE_URL' ? 'required' : 'none', `${name}'s default`)
  }
})

t.test('the README lists the own routes', async (t) => {
  t.same(tableAfter(README, '### Own routes').map(([route]) => route), ['`GET /-/healthz`', '`GET /-/readyz`', '`GET /-/status`', '`GET /-/metrics`'])
})

t.test('docs/observability.md documents every metric src/metrics.ts declares', async (t) => {
  const code = readFileSync(join(ROOT, 'src/metrics.ts'), 'utf8')
  const names = [
    ...[...code.matchAll(/\$\{METRICS_PREFIX\}([a-z_]+)`/g)].map((match) => match[1] as string),
    ...[...code.matchAll(/countedByLabel\('([a-z_]+)'/g)].map((match) => match[1] as string)
  ]
  t.ok(names.length >= 18, `${names.length} metrics declared`)
  const documented = tableAfter(OBSERVABILITY, '## Metrics').map(([name]) => name)
  for (const name of names) t.ok(documented.includes(`\`roecny_proxy_${name}\``), `roecny_proxy_${name} is documented`)
  t.match(code, 'collectDefaultMetrics({ register: registry, prefix: METRICS_PREFIX, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS })', 'the process metrics are prom-client\'s defaults, as documented')
  t.match(OBSERVABILITY, `The event loop's delay is sampled every ${EVENT_LOOP_SAMPLE_MS} ms`, 'the page gives the sampling interval the code uses')
})

t.test('every log field docs/observability.md names is one the code writes', async (t) => {
  const code = sourceFiles('src').map((file) => readFileSync(file, 'utf8')).join('\n')
  const tables = ['### Fields of every line', '### The access line'].flatMap((heading) => tableAfter(OBSERVABILITY, heading))
  const fields = tables.map(([field]) => (field as string).replace(/`/g, ''))
  t.ok(fields.length >= 12, `${fields.length} fields`)
  // pino writes level, time and msg itself; Fastify names the request id reqId.
  const written = new Set(['level', 'time', 'msg', 'reqId'])
  for (const field of fields) t.ok(written.has(field) || new RegExp(`\\b${field}\\b\\s*:|\\{ ${field}[ ,}]|, ${field}[ ,}]`).test(code), `${field} is written by the code`)
  let messages = 0
  for (const row of tableAfter(OBSERVABILITY, '### Other lines')) {
    // `...` stands for what the line fills in, `<VARIABLE>` for a variable's name.
    for (const [, message] of (row[2] as string).matchAll(/`([^`]+)`/g)) {
      const parts = (message as string).replace('<VARIABLE>', '...').split('...')
      t.ok(parts.every((part) => code.includes(part)), `"${message}" is a message the code logs`)
      messages++
    }
  }
  t.ok(messages >= 15, `${messages} messages`)
})

t.test('the README and docs/ name no package registry host', async (t) => {
  for (const page of [...pages(), 'CHANGELOG.md']) t.notMatch(read(page), /registry\.npmjs|npmjs\.com|hub\.docker\.com|docker\.io/, page)
})
