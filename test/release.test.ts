// The release: one version in package.json and its lock file; `npm pack` builds what it packs; `npm run demo`
// compiles only what changed (tsc -b keeps build info) and gives node the CLI's heap growth on its own argv.
// (test/pack/smoke.sh installs the packed tarball and runs it; .ci/run runs that.)
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
/** V8's heap growth, on node's own command line (test/heap-growth.test.ts checks every way of starting). */
const HEAP_GROWING_FLAG = '--heap-growing-percent=20'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string, files: string[], scripts: Record<string, string> }
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { version: string, packages: Record<string, { version?: string }> }

t.test('package.json and package-lock.json name the same release', async (t) => {
  t.match(pkg.version, /^\d+\.\d+\.\d+$/)
  t.equal(lock.version, pkg.version)
  t.equal(lock.packages['']?.version, pkg.version)
})

t.test('npm pack builds first and packs the compiled CLI only', async (t) => {
  t.equal(pkg.scripts.prepack, 'npm run build')
  t.same(pkg.files, ['dist/src'])
  t.equal(pkg.scripts['test:pack'], 'bash test/pack/smoke.sh')
})

t.test('npm run demo: an incremental build, then node with the CLI\'s heap growth on its command line', async (t) => {
  const [build, run] = pkg.scripts.demo?.split(' && ') ?? []
  // tsc -b writes build info and skips a build that is current: a start in seconds instead of a full compile.
  t.equal(build, 'tsc -b tsconfig.build.json')
  t.equal(run, `node ${HEAP_GROWING_FLAG} -- dist/src/cli.js demo`)
})
