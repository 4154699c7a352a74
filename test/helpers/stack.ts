// Starts the mock Roecny API and the proxy in front of it (or only the proxy's app) on loopback port 0, logs captured.
// Every helper here stops what it started when its test ends; an explicit close() is only for a test that asserts on what follows it.
import { Writable } from 'node:stream'
import { Pool } from 'undici'
import { buildApp } from '../../src/app.js'
import type { AppState } from '../../src/app.js'
import { systemClock } from '../../src/clock.js'
import { loadConfig } from '../../src/config.js'
import type { Config } from '../../src/config.js'
import { createLogger } from '../../src/log.js'
import { startMockRoecny } from '../../src/mock/roecny.js'
import type { MockOptions, MockRoecny } from '../../src/mock/roecny.js'
import { startProxy } from '../../src/server.js'
import type { RunningProxy } from '../../src/server.js'
import { createTokenManager } from '../../src/token/token-manager.js'
import { testConfig } from './config.js'
import type { ManualClock } from './manual-clock.js'

/** What the helpers need of a tap test: somewhere to register their clean-up. */
export interface Teardown {
  teardown: (fn: () => unknown) => void
}

export interface LogCapture {
  readonly lines: string[]
  /** Parsed JSON lines. */
  records: () => Array<Record<string, unknown>>
}

export function captureLogs (): { stream: Writable, logs: LogCapture } {
  const lines: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(line)
      callback()
    }
  })
  return { stream, logs: { lines, records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) } }
}

/** The mock Roecny API on loopback (port 0 unless told otherwise), its fault routes on, closed when `t` ends. */
export async function startMock (t: Teardown, options: MockOptions = {}, host?: string, port?: number): Promise<MockRoecny> {
  const mock = await startMockRoecny({ faultRoutes: true, ...options }, host, port)
  t.teardown(() => mock.close())
  return mock
}

export interface Stack {
  mock: MockRoecny
  proxy: RunningProxy
  logs: LogCapture
  /** `http://127.0.0.1:port` of the proxy (`unix:/path` on a socket). */
  url: string
  /** Shuts the proxy down, then closes the mock; runs by itself when the test ends, and only once. */
  close: () => Promise<void>
}

export interface StackOptions {
  mock?: MockOptions
  config?: Partial<Config>
  /** The proxy's clock; the stack moves it through the shutdown when it closes. */
  clock?: ManualClock
  /** Appended to the mock's URL to make ROECNY_BASE_URL (a path prefix). */
  baseUrlSuffix?: string
  /** Runs on the mock before the proxy starts (e.g. to queue how the first login answers). */
  beforeProxy?: (mock: MockRoecny) => void
  /** Wait for the first login before returning (default true). */
  ready?: boolean
  /**
   * Read the configuration from these variables with loadConfig, as `serve` does (ROECNY_BASE_URL
   * is the mock's; PROXY_PORT defaults to 0 and LOG_LEVEL to trace), instead of testConfig; `config`
   * still overrides.
   */
  env?: Record<string, string>
}

/** The mock and the proxy in front of it, both stopped when `t` ends. */
export async function startStack (t: Teardown, options: StackOptions = {}): Promise<Stack> {
  const mock = await startMock(t, options.mock)
  options.beforeProxy?.(mock)
  const baseUrl = mock.url + (options.baseUrlSuffix ?? '')
  const config = options.env === undefined
    ? testConfig({ baseUrl, ...options.config })
    : Object.freeze({ ...loadConfig({ PROXY_PORT: '0', LOG_LEVEL: 'trace', ...options.env, ROECNY_BASE_URL: baseUrl }), ...options.config })
  const { stream, logs } = captureLogs()
  const proxy = await startProxy(config, { logger: createLogger(config.logLevel, stream), clock: options.clock })
  let closed: Promise<void> | undefined
  function close (): Promise<void> {
    closed ??= (async function stop () {
      // Whatever the test left waiting at the mock answers now, so the drain need not wait for it.
      mock.releaseHeld()
      mock.releaseLogins()
      const stopped = proxy.shutdown()
      // A manual clock moves only when told: past the shutdown delay and the drain's deadline.
      await options.clock?.advance(config.shutdownDelayMs + config.shutdownTimeoutMs)
      await stopped
      await mock.close()
    })()
    return closed
  }
  t.teardown(close)
  if (options.ready !== false) await proxy.tokens.acquire()
  return { mock, proxy, logs, url: proxy.url, close }
}

export interface TestApp {
  /** Built and registered, not listening: the test may add routes, then listen or inject. */
  app: Awaited<ReturnType<typeof buildApp>>
  mock: MockRoecny
  state: AppState
  logs: LogCapture
}

export interface TestAppOptions {
  /** Shared with the app; set it to put the app in a state (draining, closing) directly. */
  state?: AppState
  config?: Partial<Config>
}

/** The proxy's app (not the server) over a real token manager and the mock, all stopped when `t` ends. */
export async function buildTestApp (t: Teardown, options: TestAppOptions = {}): Promise<TestApp> {
  const mock = await startMock(t, {})
  const config = testConfig({ baseUrl: mock.url, ...options.config })
  const pool = new Pool(config.upstreamOrigin)
  const { stream, logs } = captureLogs()
  const logger = createLogger(config.logLevel, stream)
  const tokens = createTokenManager({ config, dispatcher: pool, clock: systemClock, log: logger })
  tokens.start()
  const state = options.state ?? { draining: false, closing: false }
  const app = await buildApp(config, { logger, tokens, dispatcher: pool, state })
  t.teardown(async () => {
    await app.close()
    await tokens.stop()
    await pool.close()
  })
  return { app, mock, state, logs }
}
