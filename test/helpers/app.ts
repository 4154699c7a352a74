// Builds the app (not the server) over a real token manager and the mock, for tests that set its state directly.
import type { FastifyInstance } from 'fastify'
import { Pool } from 'undici'
import { buildApp } from '../../src/app.js'
import type { AppState } from '../../src/app.js'
import { systemClock } from '../../src/clock.js'
import { createLogger } from '../../src/log.js'
import { startMockRoecny } from '../../src/mock/roecny.js'
import type { MockRoecny } from '../../src/mock/roecny.js'
import { createTokenManager } from '../../src/token/token-manager.js'
import { testConfig } from './config.js'
import { captureLogs } from './stack.js'
import type { LogCapture } from './stack.js'

export interface BuiltApp {
  app: FastifyInstance
  mock: MockRoecny
  state: AppState
  logs: LogCapture
  close: () => Promise<void>
}

export async function buildTestApp (state: AppState = { draining: false, closing: false }): Promise<BuiltApp> {
  const mock = await startMockRoecny()
  const config = testConfig({ baseUrl: mock.url })
  const pool = new Pool(config.upstreamOrigin)
  const { stream, logs } = captureLogs()
  const logger = createLogger('info', stream)
  const tokens = createTokenManager({ config, dispatcher: pool, clock: systemClock, log: logger })
  tokens.start()
  const app = await buildApp(config, { logger, tokens, dispatcher: pool, state })
  return {
    app,
    mock,
    state,
    logs,
    async close () {
      await app.close()
      await tokens.stop()
      await pool.close()
      await mock.close()
    }
  }
}
