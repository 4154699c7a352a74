// A complete, frozen Config for tests, pointed at a mock Roecny URL, with any field overridden.
import type { Config } from '../../src/config.js'
import { DEMO_API_KEY, DEMO_CLIENT_ID } from '../../src/mock/roecny.js'

/** `overrides.baseUrl` (the mock's URL, optionally with a path prefix) fills in the origin and prefix. */
export function testConfig (overrides: Partial<Config> = {}): Config {
  const baseUrl = (overrides.baseUrl ?? 'http://127.0.0.1:9').replace(/\/+$/, '')
  const url = new URL(baseUrl)
  return Object.freeze({
    baseUrl,
    upstreamOrigin: url.origin,
    upstreamPathPrefix: url.pathname.replace(/\/+$/, ''),
    clientId: DEMO_CLIENT_ID,
    apiKey: DEMO_API_KEY,
    scope: undefined,
    loginAs: undefined,
    proxyHost: '127.0.0.1',
    proxyPort: 0,
    refreshRatio: 0.67,
    loginTimeoutMs: 10_000,
    upstreamTimeoutMs: 30_000,
    shutdownDelayMs: 0,
    shutdownTimeoutMs: 25_000,
    logLevel: 'trace',
    adminHost: undefined,
    adminPort: undefined,
    proxySocket: undefined,
    proxySocketMode: 0o660,
    accessKey: undefined,
    allowUnauthenticatedRemote: false,
    allowedHosts: [],
    corsOrigins: [],
    allowMethods: undefined,
    allowPaths: undefined,
    denyPaths: [],
    maxBodyBytes: undefined,
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 300_000,
    keepAliveTimeoutMs: 65_000,
    maxConnections: 4096,
    upstreamCa: undefined,
    warnings: [],
    ...overrides
  })
}
