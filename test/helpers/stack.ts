// Starts the mock Roecny API and the proxy in front of it on loopback port 0, with logs captured.
import { Writable } from 'node:stream'
import type { Clock } from '../../src/clock.js'
import { loadConfig } from '../../src/config.js'
import type { Config } from '../../src/config.js'
import { createLogger } from '../../src/log.js'
import { startMockRoecny } from '../../src/mock/roecny.js'
import type { MockOptions, MockRoecny } from '../../src/mock/roecny.js'
import { startProxy } from '../../src/server.js'
import type { RunningProxy } from '../../src/server.js'
import { testConfig } from './config.js'

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

export interface Stack {
  mock: MockRoecny
  proxy: RunningProxy
  logs: LogCapture
  /** `http://127.0.0.1:port` of the proxy. */
  url: string
  close: () => Promise<void>
}

export interface StackOptions {
  mock?: MockOptions
  config?: Partial<Config>
  clock?: Clock
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

export async function startStack (options: StackOptions = {}): Promise<Stack> {
  const mock = await startMockRoecny(options.mock)
  options.beforeProxy?.(mock)
  const baseUrl = mock.url + (options.baseUrlSuffix ?? '')
  const config = options.env === undefined
    ? testConfig({ baseUrl, ...options.config })
    : Object.freeze({ ...loadConfig({ PROXY_PORT: '0', LOG_LEVEL: 'trace', ...options.env, ROECNY_BASE_URL: baseUrl }), ...options.config })
  const { stream, logs } = captureLogs()
  const logger = createLogger(config.logLevel, stream)
  const proxy = await startProxy(config, { logger, clock: options.clock })
  if (options.ready !== false) await proxy.tokens.acquire()
  return {
    mock,
    proxy,
    logs,
    url: proxy.url,
    async close () {
      await proxy.shutdown()
      await mock.close()
    }
  }
}
