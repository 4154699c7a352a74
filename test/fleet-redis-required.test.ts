// Where CI is set, the fleet tests need redis-server: a missing binary fails them, naming it, instead of skipping them unseen.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'

const HELPER = pathToFileURL(new URL('./helpers/redis.ts', import.meta.url).pathname).href

t.test('a missing redis-server skips the fleet tests on a workstation, and fails them where CI=true', async (t) => {
  // Outside the project: the probe runs with the runner's loaders, and coverage counts what runs under the project.
  const dir = mkdtempSync(join(tmpdir(), 'roecny-redis-required-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // One process (the loader is slow to start), the helper loaded twice: without CI, then with CI=true.
  const script = join(dir, 'probe.mjs')
  writeFileSync(script, `
for (const ci of [undefined, 'true']) {
  if (ci === undefined) delete process.env.CI
  else process.env.CI = ci
  const { NO_REDIS, startRedis } = await import(${JSON.stringify(HELPER)} + '?ci=' + String(ci))
  let started = 'started'
  try { await startRedis({ teardown () {} }) } catch (err) { started = err.message }
  console.log(JSON.stringify({ skip: NO_REDIS, started }))
}
`)
  const run = spawnSync(process.execPath, [...process.execArgv, script], { env: { ...process.env, REDIS_SERVER_BIN: join(dir, 'no-redis-server') }, encoding: 'utf8' })
  const [workstation, ci] = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as { skip: string | false, started: string })
  const reason = /^no .*no-redis-server binary: install Debian's redis-server package to run the fleet tests$/
  t.match(workstation?.skip, reason, 'skipped, with the reason')
  t.equal(ci?.skip, false, 'under CI nothing is skipped')
  t.match(ci?.started, reason, 'and the test fails, naming the binary')
})
