// A Config for tests: loadConfig() of the least a proxy needs, pointed at a mock Roecny URL, then any field overridden.
import { loadConfig } from '../../src/config.js'
import type { Config } from '../../src/config.js'
import { DEMO_API_KEY, DEMO_CLIENT_ID } from '../../src/mock/roecny.js'

/**
 * Defaults come from the variable table through loadConfig(), validated as in production; the test
 * only chooses a free port and every log line. `overrides.baseUrl` (the mock's URL, optionally with
 * a path prefix) is read as ROECNY_BASE_URL, so the origin and the prefix follow from it.
 */
export function testConfig (overrides: Partial<Config> = {}): Config {
  const { baseUrl = 'http://127.0.0.1:9', ...fields } = overrides
  const config = loadConfig({
    ROECNY_BASE_URL: baseUrl,
    ROECNY_CLIENT_ID: DEMO_CLIENT_ID,
    ROECNY_API_KEY: DEMO_API_KEY,
    PROXY_PORT: '0',
    LOG_LEVEL: 'trace'
  })
  return Object.freeze({ ...config, ...fields })
}
