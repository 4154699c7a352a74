// The Dockerfile without Docker: stages, production dependencies only, non-root, HEALTHCHECK, signals, build context.
// (test/docker/smoke.sh builds and runs the image where an engine is available.)
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const lines = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'))

/** Instructions grouped by stage, in order. */
const stages: Array<{ from: string, name: string | undefined, steps: string[] }> = []
for (const line of lines) {
  const from = /^FROM (\S+)(?: AS (\S+))?$/i.exec(line)
  if (from !== null) stages.push({ from: from[1] as string, name: from[2], steps: [] })
  else stages.at(-1)?.steps.push(line)
}
const final = stages.at(-1) as (typeof stages)[number]

function instruction (keyword: string, stage = final): string[] {
  return stage.steps.filter((step) => step.startsWith(`${keyword} `)).map((step) => step.slice(keyword.length + 1))
}

/** `ENV NAME="value"` of a stage, unquoted. */
function env (name: string, stage = final): string | undefined {
  const line = instruction('ENV', stage).find((e) => e.startsWith(`${name}=`))
  return line === undefined ? undefined : line.slice(name.length + 1).replace(/^"(.*)"$/, '$1')
}

t.test('every stage builds on node:24-bookworm-slim (Node 24 LTS)', async (t) => {
  t.ok(stages.length >= 2, 'multi-stage')
  for (const stage of stages) t.equal(stage.from, 'node:24-bookworm-slim', stage.name ?? 'final')
})

t.test('the build stage compiles; the final stage has production dependencies only', async (t) => {
  const build = stages.find((stage) => stage.steps.some((step) => step === 'RUN npm run build'))
  t.ok(build?.steps.some((step) => /^RUN npm ci( |$)/.test(step) && !step.includes('--omit=dev')), 'all dependencies to build')
  const copies = instruction('COPY')
  const modulesFrom = /^--from=(\S+) \S*node_modules /.exec(copies.find((c) => c.includes('node_modules')) ?? '')?.[1]
  const deps = stages.find((stage) => stage.name === modulesFrom)
  t.ok(deps?.steps.some((step) => step.includes('npm ci --omit=dev')), `node_modules come from a stage that ran npm ci --omit=dev (${String(modulesFrom)})`)
  t.ok(copies.some((c) => c.startsWith(`--from=${String(build?.name)} /app/dist/src `)), 'only the compiled src/ from the build stage')
  t.notOk(final.steps.some((step) => /^RUN .*(npm (ci|install)|apt-get)/.test(step)), 'nothing installed in the final stage')
})

t.test('the final image runs as the non-root node user', async (t) => {
  t.same(instruction('USER'), ['node'])
})

t.test('HEALTHCHECK probes /-/healthz with node (no curl)', async (t) => {
  const [healthcheck] = instruction('HEALTHCHECK')
  t.match(healthcheck, /CMD \["node", "dist\/src\/healthcheck\.js"\]$/)
  t.ok(existsSync(join(ROOT, 'src/healthcheck.ts')), 'compiled from src/healthcheck.ts')
  t.notMatch(lines.join('\n'), /curl|wget/)
})

t.test('exec-form ENTRYPOINT: node is PID 1 and gets SIGTERM, with the heap growth flag; `--` keeps --env-file for the CLI', async (t) => {
  t.same(instruction('ENTRYPOINT').map((e) => JSON.parse(e) as string[]), [['node', '--heap-growing-percent=20', '--', 'dist/src/cli.js']])
  t.same(instruction('CMD').map((c) => JSON.parse(c) as string[]), [['serve']])
  t.same(instruction('STOPSIGNAL'), ['SIGTERM'])
})

t.test('the build context holds only what the build needs: never an env file or a secret', async (t) => {
  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').filter((line) => line !== '' && !line.startsWith('#'))
  t.equal(ignore[0], '*', 'everything excluded first')
  t.same(ignore.slice(1).sort(), ['!package-lock.json', '!package.json', '!src/', '!tsconfig.build.json', '!tsconfig.json'])
})

