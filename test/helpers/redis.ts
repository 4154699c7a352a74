// A real redis-server for fleet tests: on a free loopback port, nothing persisted, killed when the test ends; and the fleet's replicas.
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { createInterface } from 'node:readline'
import { createClient } from '@redis/client'
import type { Teardown } from './stack.js'

/** A client of the tests' own, to look at what the fleet stored (TLS unverified: the tests check the proxy's verification, not their own). */
function newClient (url: string, tls: boolean) {
  return createClient({ url, socket: tls ? { tls: true, rejectUnauthorized: false } : {} })
}
export type RedisTestClient = ReturnType<typeof newClient>

/** The binary the tests start (Debian's redis-server package); REDIS_SERVER_BIN names another. */
export const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? 'redis-server'
const FOUND = spawnSync(REDIS_SERVER, ['--version'], { stdio: 'ignore' }).status === 0
const MISSING = `no ${REDIS_SERVER} binary: install Debian's redis-server package to run the fleet tests`
/**
 * tap's `skip` option for a test that needs Redis: false when the binary is here, else the reason. Where
 * CI is set a missing binary skips nothing: the fleet tests run and fail, naming it, rather than pass unseen.
 */
export const NO_REDIS: string | false = FOUND || process.env.CI === 'true' ? false : MISSING

/** Real time Redis may take to start and say it is ready. */
const START_DEADLINE_MS = 20_000

export interface RedisTls {
  readonly certFile: string
  readonly keyFile: string
  readonly caFile: string
}

export interface RedisOptions {
  /** Serve TLS only (`--tls-port`, no plain port), with this certificate. */
  readonly tls?: RedisTls
  /** `requirepass`: the URL then carries it. */
  readonly password?: string
}

export interface TestRedis {
  readonly port: number
  /** `redis://` (or `rediss://`) URL of the server, with the password when there is one. */
  readonly url: string
  /** Kills the server (SIGKILL): every connection drops at once. */
  kill: () => Promise<void>
  /** Starts it again on the same port, empty. */
  restart: () => Promise<void>
  /** SIGSTOP / SIGCONT: a Redis that holds connections and answers nothing. */
  freeze: () => void
  thaw: () => void
  /** Every key and its value as stored (strings as text, other types as their members), for a scan of what Redis holds. */
  dump: () => Promise<Record<string, string>>
  /** Every key and its PTTL: milliseconds left, -1 for a key that never expires. */
  ttls: () => Promise<Record<string, number>>
  /** A plain client to this server, closed when the test ends. */
  client: () => Promise<RedisTestClient>
}

/** The kernel's range of ephemeral ports, from which it also picks the source port of every outgoing connection. */
function ephemeralRange (): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
    return [low as number, high as number]
  } catch {
    return [32768, 60999] // Linux's default
  }
}

/**
 * A port nothing listens on right now: bound, then closed (the caller retries if another process takes
 * it first). Below the ephemeral range, not port 0: while a test has Redis killed, a replica reconnecting
 * to a port of that range may be given it as its own source port and connect to itself (TCP's
 * simultaneous open), holding the port so that Redis cannot start on it again.
 */
async function freePort (): Promise<number> {
  const [low] = ephemeralRange()
  const floor = Math.max(1024, low - 20_000)
  for (;;) {
    const candidate = floor + Math.floor(Math.random() * (low - floor))
    const server = createServer()
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false))
      server.listen(candidate, '127.0.0.1', () => resolve(true))
    })
    if (!bound) continue
    const { port } = server.address() as AddressInfo
    await new Promise((resolve) => server.close(resolve))
    return port
  }
}

function serverArgs (port: number, options: RedisOptions): string[] {
  const args = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--loglevel', 'notice']
  if (options.password !== undefined) args.push('--requirepass', options.password)
  if (options.tls === undefined) return ['--port', String(port), ...args]
  const { certFile, keyFile, caFile } = options.tls
  return ['--port', '0', '--tls-port', String(port), '--tls-cert-file', certFile, '--tls-key-file', keyFile, '--tls-ca-cert-file', caFile, '--tls-auth-clients', 'no', ...args]
}

/** Starts redis-server on `port`; resolves once it accepts connections, false when the port was taken meanwhile. */
async function launch (port: number, options: RedisOptions): Promise<ChildProcess | false> {
  const child = spawn(REDIS_SERVER, serverArgs(port, options), { stdio: ['ignore', 'pipe', 'pipe'] })
  const output: string[] = []
  return await new Promise((resolve, reject) => {
    const deadline = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`redis-server did not start within ${START_DEADLINE_MS} ms: ${output.join('\n')}`))
    }, START_DEADLINE_MS)
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      output.push(line)
      if (/Ready to accept connections/.test(line)) {
        clearTimeout(deadline)
        resolve(child)
      }
    })
    child.once('exit', () => {
      clearTimeout(deadline)
      // "Address already in use": another process took the port between our probe and this start.
      if (output.some((line) => /Address already in use/i.test(line))) resolve(false)
      else reject(new Error(`redis-server exited before it was ready: ${output.join('\n')}`))
    })
  })
}

/** A redis-server of this test's own, killed when `t` ends. */
export async function startRedis (t: Teardown, options: RedisOptions = {}): Promise<TestRedis> {
  if (!FOUND) throw new Error(MISSING)
  let port = 0
  let child: ChildProcess | false = false
  for (let tries = 0; child === false; tries++) {
    if (tries === 10) throw new Error('no free port for redis-server after 10 tries')
    port = await freePort()
    child = await launch(port, options)
  }
  let running: ChildProcess | undefined = child
  const clients: Array<RedisTestClient> = []
  const scheme = options.tls === undefined ? 'redis' : 'rediss'
  const auth = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`
  const url = `${scheme}://${auth}127.0.0.1:${port}`

  async function kill (): Promise<void> {
    const current = running
    running = undefined
    if (current === undefined || current.exitCode !== null || current.signalCode !== null) return
    current.kill('SIGCONT')
    current.kill('SIGKILL')
    await once(current, 'exit')
  }

  async function restart (): Promise<void> {
    await kill()
    // The port was ours a moment ago; a restart that loses it is a broken test machine, said plainly.
    const next = await launch(port, options)
    if (next === false) throw new Error(`port ${port} was taken while redis-server restarted`)
    running = next
  }

  async function client (): Promise<RedisTestClient> {
    const c = newClient(url, options.tls !== undefined)
    c.on('error', () => {})
    await c.connect()
    clients.push(c)
    return c
  }

  async function dump (): Promise<Record<string, string>> {
    const c = await client()
    const all: Record<string, string> = {}
    for await (const keys of c.scanIterator({ COUNT: 100 })) {
      for (const key of keys) {
        const type = await c.type(key)
        if (type === 'string') all[key] = await c.get(key) ?? ''
        else if (type === 'hash') all[key] = JSON.stringify(await c.hGetAll(key))
        else if (type === 'zset') all[key] = JSON.stringify(await c.zRange(key, 0, -1))
        else all[key] = `(${type})`
      }
    }
    return all
  }

  async function ttls (): Promise<Record<string, number>> {
    const c = await client()
    const all: Record<string, number> = {}
    for await (const keys of c.scanIterator({ COUNT: 100 })) {
      for (const key of keys) all[key] = await c.pTTL(key)
    }
    return all
  }

  t.teardown(async () => {
    for (const c of clients) if (c.isOpen) c.destroy()
    await kill()
  })
  return {
    port,
    url,
    kill,
    restart,
    freeze: () => { running?.kill('SIGSTOP') },
    thaw: () => { running?.kill('SIGCONT') },
    dump,
    ttls,
    client
  }
}
