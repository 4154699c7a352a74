// Without REDIS_URL nothing of fleet mode is loaded (the default sidecar's footprint): src/fleet/ and the Redis client
// are reached from the rest of src/ only by one dynamic import, and by type imports that vanish when compiled.
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import ts from 'typescript'

const SRC = fileURLToPath(new URL('../src/', import.meta.url))

function sources (): string[] {
  return readdirSync(SRC, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.c?ts$/.test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name))
}

t.test('outside src/fleet/, the fleet and @redis/client are imported only as types, or lazily by the server', async (t) => {
  const lazy: string[] = []
  for (const file of sources()) {
    const name = relative(SRC, file)
    if (name.startsWith('fleet/')) continue
    // What the compiled JavaScript keeps: type-only imports are gone.
    const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } })
    t.notMatch(outputText, /(?:from|import)\s*['"][^'"]*(?:\/fleet\/|@redis\/)/, `${name} loads no fleet module statically`)
    if (/import\(['"]\.\/fleet\/start\.js['"]\)/.test(outputText)) lazy.push(name)
  }
  t.same(lazy, ['server.ts'], 'one dynamic import, in the server, taken only with REDIS_URL')
  t.match(readFileSync(join(SRC, 'server.ts'), 'utf8'), /config\.redisUrl === undefined\s*\?\s*undefined\s*:\s*\(await import\('\.\/fleet\/start\.js'\)\)/)
})

t.test('inside src/fleet/, the fleet\'s budget is imported only lazily, when a replica has limits', async (t) => {
  // A replica without limits never loads it. Nor does a test process that never builds a budget: such a
  // process reported the module's functions as never run, and merged with the one that ran them, the
  // coverage report once kept the zeros.
  for (const file of sources()) {
    const name = relative(SRC, file)
    if (!name.startsWith('fleet/') || name === 'fleet/fleet-budget.ts') continue
    const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } })
    t.notMatch(outputText, /(?:from|import)\s*['"]\.\/fleet-budget\.js['"]/, `${name} loads the budget not statically`)
  }
  t.match(readFileSync(join(SRC, 'fleet', 'start.ts'), 'utf8'), /await import\('\.\/fleet-budget\.js'\)/)
})