t.test('the image runs node with the V8 heap flags npm start uses (package.json config.nodeOptions), replaceable', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { config: { nodeOptions: string }, scripts: Record<string, string> }
  t.match(pkg.config.nodeOptions, /^--max-semi-space-size=\d+/)
  t.equal(env('NODE_OPTIONS'), pkg.config.nodeOptions, 'ENV NODE_OPTIONS: -e NODE_OPTIONS=... replaces it')
  // The user's NODE_OPTIONS come last, so their flags win over the defaults.
  t.match(pkg.scripts.start, 'NODE_OPTIONS="$npm_package_config_nodeOptions $NODE_OPTIONS" node --heap-growing-percent=20 -- dist/src/cli.js serve')
})

t.test('the image and npm start cap glibc\'s malloc arenas (package.json config.mallocArenaMax), replaceable', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { config: { mallocArenaMax: string }, scripts: Record<string, string> }
  t.equal(pkg.config.mallocArenaMax, '2')
  t.equal(env('MALLOC_ARENA_MAX'), pkg.config.mallocArenaMax, 'ENV MALLOC_ARENA_MAX: -e MALLOC_ARENA_MAX=... replaces it')
  // A MALLOC_ARENA_MAX of the user's own wins.
  t.match(pkg.scripts.start, /^MALLOC_ARENA_MAX="\$\{MALLOC_ARENA_MAX:-\$npm_package_config_mallocArenaMax\}" /)
})

t.test('the compile cache is filled in the build stage as the image\'s user, with its flags, and copied in', async (t) => {
  const build = stages.find((stage) => stage.steps.some((step) => step === 'RUN npm run build')) as (typeof stages)[number]
  t.equal(env('NODE_COMPILE_CACHE'), '/app/compile-cache')
  t.equal(env('NODE_COMPILE_CACHE', build), '/app/compile-cache')
  t.equal(env('NODE_OPTIONS', build), env('NODE_OPTIONS'), 'V8 flags are part of the cache key')
  const warm = build.steps.findIndex((step) => step.startsWith('RUN node ') && step.includes('/app/dist/src/'))
  t.ok(warm > build.steps.indexOf('RUN npm run build'), 'after the build')
  t.ok(build.steps.slice(0, warm).includes('USER node'), 'as uid 1000, also part of the key')
  for (const module of ['cli', 'server', 'mock/roecny', 'healthcheck']) {
    t.ok(build.steps[warm]?.includes(`'${module}'`), `loads ${module}`)
    t.ok(existsSync(join(ROOT, `src/${module}.ts`)), `src/${module}.ts exists`)
  }
  t.ok(instruction('COPY').includes(`--from=${String(build.name)} --chown=root:root /app/compile-cache ./compile-cache`), 'root\'s, read-only to the process')
})

t.test('OCI labels: version and licence are package.json\'s, revision and source come from build arguments', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string, license: string }
  const args = Object.fromEntries(instruction('ARG').map((arg) => {
    const [name = '', value = ''] = arg.split('=')
    return [name, value]
  }))
  t.same(args, { VERSION: pkg.version, LICENSES: pkg.license, REVISION: '', SOURCE: '' }, 'defaults: the package\'s own; the commit and the repository given at build time')
  const [label = ''] = instruction('LABEL')
  const labels = Object.fromEntries([...label.matchAll(/([\w.]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]))
  const fromArg = (name: string): string => ['$', '{', name, '}'].join('')
  t.match(labels, {
    'org.opencontainers.image.version': fromArg('VERSION'),
    'org.opencontainers.image.licenses': fromArg('LICENSES'),
    'org.opencontainers.image.revision': fromArg('REVISION'),
    'org.opencontainers.image.source': fromArg('SOURCE')
  })
  // The build line the file documents tags the image with the release.
  t.match(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'), `docker build -t roecny-auth-proxy:${pkg.version} --build-arg REVISION=`)
})
