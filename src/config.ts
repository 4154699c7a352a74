// Configuration: read once from the environment, validated, frozen, passed down.
import envSchema from 'env-schema'
import { accessSettings } from './config/access.js'
import { fleetSettings } from './config/fleet.js'
import type { FleetSettings } from './config/fleet.js'
import { limitSettings } from './config/limits.js'
import type { LimitSettings } from './config/limits.js'
import { HEADER_VALUE_PROBLEM, legalHeaderValue, secret, secretFiles } from './config/secret-files.js'
import type { FileSecretName } from './config/secret-files.js'
import { HOST_PROBLEM, MOCK_VARIABLES, PROXY_VARIABLES } from './config/variables.js'
import type { MockEnv, ProxyEnv, Variable } from './config/variables.js'
import { isLoopbackHost, validHost } from './hosts.js'

export interface Config extends LimitSettings, FleetSettings {
  /** Base URL without a trailing slash, e.g. `https://api.roecny.example/prefix`. */
  readonly baseUrl: string
  /** `origin` of baseUrl (`https://host:port`), the pool's origin. */
  readonly upstreamOrigin: string
  /** Path prefix of baseUrl without a trailing slash (`''` when none). */
  readonly upstreamPathPrefix: string
  /**
   * The environment's credentials. `''` only with PROXY_PROFILES_FILE when neither is set: every
   * profile then names its own files (src/profiles/file.ts checks it), and nothing logs in with these.
   */
  readonly clientId: string
  readonly apiKey: string
  readonly scope: string | undefined
  readonly loginAs: string | undefined
  readonly proxyHost: string
  readonly proxyPort: number
  readonly refreshRatio: number
  readonly loginTimeoutMs: number
  readonly upstreamTimeoutMs: number
  readonly shutdownDelayMs: number
  readonly shutdownTimeoutMs: number
  readonly logLevel: string
  /** The admin listener (probes and metrics only); both undefined when ADMIN_PORT is unset. */
  readonly adminHost: string | undefined
  readonly adminPort: number | undefined
  /** Listen on this Unix socket instead of TCP; proxyHost and proxyPort are then unused. */
  readonly proxySocket: string | undefined
  /** File mode the socket gets (default 0o660). */
  readonly proxySocketMode: number
  /** When not empty, proxied requests and `/-/status` must carry `x-proxy-key` with one of these values. */
  readonly accessKeys: readonly string[]
  /** A non-loopback PROXY_HOST without an access key was explicitly accepted. */
  readonly allowUnauthenticatedRemote: boolean
  /** Host names accepted besides loopback and the bound address (lowercase, no port); `['*']` turns the check off. */
  readonly allowedHosts: readonly string[]
  /** Browser origins (`scheme://host[:port]`) allowed to call through the proxy; none by default. */
  readonly corsOrigins: readonly string[]
  /** Methods forwarded (upper case); undefined forwards every method. */
  readonly allowMethods: readonly string[] | undefined
  /** Path patterns forwarded (`*` one segment, `**` any depth); undefined forwards every path. */
  readonly allowPaths: readonly string[] | undefined
  /** Path patterns never forwarded; they win over allowPaths. */
  readonly denyPaths: readonly string[]
  /** Larger request bodies get 413; undefined sets no limit. */
  readonly maxBodyBytes: number | undefined
  /** A request's headers must arrive within this, else 408 and the connection is closed (every listener). */
  readonly headersTimeoutMs: number
  /** A whole request, body included, must arrive within this (responses are not limited); 0: no limit. */
  readonly requestTimeoutMs: number
  /** A kept-alive connection idle this long between requests is closed (every listener). */
  readonly keepAliveTimeoutMs: number
  /** Connections open at once on each listener; more are closed as they arrive. */
  readonly maxConnections: number
  /** PEM certificates from ROECNY_CA_FILE, trusted for the upstream besides the built-in roots. */
  readonly upstreamCa: string | undefined
  // The upstream limits, from LimitSettings: upstreamMaxInFlight and upstreamRateLimit
  // (0: off), upstreamRateBurst, upstreamQueueTimeoutMs, upstreamQueueMax.
  // Fleet mode (SPEC §12), from FleetSettings: redisUrl (undefined: off), redisCa, redisKeyPrefix.
  /** The *_FILE secrets in use, by variable, with their paths: re-read when they change (SPEC §10). */
  readonly secretFiles: Readonly<Partial<Record<FileSecretName, string>>>
  /** Fallback re-read period of the file secrets; 0: file events and SIGHUP only. */
  readonly secretsPollMs: number
  /** PROXY_PROFILES_FILE (SPEC §13); undefined: one implicit profile from the environment, and nothing of profiles is loaded. */
  readonly profilesFile: string | undefined
  /** What an operator should fix but may run with (never a secret's value); logged at start. */
  readonly warnings: readonly string[]
}

