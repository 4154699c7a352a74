// `npm run build && node dist/bench/fleet.js [--replicas 1,5,20] [--requests 2000]`: what fleet mode buys and costs,
// measured with real processes: logins for N replicas cold-started together, with and without fleet mode, against the
// mock Roecny API on loopback and a redis-server of its own; then the latency a request gains in fleet mode.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import { DEMO_API_KEY, DEMO_CLIENT_ID, startMockRoecny } from '../src/mock/roecny.js'
import type { MockRoecny } from '../src/mock/roecny.js'
import { shebangFlags } from './contenders.js'

const { values: args } = parseArgs({
  options: {
    replicas: { type: 'string', default: '1,5,20' },
    requests: { type: 'string', default: '2000' }
  }
})
const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url))
const children: ChildProcess[] = []

async function freePort (): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** A child whose first stdout line matching `ready` resolves the promise. */
async function start (command: string, argv: string[], env: Record<string, string>, ready: RegExp): Promise<{ child: ChildProcess, line: string }> {
  const child = spawn(command, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(child)
  return await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => { if (ready.test(line)) resolve({ child, line }) })
    child.once('exit', (code) => reject(new Error(`${command} exited with ${code} before it was ready`)))
  })
}

function stop (child: ChildProcess): void {
  child.kill('SIGKILL')
}

async function startReplica (mock: MockRoecny, env: Record<string, string>): Promise<{ child: ChildProcess, url: string }> {
  const { child, line } = await start(process.execPath, [...shebangFlags(CLI), '--', CLI, 'serve'], {
    ROECNY_BASE_URL: mock.url, ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY: DEMO_API_KEY, PROXY_PORT: '0', LOG_LEVEL: 'info', ...env
  }, /roecny-auth-proxy listening/)
  return { child, url: (JSON.parse(line) as { address: string }).address }
}

async function ready (url: string): Promise<void> {
  for (;;) {
    const res = await request(`${url}/-/readyz`)
    await res.body.dump()
    if (res.statusCode === 200) return
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Logins at the mock for `n` replicas started at once, until every one is ready. */
async function coldStart (n: number, redisUrl: string | undefined): Promise<number> {
  const mock = await startMockRoecny()
  const replicas = await Promise.all(Array.from({ length: n }, async () => await startReplica(mock, redisUrl === undefined ? {} : { REDIS_URL: redisUrl })))
  await Promise.all(replicas.map(async (replica) => await ready(replica.url)))
  const logins = mock.logins.length
  for (const replica of replicas) stop(replica.child)
  await mock.close()
  return logins
}

function percentile (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number
}

/** Median and p99 of `count` requests sent one after another through one replica, in ms. */
async function latency (env: Record<string, string>, count: number): Promise<{ p50: number, p99: number }> {
  const mock = await startMockRoecny()
  const replica = await startReplica(mock, env)
  await ready(replica.url)
  const times: number[] = []
  for (let i = 0; i < count + 200; i++) {
    const started = performance.now()
    const res = await request(`${replica.url}/api/v1/balances/current`)
    await res.body.dump()
    if (i >= 200) times.push(performance.now() - started) // the first 200 warm up
  }
  stop(replica.child)
  await mock.close()
  times.sort((a, b) => a - b)
  return { p50: percentile(times, 0.5), p99: percentile(times, 0.99) }
}

async function main (): Promise<void> {
  const port = await freePort()
  await start('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {}, /Ready to accept connections/)
  const redisUrl = `redis://127.0.0.1:${port}`
  console.log('| replicas cold-started together | logins without fleet mode | logins with fleet mode |')
  console.log('| ---: | ---: | ---: |')
  for (const n of (args.replicas as string).split(',').map(Number)) {
    const alone = await coldStart(n, undefined)
    const fleet = await coldStart(n, redisUrl)
    console.log(`| ${n} | ${alone} | ${fleet} |`)
  }
  const count = Number(args.requests)
  const limits = { UPSTREAM_MAX_IN_FLIGHT: '1000', UPSTREAM_RATE_LIMIT: '100000' }
  console.log(`\n| ${count} requests one after another, ms | p50 | p99 |`)
  console.log('| --- | ---: | ---: |')
  for (const [label, env] of [
    ['alone', {}],
    ['fleet mode', { REDIS_URL: redisUrl }],
    ['alone, limits on', limits],
    ['fleet mode, limits on (fleet budget)', { ...limits, REDIS_URL: redisUrl }]
  ] as const) {
    const { p50, p99 } = await latency(env, count)
    console.log(`| ${label} | ${p50.toFixed(3)} | ${p99.toFixed(3)} |`)
  }
}

main().then(() => {
  for (const child of children) stop(child)
}, (err: unknown) => {
  for (const child of children) stop(child)
  console.error(err)
  process.exitCode = 1
})
