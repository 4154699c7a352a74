// Configuration: read once from the environment, validated, frozen, passed down.
import { X509Certificate } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { isIP } from 'node:net'
import envSchema from 'env-schema'
import { isLoopbackHost, parseAllowedHosts, parseCorsOrigins, parseMethods, parsePathPatterns, parseSocketMode, validHost } from './config-access.js'

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
  /** Listen on this Unix socket instead of TCP; proxyHost and proxyPort are then unused. */
  readonly proxySocket: string | undefined
  /** File mode the socket gets (default 0o660). */
  readonly proxySocketMode: number
  /** When set, proxied requests and `/-/status` must carry `x-proxy-key` with this value. */
  readonly accessKey: string | undefined
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
  /** What an operator should fix but may run with (never a secret's value); logged at start. */
  readonly warnings: readonly string[]
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
const MAX_CA_FILE_BYTES = 1024 * 1024
const DEFAULT_SOCKET_MODE = 0o660
const MAX_SOCKET_PATH_BYTES = 107
/** Far beyond any file-descriptor limit: a cap above it would never apply. */
const MAX_CONNECTIONS = 1_000_000
/** Shorter access keys are accepted with a warning: a local attacker can try keys as fast as the proxy answers. */
const MIN_ACCESS_KEY_LENGTH = 16

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
  PROXY_SOCKET: text(),
  PROXY_SOCKET_MODE: text(),
  PROXY_ACCESS_KEY: text(),
  PROXY_ACCESS_KEY_FILE: text(),
  PROXY_ALLOW_UNAUTHENTICATED_REMOTE: { schema: { type: 'boolean', default: false }, problem: 'must be true or false' },
  PROXY_ALLOWED_HOSTS: text(),
  PROXY_CORS_ORIGINS: text(),
  PROXY_ALLOW_METHODS: text(),
  PROXY_ALLOW_PATHS: text(),
  PROXY_DENY_PATHS: text(),
  PROXY_MAX_BODY_BYTES: {
    schema: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    problem: `must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}`
  },
  ROECNY_CA_FILE: text(),
  TOKEN_REFRESH_RATIO: {
    schema: { type: 'number', minimum: 0.5, maximum: 0.95, default: 0.67 },
    problem: 'must be a number from 0.5 to 0.95'
  },
  LOGIN_TIMEOUT_MS: integer(1, MAX_TIMER_MS, 10_000),
  UPSTREAM_TIMEOUT_MS: integer(1, MAX_TIMER_MS, 30_000),
  SHUTDOWN_DELAY_MS: integer(0, MAX_TIMER_MS, 0),
  SHUTDOWN_TIMEOUT_MS: integer(0, MAX_TIMER_MS, 25_000),
  PROXY_HEADERS_TIMEOUT_MS: integer(1, MAX_TIMER_MS, 10_000),
  // A request body still being sent holds its upstream connection (undici does not time out then): bounded by default.
  PROXY_REQUEST_TIMEOUT_MS: integer(0, MAX_TIMER_MS, 300_000),
  // Longer than the usual client pool idle time, so a client never reuses a socket we just closed.
  PROXY_KEEP_ALIVE_TIMEOUT_MS: integer(1, MAX_TIMER_MS, 65_000),
  PROXY_MAX_CONNECTIONS: integer(1, MAX_CONNECTIONS, 4096),
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

/** The trimmed text of a small regular file and its permission bits; undefined (and a problem) when it cannot be used. */
function readSmallFile (name: string, path: string, maxBytes: number, sizeLabel: string, problems: string[]): { text: string, mode: number } | undefined {
  let text: string
  let mode: number
  try {
    // A path to a device or a huge file would otherwise block start-up or fill memory.
    const stats = statSync(path)
    if (!stats.isFile()) {
      problems.push(`${name} must name a regular file`)
      return undefined
    }
    if (stats.size > maxBytes) {
      problems.push(`${name} names a file larger than ${sizeLabel}`)
      return undefined
    }
    mode = stats.mode & 0o777
    text = readFileSync(path, 'utf8').trim()
  } catch (err) {
    problems.push(`${name} cannot be read (${(err as NodeJS.ErrnoException).code})`)
    return undefined
  }
  if (text === '') {
    problems.push(`${name} names an empty file`)
    return undefined
  }
  return { text, mode }
}

