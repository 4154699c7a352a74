// Starting and stopping what the bench measures: the upstream, the proxy as users run it, the floor, nginx.
import { spawn } from 'node:child_process'
import type { ChildProcess, StdioOptions } from 'node:child_process'
import { mkdtempSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createHash } from 'node:crypto'
import { request } from 'undici'
import { BENCH_API_KEY, BENCH_CLIENT_ID, LOAD_PATH, STATIC_TOKEN } from './common.js'
import { childPids } from './proc.js'

const here = fileURLToPath(new URL('.', import.meta.url))
/** dist/src/cli.js, next to dist/bench/ in the build. */
export const CLI = join(here, '..', 'src', 'cli.js')
/**
 * The V8 flags the image and `npm start` give node through NODE_OPTIONS (package.json's
 * config.nodeOptions): the proxy runs with them here too, as users run it.
 */
const PACKAGE_CONFIG = (JSON.parse(readFileSync(join(here, '..', '..', 'package.json'), 'utf8')) as { config: { nodeOptions: string, mallocArenaMax: string } }).config
export const PROXY_NODE_OPTIONS = PACKAGE_CONFIG.nodeOptions
/** glibc's malloc arenas, capped as the image and npm start cap them. */
export const PROXY_MALLOC_ARENA_MAX = PACKAGE_CONFIG.mallocArenaMax

/**
 * The node options a build's cli.js names in its shebang (`#!/usr/bin/env -S node --heap-growing-percent=20 --`),
 * which the image's ENTRYPOINT and `npm start` pass too: each build runs with its own, as its users run it.
 */
export function shebangFlags (cli: string): string[] {
  const first = readFileSync(cli, 'utf8').split('\n', 1)[0] as string
  const match = /^#!\/usr\/bin\/env -S node (.*)$/.exec(first)
  return match === null ? [] : (match[1] as string).split(' ').filter((word) => word !== '' && word !== '--')
}

export interface Contender {
  readonly name: string
  /** Base URL the load is sent to. */
  readonly url: string
  /** Headers the load sends (direct: the token a proxy would have added). */
  readonly headers?: Record<string, string>
  /** Headers each connection sends in turn, one set per request (callers alternating keys); unset: `headers` alone. */
  readonly alternating?: ReadonlyArray<Record<string, string>>
  /** Processes whose CPU and memory count; empty for direct. */
  pids: () => readonly number[]
  stop: () => Promise<void>
}

/** Where the contenders run: their core (or none when not pinning) and a scratch directory. */
export interface Placement {
  /** Core for the process under test, or undefined to run unpinned. */
  core: number | undefined
  dir: string
}

export function scratchDir (): string {
  return mkdtempSync(join(tmpdir(), 'roecny-bench-'))
}

export async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** Spawns `command`, pinned with taskset when a core is given. */
function launch (placement: Placement, command: string, args: string[], env: NodeJS.ProcessEnv, stdio: StdioOptions): ChildProcess {
  const [file, argv] = placement.core === undefined
    ? [command, args]
    : ['taskset', ['-c', String(placement.core), command, ...args]]
  return spawn(file, argv, { env, stdio })
}

/** Resolves with the first line a child prints on stdout (the bench's own servers print their port). */
function firstLine (child: ChildProcess, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    child.stdout?.setEncoding('utf8')
    child.stdout?.on('data', (chunk: string) => {
      text += chunk
      const end = text.indexOf('\n')
      if (end !== -1) resolve(text.slice(0, end))
    })
    child.once('exit', (code) => reject(new Error(`${what} exited (${code}) before it was listening`)))
  })
}

