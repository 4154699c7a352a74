// Replicas of one fleet for tests: in this process (coverage, logs captured) or as real processes of the built CLI.
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { request } from 'undici'
import { systemClock } from '../../src/clock.js'
import { loadConfig } from '../../src/config.js'
import { createLogger } from '../../src/log.js'
import { DEMO_API_KEY, DEMO_CLIENT_ID } from '../../src/mock/roecny.js'
import type { MockRoecny } from '../../src/mock/roecny.js'
import type { FleetTimings } from '../../src/fleet/start.js'
import { startProxy } from '../../src/server.js'
import type { RunningProxy } from '../../src/server.js'
import { built, spawnScript } from './cli.js'
import type { Child, Script } from './cli.js'
import { captureLogs } from './stack.js'
import type { LogCapture, Teardown } from './stack.js'

type Env = Record<string, string>

/**
 * The fleet's periods in tests: a lease lasts a second (renewed five times in it), Redis is asked every
 * quarter second whether it answers, and reconnection attempts are at most a second apart. Every time
 * bound of a fleet test is stated in these.
 */
export const TEST_TIMINGS = Object.freeze({ leaseMs: 1000, renewMs: 200, probeMs: 250, reconnectCapMs: 1000 }) satisfies FleetTimings

export interface Replica {
  readonly proxy: RunningProxy
  readonly logs: LogCapture
  readonly url: string
  /** GET /-/status, parsed. */
  status: () => Promise<Record<string, unknown>>
}

/** The variables of a replica in front of `mock` on `redisUrl`: the demo credentials unless `env` says otherwise. */
export function replicaEnv (mock: MockRoecny, redisUrl: string | undefined, env: Env = {}): Env {
  return {
    ROECNY_BASE_URL: mock.url,
    ROECNY_CLIENT_ID: DEMO_CLIENT_ID,
    ROECNY_API_KEY: DEMO_API_KEY,
    PROXY_PORT: '0',
    LOG_LEVEL: 'trace',
    ...(redisUrl === undefined ? {} : { REDIS_URL: redisUrl }),
    ...env
  }
}

async function statusOf (url: string): Promise<Record<string, unknown>> {
  const res = await request(`${url}/-/status`)
  return await res.body.json() as Record<string, unknown>
}

/** A replica in this process with the tests' fleet timings (unless `timings` says otherwise), shut down when `t` ends. */
export async function startReplica (t: Teardown, mock: MockRoecny, redisUrl: string | undefined, env: Env = {}, timings: FleetTimings = TEST_TIMINGS): Promise<Replica> {
  const config = loadConfig(replicaEnv(mock, redisUrl, env))
  const { stream, logs } = captureLogs()
  const proxy = await startProxy(config, { logger: createLogger(config.logLevel, stream), clock: systemClock, fleet: timings })
  t.teardown(() => proxy.shutdown())
  return { proxy, logs, url: proxy.url, status: async () => await statusOf(proxy.url) }
}

export interface ReplicaProcess {
  readonly child: Child
  readonly url: string
  status: () => Promise<Record<string, unknown>>
}

/** test/helpers/replica-main.ts compiled beside the build of src/ (once per test process), which it imports. */
function replicaMain (): Script {
  const cli = built('cli').path
  const target = join(dirname(dirname(cli)), 'test', 'helpers', 'replica-main.js')
  if (!existsSync(target)) {
    const source = fileURLToPath(new URL('./replica-main.ts', import.meta.url))
    const { outputText } = ts.transpileModule(readFileSync(source, 'utf8'), { fileName: source, compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } })
    mkdirSync(dirname(target), { recursive: true })
    writeFileSync(target, outputText)
  }
  return { path: target, nodeArgs: [] }
}

/**
 * A replica as a real process (starts in a fraction of a second), killed when `t` ends: the built CLI's
 * `serve`, or with `timings` the real startProxy given those fleet timings (test/helpers/replica-main.ts).
 */
export async function spawnReplica (t: Teardown, mock: MockRoecny, redisUrl: string | undefined, env: Env = {}, timings?: FleetTimings): Promise<ReplicaProcess> {
  const variables = replicaEnv(mock, redisUrl, { LOG_LEVEL: 'info', ...env })
  const child = timings === undefined
    ? spawnScript(t, built('cli'), ['serve'], variables)
    : spawnScript(t, replicaMain(), [JSON.stringify(timings)], variables)
  const started = JSON.parse(await child.line(/roecny-auth-proxy listening/)) as { address: string }
  return { child, url: started.address, status: async () => await statusOf(started.address) }
}

/** A GET through a replica (in this process or not); its status, the body read to its end. */
export async function get (replica: { readonly url: string }, path = '/api/v1/balances/current'): Promise<number> {
  const res = await request(replica.url + path)
  await res.body.dump()
  return res.statusCode
}

/** How many requests wait in the replica's queue for the limits, as /-/status says. */
export async function queued (replica: { status: () => Promise<Record<string, unknown>> }): Promise<number> {
  return ((await replica.status()).limits as { queued: number }).queued
}
