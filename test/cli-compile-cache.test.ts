// The CLI turns on Node's module compile cache before its dependencies load (Node 22.1 and later).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readdirSync } from 'node:fs'
import module from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
const hasCompileCache = typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function'

t.test(`the compiled code of what the CLI loads is cached under the temporary directory${hasCompileCache ? '' : ' (not on this Node)'}`, async (t) => {
  const tmp = t.testdir()
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp }
  delete env.NODE_COMPILE_CACHE
  const child = spawn(process.execPath, [...process.execArgv, '--', CLI, '--version'], { env, stdio: 'ignore' })
  const [code] = await once(child, 'close') as [number | null]
  t.equal(code, 0)
  const cache = join(tmp, 'node-compile-cache')
  if (!hasCompileCache) {
    t.notOk(existsSync(cache), 'Node 20 has no compile cache: nothing written')
    return
  }
  const entries = readdirSync(cache, { recursive: true })
  // One directory per Node version and CPU, one file per module: the CLI and what it loads before --version answers.
  t.ok(entries.length > 10, `${entries.length} entries in ${cache}`)
})
