// docs/architecture.md is the map of the code: every module under src/ has its line there, and every module it names exists.
import { readdirSync, readFileSync } from 'node:fs'
import t from 'tap'

const DOC = readFileSync(new URL('../docs/architecture.md', import.meta.url), 'utf8')
const SRC = new URL('../src/', import.meta.url)

t.test('every module under src/ is on the map, and the map names no module that is gone', async (t) => {
  const modules = readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((file) => /\.c?ts$/.test(file))
    .map((file) => `src/${file.replaceAll('\\', '/')}`)
  t.ok(modules.length > 0)
  for (const module of modules) t.ok(DOC.includes(`\`${module}\``), `${module} is in docs/architecture.md`)
  const named = new Set([...DOC.matchAll(/`(src\/[^`]+\.c?ts)`/g)].map((match) => match[1] as string))
  t.same([...named].filter((module) => !modules.includes(module)), [], 'every module the map names exists')
})
