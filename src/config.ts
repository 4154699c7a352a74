// Configuration: read once from the environment, validated, frozen, passed down.
import { readFileSync, statSync } from 'node:fs'
import { isIP } from 'node:net'
import envSchema from 'env-schema'

export interface Config {
  /** Base URL without a trailing slash, e.g. `https://api.roecny.example/prefix`. */
  readonly baseUrl: string
  /** `origin` of baseUrl (`https://host:port`), the pool's origin. */
  readonly upstreamOrigin: string
  /** Path prefix of baseUrl without a trailing slash (`''` when none). */
  readonly upstreamPathPrefix: string
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
}

/** Where the `mock` command listens. Kept apart so the mock needs no Roecny credentials. */
export interface MockConfig {
  readonly host: string
  readonly port: number
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

interface Variable {
  readonly schema: Record<string, unknown>
  /** Completes "<NAME> ..." for any schema failure of this variable. */
  readonly problem: string
}

// setTimeout turns any delay above 2^31 - 1 ms into 1 ms, so larger timeouts would fire at once.
const MAX_TIMER_MS = 2_147_483_647
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
const MAX_SECRET_FILE_BYTES = 64 * 1024

const BASE_URL_SCHEME_PROBLEM = 'ROECNY_BASE_URL must be an https:// URL (http:// only for loopback hosts or with ROECNY_ALLOW_INSECURE_HTTP=true)'

function integer (min: number, max: number, fallback: number): Variable {
  return {
    schema: { type: 'integer', minimum: min, maximum: max, default: fallback },
    problem: `must be an integer from ${min} to ${max}`
  }
}

function text (): Variable {
  return { schema: { type: 'string' }, problem: 'must be a string' }
}

const HOST_PROBLEM = 'must be an IP address or a host name'
const DEFAULT_ADMIN_HOST = '127.0.0.1'

function host (fallback: string): Variable {
  return { schema: { type: 'string', default: fallback }, problem: HOST_PROBLEM }
}

const PROXY_VARIABLES: Record<string, Variable> = {
  ROECNY_BASE_URL: text(),
  ROECNY_ALLOW_INSECURE_HTTP: { schema: { type: 'boolean', default: false }, problem: 'must be true or false' },
  ROECNY_CLIENT_ID: text(),
  ROECNY_CLIENT_ID_FILE: text(),
  ROECNY_API_KEY: text(),
  ROECNY_API_KEY_FILE: text(),
  ROECNY_SCOPE: text(),
  ROECNY_LOGIN_AS: text(),
  PROXY_HOST: host('127.0.0.1'),
  PROXY_PORT: integer(0, 65535, 8080),
  // No default: the admin listener exists only when ADMIN_PORT is set.
  ADMIN_HOST: { schema: { type: 'string' }, problem: HOST_PROBLEM },
  ADMIN_PORT: { schema: { type: 'integer', minimum: 0, maximum: 65535 }, problem: 'must be an integer from 0 to 65535' },
  TOKEN_REFRESH_RATIO: {
    schema: { type: 'number', minimum: 0.5, maximum: 0.95, default: 0.67 },
    problem: 'must be a number from 0.5 to 0.95'
  },
  LOGIN_TIMEOUT_MS: integer(1, MAX_TIMER_MS, 10_000),
  UPSTREAM_TIMEOUT_MS: integer(1, MAX_TIMER_MS, 30_000),
  SHUTDOWN_DELAY_MS: integer(0, MAX_TIMER_MS, 0),
  SHUTDOWN_TIMEOUT_MS: integer(0, MAX_TIMER_MS, 25_000),
  LOG_LEVEL: {
    schema: { type: 'string', enum: LOG_LEVELS, default: 'info' },
    problem: `must be one of ${LOG_LEVELS.join(', ')}`
  }
}

const MOCK_VARIABLES: Record<string, Variable> = {
  MOCK_HOST: host('127.0.0.1'),
  MOCK_PORT: integer(0, 65535, 8081)
}

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

function isLoopback (hostname: string): boolean {
  if (hostname === 'localhost' || hostname === '[::1]') return true
  // WHATWG URL parsing has already normalised IPv4 forms such as `127.1` to dotted quads.
  return isIP(hostname) === 4 && hostname.startsWith('127.')
}

function validHost (value: string): boolean {
  return isIP(value) !== 0 || /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(value)
}

// Header values travel in `x-client-id`, `x-api-key`, `scope`, `x-login-as`; undici would refuse
// anything else at the first login, long after start, so the problem is reported here instead.
function legalHeaderValue (value: string): boolean {
  return /^[\t\x20-\x7e\x80-\xff]*$/.test(value)
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
  if (url.protocol === 'http:' && !allowInsecure && !isLoopback(url.hostname)) {
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

function readSecretFile (name: string, path: string, problems: string[]): string | undefined {
  let content: string
  try {
    // A path to a device or a huge file would otherwise block start-up or fill memory.
    const stats = statSync(path)
    if (!stats.isFile()) {
      problems.push(`${name} must name a regular file`)
      return undefined
    }
    if (stats.size > MAX_SECRET_FILE_BYTES) {
      problems.push(`${name} names a file larger than 64 KiB`)
      return undefined
    }
    content = readFileSync(path, 'utf8').trim()
  } catch (err) {
    problems.push(`${name} cannot be read (${(err as NodeJS.ErrnoException).code})`)
    return undefined
  }
  if (content === '') {
    problems.push(`${name} names an empty file`)
    return undefined
  }
  return content
}

/** `NAME` or `NAME_FILE`, exactly one of them; the problem names whichever holds the bad value. */
function secret (name: string, data: Record<string, string>, problems: string[]): string | undefined {
  const fileName = `${name}_FILE`
  const direct = data[name]
  const file = data[fileName]
  if (direct !== undefined && file !== undefined) {
    problems.push(`${name} and ${fileName} are both set; set only one`)
    return undefined
  }
  if (direct === undefined && file === undefined) {
    problems.push(`${name} or ${fileName} is required`)
    return undefined
  }
  const source = direct !== undefined ? name : fileName
  const value = direct ?? readSecretFile(fileName, file as string, problems)
  if (value !== undefined && !legalHeaderValue(value)) {
    problems.push(`${source} must not contain control characters or characters beyond Latin-1`)
    return undefined
  }
  return value
}

function headerOption (name: string, value: string | undefined, problems: string[]): string | undefined {
  if (value !== undefined && !legalHeaderValue(value)) {
    problems.push(`${name} must not contain control characters or characters beyond Latin-1`)
  }
  return value
}

interface ProxyEnv {
  ROECNY_BASE_URL: string
  ROECNY_ALLOW_INSECURE_HTTP: boolean
  ROECNY_SCOPE?: string
  ROECNY_LOGIN_AS?: string
  PROXY_HOST: string
  PROXY_PORT: number
  TOKEN_REFRESH_RATIO: number
  LOGIN_TIMEOUT_MS: number
  UPSTREAM_TIMEOUT_MS: number
  SHUTDOWN_DELAY_MS: number
  SHUTDOWN_TIMEOUT_MS: number
  LOG_LEVEL: string
  ADMIN_HOST?: string
  ADMIN_PORT?: number
}

/**
 * Validates the proxy's variables and returns a frozen Config, or throws one ConfigError listing
 * every problem at once, so an operator fixes the deployment in one round.
 */
export function loadConfig (env: Env): Config {
  const problems: string[] = []
  const data = pick(env, PROXY_VARIABLES)
  const parsed = validate<ProxyEnv>(data, PROXY_VARIABLES, ['ROECNY_BASE_URL'], problems)
  const clientId = secret('ROECNY_CLIENT_ID', data, problems)
  const apiKey = secret('ROECNY_API_KEY', data, problems)
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
  if (problems.length > 0) throw new ConfigError(problems)
  // No problems means every step above produced its value.
  const values = parsed as ProxyEnv
  const up = upstream as Upstream
  return Object.freeze({
    baseUrl: up.baseUrl,
    upstreamOrigin: up.upstreamOrigin,
    upstreamPathPrefix: up.upstreamPathPrefix,
    clientId: clientId as string,
    apiKey: apiKey as string,
    scope,
    loginAs,
    proxyHost: values.PROXY_HOST,
    proxyPort: values.PROXY_PORT,
    refreshRatio: values.TOKEN_REFRESH_RATIO,
    loginTimeoutMs: values.LOGIN_TIMEOUT_MS,
    upstreamTimeoutMs: values.UPSTREAM_TIMEOUT_MS,
    shutdownDelayMs: values.SHUTDOWN_DELAY_MS,
    shutdownTimeoutMs: values.SHUTDOWN_TIMEOUT_MS,
    logLevel: values.LOG_LEVEL,
    // Loopback unless told otherwise, like the proxy listener: exposing probes is the operator's choice.
    adminHost: values.ADMIN_PORT === undefined ? undefined : values.ADMIN_HOST ?? DEFAULT_ADMIN_HOST,
    adminPort: values.ADMIN_PORT
  })
}

interface MockEnv { MOCK_HOST: string, MOCK_PORT: number }

/** Where `mock` listens (`MOCK_HOST`, `MOCK_PORT`); needs no Roecny variable at all. */
export function loadMockConfig (env: Env): MockConfig {
  const problems: string[] = []
  const data = pick(env, MOCK_VARIABLES)
  const parsed = validate<MockEnv>(data, MOCK_VARIABLES, [], problems)
  if (data.MOCK_HOST !== undefined && !validHost(data.MOCK_HOST)) {
    problems.push(`MOCK_HOST ${HOST_PROBLEM}`)
  }
  if (problems.length > 0) throw new ConfigError(problems)
  const mock = parsed as MockEnv
  return Object.freeze({ host: mock.MOCK_HOST, port: mock.MOCK_PORT })
}