function readSecretFile (name: string, path: string, problems: string[], warnings: string[]): string | undefined {
  const file = readSmallFile(name, path, MAX_SECRET_FILE_BYTES, '64 KiB', problems)
  // Docker and Kubernetes mount secrets 0444 / 0644 unless told otherwise: every local user could read the key.
  if (file !== undefined && (file.mode & 0o044) !== 0) {
    warnings.push(`${name} names a file that group or others may read (mode ${file.mode.toString(8).padStart(4, '0')}); ` +
      'let only the proxy\'s user read it (chmod 600)')
  }
  return file?.text
}

const CA_PROBLEM = 'ROECNY_CA_FILE must hold PEM certificates (-----BEGIN CERTIFICATE-----)'
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g

/** The CA bundle's certificates, each checked to parse, so a wrong file fails at start rather than at the first TLS handshake. */
function readCaFile (path: string | undefined, problems: string[]): string | undefined {
  if (path === undefined) return undefined
  const file = readSmallFile('ROECNY_CA_FILE', path, MAX_CA_FILE_BYTES, '1 MiB', problems)
  if (file === undefined) return undefined
  const certificates = file.text.match(PEM_CERTIFICATE) ?? []
  try {
    if (certificates.length === 0) throw new Error('no certificate')
    for (const pem of certificates) new X509Certificate(pem) // eslint-disable-line no-new -- parsing is the check
  } catch {
    problems.push(CA_PROBLEM)
    return undefined
  }
  return certificates.join('\n')
}

/**
 * `NAME` or `NAME_FILE`, exactly one of them (or neither, when the secret is optional); the problem
 * names whichever holds the bad value.
 */
function secret (name: string, data: Record<string, string>, problems: string[], warnings: string[], required = true): string | undefined {
  const fileName = `${name}_FILE`
  const direct = data[name]
  const file = data[fileName]
  if (direct !== undefined && file !== undefined) {
    problems.push(`${name} and ${fileName} are both set; set only one`)
    return undefined
  }
  if (direct === undefined && file === undefined) {
    if (required) problems.push(`${name} or ${fileName} is required`)
    return undefined
  }
  const source = direct !== undefined ? name : fileName
  const value = direct ?? readSecretFile(fileName, file as string, problems, warnings)
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
  PROXY_HEADERS_TIMEOUT_MS: number
  PROXY_REQUEST_TIMEOUT_MS: number
  PROXY_KEEP_ALIVE_TIMEOUT_MS: number
  PROXY_MAX_CONNECTIONS: number
  LOG_LEVEL: string
  ADMIN_HOST?: string
  ADMIN_PORT?: number
  PROXY_ALLOW_UNAUTHENTICATED_REMOTE: boolean
  PROXY_MAX_BODY_BYTES?: number
}

type AccessSettings = Pick<Config, 'proxySocket' | 'proxySocketMode' | 'accessKey' | 'allowUnauthenticatedRemote' |
'allowedHosts' | 'corsOrigins' | 'allowMethods' | 'allowPaths' | 'denyPaths' | 'maxBodyBytes' | 'upstreamCa'>

const REMOTE_PROBLEM = 'PROXY_HOST is not a loopback address: set PROXY_ACCESS_KEY or PROXY_ACCESS_KEY_FILE so that only your ' +
  'callers can use the Roecny token (or PROXY_ALLOW_UNAUTHENTICATED_REMOTE=true to let anyone who reaches the port use it)'
const REMOTE_WARNING = 'PROXY_ALLOW_UNAUTHENTICATED_REMOTE=true: the proxy listens on a non-loopback address without an access key; ' +
  'anyone who reaches the port acts as the Roecny account holder'

