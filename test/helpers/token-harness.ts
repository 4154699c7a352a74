// A TokenManager against the real mock Roecny API over an undici Pool, driven by a ManualClock, logs kept in memory.
import { Pool } from 'undici'
import type { Config } from '../../src/config.js'
import { createLogger } from '../../src/log.js'
import { startMockRoecny } from '../../src/mock/roecny.js'
import type { MockOptions, MockRoecny } from '../../src/mock/roecny.js'
import type { LoginOutcome } from '../../src/token/login.js'
import { createTokenManager } from '../../src/token/token-manager.js'
import type { TokenManager } from '../../src/token/token-manager.js'
import { testConfig } from './config.js'
import { ManualClock } from './manual-clock.js'
import type { ManualClockOptions } from './manual-clock.js'
import type { Teardown } from './stack.js'

export interface TokenHarnessOptions {
  clock?: ManualClockOptions
  mock?: MockOptions
  /** The mock's wall clock runs this far ahead of the manager's (negative: behind). */
  mockSkewMs?: number
  config?: Partial<Config>
  /** Let advance() wait for each login to finish (default true); turn off when the mock hangs. */
  settleLogins?: boolean
  /** Call start() (default true). */
  start?: boolean
  /** Make onLoginResult throw (to prove a broken hook cannot break the lifecycle). */
  throwingHook?: boolean
}

export interface TokenHarness {
  clock: ManualClock
  mock: MockRoecny
  pool: Pool
  config: Config
  manager: TokenManager
  /** Raw pino lines, every level down to trace. */
  lines: string[]
  records: () => Array<Record<string, unknown>>
  results: Array<{ result: LoginOutcome, durationMs: number }>
  /** Status of a real API call to the mock with this token (200: the mock accepts it). */
  apiStatus: (token: string) => Promise<number>
  close: () => Promise<void>
}

export async function startTokenHarness (t: Teardown, options: TokenHarnessOptions = {}): Promise<TokenHarness> {
  const clock = new ManualClock(options.clock)
  const skew = options.mockSkewMs ?? 0
  const mock = await startMockRoecny({
    now: function mockNow () { return clock.wallNow() - clock.wallOffsetMs + skew },
    ...options.mock
  })
  const config = testConfig({ baseUrl: mock.url, ...options.config })
  const pool = new Pool(config.upstreamOrigin, { connections: 8 })
  const lines: string[] = []
  const log = createLogger('trace', { write (line: string) { lines.push(line) } })
  const results: TokenHarness['results'] = []
  const manager = createTokenManager({
    config,
    dispatcher: pool,
    clock,
    log,
    onLoginResult (result, durationMs) {
      results.push({ result, durationMs })
      if (options.throwingHook === true) throw new Error('hook failure')
    }
  })
  if (options.settleLogins !== false) clock.busyWhile(manager.loginInFlight)

  async function apiStatus (token: string): Promise<number> {
    const response = await pool.request({ path: '/api/v1/balances/current', method: 'GET', headers: { authorization: `Bearer ${token}` } })
    await response.body.dump()
    return response.statusCode
  }

  let closed = false
  async function close (): Promise<void> {
    if (closed) return
    closed = true
    await manager.stop()
    await pool.destroy()
    await mock.close()
  }
  t.teardown(close)
  if (options.start !== false) manager.start()

  return {
    clock,
    mock,
    pool,
    config,
    manager,
    lines,
    records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
    results,
    apiStatus,
    close
  }
}