function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000)
    child.once('exit', () => {
      clearTimeout(force)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

/** Node flags given as one string (`--cpu-prof --cpu-prof-dir=/tmp/x`); none may contain a space. */
function words (flags: string): string[] {
  return flags.split(' ').filter((w) => w !== '')
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `url` until it answers 200; bounded by `timeoutMs`. Resolves with the milliseconds it took. */
export async function until200 (url: string, timeoutMs: number, everyMs = 2): Promise<number> {
  const started = performance.now()
  for (;;) {
    try {
      const res = await request(url, { reset: true })
      await res.body.dump()
      if (res.statusCode === 200) return performance.now() - started
    } catch {
      // not listening yet
    }
    if (performance.now() - started > timeoutMs) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`)
    await sleep(everyMs)
  }
}

export interface Upstream {
  readonly url: string
  readonly pid: number
  logins: () => Promise<number>
  setLoginDelay: (ms: number) => Promise<void>
  stop: () => Promise<void>
}

/** The upstream runs where the load generator runs: it is not what is measured. */
export async function startUpstream (): Promise<Upstream> {
  const child = spawn(process.execPath, [join(here, 'upstream.js')], { stdio: ['ignore', 'pipe', 'inherit'] })
  const url = `http://127.0.0.1:${await firstLine(child, 'the bench upstream')}`
  async function control (path: string): Promise<unknown> {
    const res = await request(url + path)
    return await res.body.json()
  }
  return {
    url,
    pid: child.pid as number,
    logins: async () => ((await control('/_bench/stats')) as { logins: number }).logins,
    setLoginDelay: async (ms) => { await control(`/_bench/login-delay?ms=${ms}`) },
    stop: () => stopChild(child)
  }
}

export function direct (upstream: Upstream): Contender {
  return {
    name: 'direct',
    url: upstream.url,
    headers: { authorization: `Bearer ${STATIC_TOKEN}` },
    pids: () => [],
    stop: async () => {}
  }
}

export interface ProxyProcess extends Contender {
  readonly pid: number
  /** The proxy's log file (stdout). */
  readonly logFile: string
  readonly startedAt: number
}

/** A build of the proxy to run: this one, or another one's cli.js (--compare). */
export interface ProxyBuild {
  /** The contender's name in the results. */
  name: string
  /** Path of the built cli.js. */
  cli: string
  /** Extra node flags (--proxy-node-flags, --profile): on the command line, so they win over NODE_OPTIONS. */
  nodeFlags: string
  /** Variables added to the proxy's environment (e.g. the upstream limits). */
  env?: Record<string, string>
}

/** The proxy from this build, as users run it. */
export function thisBuild (nodeFlags = ''): ProxyBuild {
  return { name: 'roecny-auth-proxy', cli: CLI, nodeFlags }
}

/**
 * This build with the upstream limits on but never reached, so every request goes through the
 * limits' whole path (admission, an in-flight lease, a token from the bucket, release) without
 * waiting: what shaping costs in itself.
 */
export function shapedBuild (nodeFlags = ''): ProxyBuild {
  return {
    name: 'proxy (shaped)',
    cli: CLI,
    nodeFlags,
    env: { UPSTREAM_MAX_IN_FLIGHT: '100000', UPSTREAM_RATE_LIMIT: '1000000' }
  }
}

/** This build with LOG_LEVEL=warn: no access line per request, so its share of the proxy's cost shows. */
export function quietBuild (nodeFlags = ''): ProxyBuild {
  return { name: 'proxy (warn)', cli: CLI, nodeFlags, env: { LOG_LEVEL: 'warn' } }
}

/** The keys of the two profiles' callers: random-looking, at least 16 characters, as §13 asks. */
export const PROFILE_KEYS = ['bench-reporting-key-4f1c9a27d0b3e865', 'bench-payments-key-9e2b7c41a8d05f36'] as const

function digest (key: string): string {
  return createHash('sha256').update(key).digest('hex')
}

/**
 * This build with PROXY_PROFILES_FILE: two profiles, each with its own key, scope (so its own token
 * and login) and a policy of its own over the load's path, as two applications sharing a sidecar
 * would have. The load alternates their keys on every connection.
 */
export function profilesBuild (dir: string, nodeFlags = ''): ProxyBuild {
  const file = join(dir, 'profiles.yaml')
  const [reporting, payments] = PROFILE_KEYS
  writeFileSync(file, `profiles:
  reporting:
    accessKeys: ["${digest(reporting)}"]
    scope: "r:awx_action:balances_view"
    allowMethods: [GET, HEAD]
    allowPaths: ["/api/v1/balances/**"]
  payments:
    accessKeys: ["${digest(payments)}"]
    scope: "w:awx_action:transfers_create r:awx_action:balances_view"
    allowPaths: ["/api/v1/**"]
`)
  return { name: 'proxy (profiles)', cli: CLI, nodeFlags, env: { PROXY_PROFILES_FILE: file } }
}

/** Each profile's caller, one set of headers each. */
export const PROFILE_CALLERS: ReadonlyArray<Record<string, string>> = PROFILE_KEYS.map((key) => ({ 'x-proxy-key': key }))

/**
 * True when the running build reads PROXY_PROFILES_FILE: a request without a key is refused (401;
 * the bench's profiles have no keyless one) and each profile's key is served. A build that does not
 * know the variable forwards the keyless request instead.
 */
export async function servesProfiles (proxy: Contender): Promise<boolean> {
  const statusOf = async (headers: Record<string, string>): Promise<number> => {
    const res = await request(proxy.url + LOAD_PATH, { headers })
    await res.body.dump()
    return res.statusCode
  }
  if (await statusOf({}) !== 401) return false
  for (const headers of PROFILE_CALLERS) {
    const status = await statusOf(headers)
    if (status !== 200) throw new Error(`the proxy with profiles answered ${status} to a profile's key`)
  }
  return true
}

/**
 * roecny-auth-proxy as users run it: `serve` from the build with the NODE_OPTIONS of the image and
 * `npm start`, logging at info to a file, logging in to the bench upstream. Resolves once the
 * process is spawned (not yet ready).
 */
export async function spawnProxy (placement: Placement, upstream: Upstream, label: string, build: ProxyBuild = thisBuild()): Promise<ProxyProcess> {
  const port = await freePort()
  const logFile = join(placement.dir, `${label}.log`)
  const out = openSync(logFile, 'w')
  const env = {
    PATH: process.env.PATH,
    ROECNY_BASE_URL: upstream.url,
    ROECNY_CLIENT_ID: BENCH_CLIENT_ID,
    ROECNY_API_KEY: BENCH_API_KEY,
    PROXY_HOST: '127.0.0.1',
    PROXY_PORT: String(port),
    LOG_LEVEL: 'info',
    NODE_OPTIONS: PROXY_NODE_OPTIONS,
    MALLOC_ARENA_MAX: PROXY_MALLOC_ARENA_MAX,
    ...build.env
  }
  const startedAt = performance.now()
  const child = launch(placement, process.execPath, [...shebangFlags(build.cli), ...words(build.nodeFlags), '--', build.cli, 'serve'], env, ['ignore', out, 'inherit'])
  closeSync(out)
  return {
    name: build.name,
    url: `http://127.0.0.1:${port}`,
    pid: child.pid as number,
    logFile,
    startedAt,
    pids: () => [child.pid as number],
    stop: () => stopChild(child)
  }
}

export async function startProxy (placement: Placement, upstream: Upstream, label: string, build: ProxyBuild = thisBuild()): Promise<ProxyProcess> {
  const proxy = await spawnProxy(placement, upstream, label, build)
  await until200(`${proxy.url}/-/readyz`, 10_000)
  return proxy
}

/** A bench server run on the bench's own node: it takes the upstream origin and a port, and prints its port once listening. */
export interface ServerScript {
  /** The contender's name in the results. */
  name: string
  /** The compiled script next to this file. */
  script: string
  /** It writes a log: a file in the scratch directory is its third argument. */
  logs?: boolean
}

/** `node:http` in, an undici Pool out: what Node itself forwards on one core. */
export const FLOOR: ServerScript = { name: 'floor', script: 'floor.js' }
/** Fastify and @fastify/http-proxy with a fixed token and nothing else: the stack's own floor. */
export const FASTIFY: ServerScript = { name: 'fastify', script: 'fastify.js' }
/** The same with SPEC §8's access line, one pino line per request: what the stack itself pays for the line. */
export const FASTIFY_LOGGED: ServerScript = { name: 'fastify (logged)', script: 'fastify-logged.js', logs: true }

export interface ServerProcess extends Contender {
  /** Milliseconds from spawning to its first 200 through to the upstream. */
  readonly readyMs: number
}

export async function startServer (placement: Placement, upstream: Upstream, server: ServerScript, nodeFlags = ''): Promise<ServerProcess> {
  const started = performance.now()
  const log = server.logs === true ? [join(placement.dir, server.script.replace(/\.js$/, '.log'))] : []
  const child = launch(placement, process.execPath, [...words(nodeFlags), join(here, server.script), upstream.url, '0', ...log], { PATH: process.env.PATH }, ['ignore', 'pipe', 'inherit'])
  try {
    const url = `http://127.0.0.1:${await firstLine(child, server.name)}`
    await until200(url + LOAD_PATH, 10_000, 1)
    return { name: server.name, url, readyMs: performance.now() - started, pids: () => [child.pid as number], stop: () => stopChild(child) }
  } catch (err) {
    await stopChild(child)
    throw err
  }
}

function nginxConf (dir: string, port: number, upstream: Upstream): string {
  const up = new URL(upstream.url)
  return `# written by the bench; one worker, as the proxy gets one core
daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  upstream roecny {
    server ${up.host};
    keepalive 128;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://roecny;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host ${up.host};
      proxy_set_header Authorization "Bearer ${STATIC_TOKEN}";
    }
  }
}
`
}

/** nginx with one worker, a keep-alive upstream pool and a static token (the caller checks it is installed). */
export async function startNginx (placement: Placement, upstream: Upstream, binary: string): Promise<Contender> {
  const port = await freePort()
  const conf = join(placement.dir, 'nginx.conf')
  writeFileSync(conf, nginxConf(placement.dir, port, upstream))
  const child = launch(placement, binary, ['-p', placement.dir, '-c', conf], { PATH: process.env.PATH }, ['ignore', 'ignore', 'inherit'])
  const url = `http://127.0.0.1:${port}`
  await until200(url + LOAD_PATH, 10_000, 20)
  const master = child.pid as number
  return { name: 'nginx', url, pids: () => [master, ...childPids(master)], stop: () => stopChild(child) }
}