/** Who may call the proxy, on which listener, and what it forwards; with the problems and warnings they raise. */
function accessSettings (data: Record<string, string>, parsed: ProxyEnv | undefined, problems: string[], warnings: string[]): AccessSettings {
  const accessKey = secret('PROXY_ACCESS_KEY', data, problems, warnings, false)
  if (accessKey !== undefined && accessKey.length < MIN_ACCESS_KEY_LENGTH) {
    const source = data.PROXY_ACCESS_KEY !== undefined ? 'PROXY_ACCESS_KEY' : 'PROXY_ACCESS_KEY_FILE'
    warnings.push(`${source} holds fewer than ${MIN_ACCESS_KEY_LENGTH} characters; use a long random value (e.g. 32 random bytes, hex-encoded)`)
  }
  const proxySocket = data.PROXY_SOCKET
  // A longer path is silently cut to fit the socket address: the proxy would listen somewhere else.
  if (proxySocket !== undefined && Buffer.byteLength(proxySocket) > MAX_SOCKET_PATH_BYTES) {
    problems.push(`PROXY_SOCKET must be a path of at most ${MAX_SOCKET_PATH_BYTES} bytes (the size of a Unix socket address)`)
  }
  let proxySocketMode = DEFAULT_SOCKET_MODE
  if (data.PROXY_SOCKET_MODE !== undefined) {
    if (proxySocket === undefined) {
      problems.push('PROXY_SOCKET_MODE is set but PROXY_SOCKET is not; set PROXY_SOCKET to listen on a Unix socket')
    }
    proxySocketMode = parseSocketMode(data.PROXY_SOCKET_MODE, problems) ?? DEFAULT_SOCKET_MODE
    if ((proxySocketMode & 0o002) !== 0) {
      warnings.push('PROXY_SOCKET_MODE lets every local user connect to the socket and act as the Roecny account holder')
    }
  }
  if (proxySocket !== undefined && (data.PROXY_HOST !== undefined || data.PROXY_PORT !== undefined)) {
    warnings.push('PROXY_HOST and PROXY_PORT are not used: the proxy listens on PROXY_SOCKET only')
  }
  // The rule follows the address the proxy binds, so a typo cannot open it up: only loopback goes without a key.
  const allowUnauthenticatedRemote = parsed?.PROXY_ALLOW_UNAUTHENTICATED_REMOTE ?? data.PROXY_ALLOW_UNAUTHENTICATED_REMOTE === 'true'
  const host = data.PROXY_HOST ?? '127.0.0.1'
  if (proxySocket === undefined && accessKey === undefined && validHost(host) && !isLoopbackHost(host)) {
    if (allowUnauthenticatedRemote) warnings.push(REMOTE_WARNING)
    else problems.push(REMOTE_PROBLEM)
  }
  return {
    proxySocket,
    proxySocketMode,
    accessKey,
    allowUnauthenticatedRemote,
    allowedHosts: parseAllowedHosts(data.PROXY_ALLOWED_HOSTS, problems),
    corsOrigins: parseCorsOrigins(data.PROXY_CORS_ORIGINS, problems),
    allowMethods: parseMethods(data.PROXY_ALLOW_METHODS, problems),
    allowPaths: parsePathPatterns('PROXY_ALLOW_PATHS', data.PROXY_ALLOW_PATHS, problems),
    denyPaths: parsePathPatterns('PROXY_DENY_PATHS', data.PROXY_DENY_PATHS, problems) ?? Object.freeze([]),
    maxBodyBytes: parsed?.PROXY_MAX_BODY_BYTES,
    upstreamCa: readCaFile(data.ROECNY_CA_FILE, problems)
  }
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
  const clientId = secret('ROECNY_CLIENT_ID', data, problems, warnings)
  const apiKey = secret('ROECNY_API_KEY', data, problems, warnings)
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
    headersTimeoutMs: values.PROXY_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: values.PROXY_REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: values.PROXY_KEEP_ALIVE_TIMEOUT_MS,
    maxConnections: values.PROXY_MAX_CONNECTIONS,
    logLevel: values.LOG_LEVEL,
    // Loopback unless told otherwise, like the proxy listener: exposing probes is the operator's choice.
    adminHost: values.ADMIN_PORT === undefined ? undefined : values.ADMIN_HOST ?? DEFAULT_ADMIN_HOST,
    adminPort: values.ADMIN_PORT,
    ...access,
    warnings: Object.freeze(warnings)
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