/** Where the `mock` command listens. Kept apart so the mock needs no Roecny credentials. */
export interface MockConfig {
  readonly host: string
  readonly port: number
  /** Serve the test-only fault routes too (hangs, resets, chosen statuses and sizes). */
  readonly faultRoutes: boolean
}

/** Every problem found in the environment, one line per bad variable, never carrying a value. */
export class ConfigError extends Error {
  readonly problems: string[]

  constructor (problems: string[]) {
    super(`invalid configuration: ${problems.join('; ')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

type Env = Record<string, string | undefined>

const BASE_URL_SCHEME_PROBLEM = 'ROECNY_BASE_URL must be an https:// URL (http:// only for loopback hosts or with ROECNY_ALLOW_INSECURE_HTTP=true)'

/**
 * Keeps only the variables we know, trimmed; an empty or blank value counts as unset, because
 * compose files and Helm charts routinely render `NAME=` for "not configured".
 */
function pick (env: Env, variables: Record<string, Variable>): Record<string, string> {
  const picked: Record<string, string> = {}
  for (const name of Object.keys(variables)) {
    const value = env[name]?.trim()
    if (value !== undefined && value !== '') picked[name] = name === 'LOG_LEVEL' ? value.toLowerCase() : value
  }
  return picked
}

/** Runs env-schema (types, ranges, defaults) and turns ajv's errors into one line per variable. */
function validate<T> (data: Record<string, string>, variables: Record<string, Variable>, required: string[], problems: string[]): T | undefined {
  const properties = Object.fromEntries(Object.entries(variables).map(([name, v]) => [name, v.schema]))
  const checked = { ...data }
  for (const [name, variable] of Object.entries(variables)) {
    const value = data[name]
    // ajv coerces "Infinity" to a number, then skips minimum/maximum for a non-finite number.
    if (variable.schema.type !== 'string' && value !== undefined && Math.abs(Number(value)) === Infinity) {
      problems.push(`${name} ${variable.problem}`)
      delete checked[name]
    }
  }
  try {
    // A value removed above falls back to its default here; the caller throws for the problem anyway.
    return envSchema<T>({ schema: { type: 'object', required, properties }, data: checked, env: false, dotenv: false })
  } catch (err) {
    // With allErrors each bad variable fails exactly one keyword (type, range or enum).
    for (const e of (err as { errors: Array<{ instancePath: string, params: { missingProperty?: string } }> }).errors) {
      const missing = e.params.missingProperty
      const name = e.instancePath.slice(1)
      problems.push(missing !== undefined ? `${missing} is required` : `${name} ${(variables[name] as Variable).problem}`)
    }
    return undefined
  }
}

interface Upstream { baseUrl: string, upstreamOrigin: string, upstreamPathPrefix: string }

function parseBaseUrl (raw: string, allowInsecure: boolean, problems: string[]): Upstream | undefined {
  // `https:host` would parse as a URL too; ask for the explicit form an operator expects.
  let url: URL
  try {
    if (!/^https?:\/\//i.test(raw)) throw new TypeError('not an http(s) URL')
    url = new URL(raw)
  } catch {
    problems.push(BASE_URL_SCHEME_PROBLEM)
    return undefined
  }
  const before = problems.length
  if (url.protocol === 'http:' && !allowInsecure && !isLoopbackHost(url.hostname)) {
    problems.push(BASE_URL_SCHEME_PROBLEM)
  }
  if (url.username !== '' || url.password !== '' || /^[a-z]+:\/\/[^/]*@/i.test(raw)) {
    problems.push('ROECNY_BASE_URL must not contain credentials (user:password@)')
  }
  if (raw.includes('?') || raw.includes('#')) {
    problems.push('ROECNY_BASE_URL must not contain a query or a fragment')
  }
  if (problems.length !== before) return undefined
  const upstreamPathPrefix = url.pathname.replace(/\/+$/, '')
  return { baseUrl: url.origin + upstreamPathPrefix, upstreamOrigin: url.origin, upstreamPathPrefix }
}

function headerOption (name: string, value: string | undefined, problems: string[]): string | undefined {
  if (value !== undefined && !legalHeaderValue(value)) {
    problems.push(`${name} ${HEADER_VALUE_PROBLEM}`)
  }
  return value
}

/**
 * Validates the proxy's variables and returns a frozen Config, or throws one ConfigError listing
 * every problem at once, so an operator fixes the deployment in one round.
 */
export function loadConfig (env: Env): Config {
  const problems: string[] = []
  const warnings: string[] = []
  const data = pick(env, PROXY_VARIABLES)
  const parsed = validate<ProxyEnv>(data, PROXY_VARIABLES, ['ROECNY_BASE_URL'], problems)
  // With profiles, each profile may name its own credential files: the profiles file says whether these are needed.
  const credentialsRequired = data.PROXY_PROFILES_FILE === undefined
  const clientId = secret('ROECNY_CLIENT_ID', data, problems, warnings, credentialsRequired)
  const apiKey = secret('ROECNY_API_KEY', data, problems, warnings, credentialsRequired)
  const scope = headerOption('ROECNY_SCOPE', data.ROECNY_SCOPE, problems)
  const loginAs = headerOption('ROECNY_LOGIN_AS', data.ROECNY_LOGIN_AS, problems)
  // The URL rules depend on ROECNY_ALLOW_INSECURE_HTTP; read it as env-schema would when the
  // schema step failed elsewhere, so a bad URL is still reported in the same round.
  const allowInsecure = parsed?.ROECNY_ALLOW_INSECURE_HTTP ?? data.ROECNY_ALLOW_INSECURE_HTTP === 'true'
  const upstream = data.ROECNY_BASE_URL === undefined ? undefined : parseBaseUrl(data.ROECNY_BASE_URL, allowInsecure, problems)
  if (data.PROXY_HOST !== undefined && !validHost(data.PROXY_HOST)) {
    problems.push(`PROXY_HOST ${HOST_PROBLEM}`)
  }
  if (data.ADMIN_HOST !== undefined && !validHost(data.ADMIN_HOST)) {
    problems.push(`ADMIN_HOST ${HOST_PROBLEM}`)
  } else if (data.ADMIN_HOST !== undefined && data.ADMIN_PORT === undefined) {
    // Otherwise the operator believes probes are served somewhere they are not.
    problems.push('ADMIN_HOST is set but ADMIN_PORT is not; set ADMIN_PORT to start the admin listener')
  }
  const access = accessSettings(data, parsed, problems, warnings)
  const limits = limitSettings(data, parsed, problems, warnings)
  const fleet = fleetSettings(data, parsed, problems, warnings)
  // Node refuses a request deadline that ends before the header deadline (0 turns the request deadline off).
  if (parsed !== undefined && parsed.PROXY_REQUEST_TIMEOUT_MS !== 0 && parsed.PROXY_REQUEST_TIMEOUT_MS < parsed.PROXY_HEADERS_TIMEOUT_MS) {
    problems.push('PROXY_REQUEST_TIMEOUT_MS must be 0 (no limit) or at least PROXY_HEADERS_TIMEOUT_MS')
  }
  if (problems.length > 0) throw new ConfigError(problems)
  // No problems means every step above produced its value.
  const values = parsed as ProxyEnv
  const up = upstream as Upstream
  return Object.freeze({
    baseUrl: up.baseUrl,
    upstreamOrigin: up.upstreamOrigin,
    upstreamPathPrefix: up.upstreamPathPrefix,
    clientId: clientId ?? '',
    apiKey: apiKey ?? '',
    scope,
    loginAs,
    proxyHost: values.PROXY_HOST,
    proxyPort: values.PROXY_PORT,
    refreshRatio: values.TOKEN_REFRESH_RATIO,
    loginTimeoutMs: values.LOGIN_TIMEOUT_MS,
    upstreamTimeoutMs: values.UPSTREAM_TIMEOUT_MS,
    shutdownDelayMs: values.SHUTDOWN_DELAY_MS,
    shutdownTimeoutMs: values.SHUTDOWN_TIMEOUT_MS,
    headersTimeoutMs: values.PROXY_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: values.PROXY_REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: values.PROXY_KEEP_ALIVE_TIMEOUT_MS,
    maxConnections: values.PROXY_MAX_CONNECTIONS,
    logLevel: values.LOG_LEVEL,
    // Loopback unless told otherwise, like the proxy listener: exposing probes is the operator's choice.
    adminHost: values.ADMIN_PORT === undefined ? undefined : values.ADMIN_HOST,
    adminPort: values.ADMIN_PORT,
    ...access,
    ...limits as LimitSettings,
    ...fleet,
    secretFiles: secretFiles(data),
    secretsPollMs: values.SECRETS_POLL_MS,
    profilesFile: data.PROXY_PROFILES_FILE,
    warnings: Object.freeze(warnings)
  })
}

/** Where `mock` listens (`MOCK_HOST`, `MOCK_PORT`) and whether it serves its fault routes; needs no Roecny variable at all. */
export function loadMockConfig (env: Env): MockConfig {
  const problems: string[] = []
  const data = pick(env, MOCK_VARIABLES)
  const parsed = validate<MockEnv>(data, MOCK_VARIABLES, [], problems)
  if (data.MOCK_HOST !== undefined && !validHost(data.MOCK_HOST)) {
    problems.push(`MOCK_HOST ${HOST_PROBLEM}`)
  }
  if (problems.length > 0) throw new ConfigError(problems)
  const mock = parsed as MockEnv
  return Object.freeze({ host: mock.MOCK_HOST, port: mock.MOCK_PORT, faultRoutes: mock.MOCK_FAULT_ROUTES })
}
