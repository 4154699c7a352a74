// The one table of environment variables: each one's type and range, default, failure message and line of help.
// Free of imports, so the HEALTHCHECK script reads its defaults without loading the proxy.

export interface Variable {
  /** JSON schema for env-schema (type, range, enum); `default` is the value when unset. */
  readonly schema: { readonly type: string, readonly default?: string | number | boolean, readonly [keyword: string]: unknown }
  /** Completes "<NAME> ..." for any schema failure of this variable. */
  readonly problem: string
  /** One line for `--help`; the default, if any, is appended to it. */
  readonly help: string
}

// setTimeout turns any delay above 2^31 - 1 ms into 1 ms, so larger timeouts would fire at once.
const MAX_TIMER_MS = 2_147_483_647
/** Upper bound of the UPSTREAM_* counts and rate: far above any API's limits, and safe for the arithmetic. */
const MAX_LIMIT = 1_000_000
/** Far beyond any file-descriptor limit: a connection cap above it would never apply. */
const MAX_CONNECTIONS = 1_000_000

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
export const HOST_PROBLEM = 'must be an IP address or a host name'

function integer (min: number, max: number, fallback: number | undefined, help: string): Variable {
  return {
    schema: fallback === undefined
      ? { type: 'integer', minimum: min, maximum: max }
      : { type: 'integer', minimum: min, maximum: max, default: fallback },
    problem: `must be an integer from ${min} to ${max}`,
    help
  }
}

function text (help: string, fallback?: string): Variable {
  return { schema: fallback === undefined ? { type: 'string' } : { type: 'string', default: fallback }, problem: 'must be a string', help }
}

function host (fallback: string, help: string): Variable {
  return { schema: { type: 'string', default: fallback }, problem: HOST_PROBLEM, help }
}

function flag (help: string): Variable {
  return { schema: { type: 'boolean', default: false }, problem: 'must be true or false', help }
}

/**
 * What `serve`, `demo` and `check` read, in the order their problems are reported. A new variable
 * is a row here (and a field in ProxyEnv), a paragraph in config.example.env, and a line in
 * loadConfig that turns it into a Config field; --help and the tests follow from the row.
 */
export const PROXY_VARIABLES = {
  ROECNY_BASE_URL: text('required; https://host[:port][/prefix]'),
  ROECNY_ALLOW_INSECURE_HTTP: flag('allow http:// to a non-loopback host'),
  ROECNY_CLIENT_ID: text('the client ID (this or ROECNY_CLIENT_ID_FILE is required)'),
  ROECNY_CLIENT_ID_FILE: text('a file holding the client ID'),
  ROECNY_API_KEY: text('the API key (this or ROECNY_API_KEY_FILE is required)'),
  ROECNY_API_KEY_FILE: text('a file holding the API key'),
  ROECNY_SCOPE: text('sent as the scope header on login'),
  ROECNY_LOGIN_AS: text('sent as the x-login-as header on login'),
  PROXY_HOST: host('127.0.0.1', 'the listener\'s address'),
  PROXY_PORT: integer(0, 65535, 8080, 'the listener\'s port; 0 picks a free one'),
  // Applied only when ADMIN_PORT is set: the admin listener exists only then.
  ADMIN_HOST: host('127.0.0.1', 'the admin listener\'s address'),
  ADMIN_PORT: integer(0, 65535, undefined, 'probes and metrics listener; off unless set'),
  PROXY_SOCKET: text('listen on this Unix socket instead of TCP'),
  PROXY_SOCKET_MODE: text('file mode of PROXY_SOCKET, in octal', '0660'),
  PROXY_ACCESS_KEY: text('require x-proxy-key with this value on proxied requests and /-/status'),
  PROXY_ACCESS_KEY_FILE: text('a file holding the access key'),
  PROXY_ALLOW_UNAUTHENTICATED_REMOTE: flag('allow a non-loopback PROXY_HOST without an access key'),
  PROXY_ALLOWED_HOSTS: text('extra Host names accepted (* turns the check off)'),
  PROXY_CORS_ORIGINS: text('browser origins allowed to call through the proxy'),
  PROXY_ALLOW_METHODS: text('methods forwarded, e.g. GET,HEAD (all when unset)'),
  PROXY_ALLOW_PATHS: text('path patterns forwarded (* one segment, ** any depth; all when unset)'),
  PROXY_DENY_PATHS: text('path patterns never forwarded; deny wins over allow'),
  PROXY_MAX_BODY_BYTES: integer(0, Number.MAX_SAFE_INTEGER, undefined, 'larger request bodies get 413 (no limit when unset)'),
  PROXY_HEADERS_TIMEOUT_MS: integer(1, MAX_TIMER_MS, 10_000, 'milliseconds a request\'s headers may take to arrive (every listener)'),
  // A request body still being sent holds its upstream connection (undici does not time out then): bounded by default.
  PROXY_REQUEST_TIMEOUT_MS: integer(0, MAX_TIMER_MS, 300_000, 'milliseconds a whole request, body included, may take to arrive; 0: no limit'),
  // Longer than the usual client pool idle time, so a client never reuses a socket we just closed.
  PROXY_KEEP_ALIVE_TIMEOUT_MS: integer(1, MAX_TIMER_MS, 65_000, 'milliseconds a kept-alive connection may sit idle'),
  PROXY_MAX_CONNECTIONS: integer(1, MAX_CONNECTIONS, 4096, 'connections open at once, per listener'),
  ROECNY_CA_FILE: text('extra PEM CA bundle for the upstream (TLS is always verified)'),
  TOKEN_REFRESH_RATIO: {
    schema: { type: 'number', minimum: 0.5, maximum: 0.95, default: 0.67 },
    problem: 'must be a number from 0.5 to 0.95',
    help: 'refresh once this share of the token\'s lifetime has passed, 0.5 to 0.95'
  },
  LOGIN_TIMEOUT_MS: integer(1, MAX_TIMER_MS, 10_000, 'milliseconds one login attempt may take'),
  UPSTREAM_TIMEOUT_MS: integer(1, MAX_TIMER_MS, 30_000, 'milliseconds to wait for the upstream\'s response headers'),
  SHUTDOWN_DELAY_MS: integer(0, MAX_TIMER_MS, 0, 'milliseconds to keep serving after SIGTERM, readiness failing'),
  SHUTDOWN_TIMEOUT_MS: integer(0, MAX_TIMER_MS, 25_000, 'milliseconds in-flight requests then get to finish'),
  UPSTREAM_MAX_IN_FLIGHT: integer(0, MAX_LIMIT, 0, 'most requests in flight to Roecny at once; 0: no limit'),
  UPSTREAM_RATE_LIMIT: {
    schema: { type: 'number', minimum: 0, maximum: MAX_LIMIT, default: 0 },
    problem: `must be a number from 0 to ${MAX_LIMIT}`,
    help: 'most requests started per second toward Roecny; 0: no limit'
  },
  // No default in the table: it follows UPSTREAM_RATE_LIMIT (config/limits.ts).
  UPSTREAM_RATE_BURST: integer(1, MAX_LIMIT, undefined, 'how many may start at once after a quiet spell (default: the rate)'),
  UPSTREAM_QUEUE_TIMEOUT_MS: integer(0, MAX_TIMER_MS, 10_000, 'longest wait for those limits before 429 PROXY_RATE_LIMITED'),
  UPSTREAM_QUEUE_MAX: integer(0, MAX_LIMIT, 1000, 'most requests waiting for those limits'),
  LOG_LEVEL: {
    schema: { type: 'string', enum: LOG_LEVELS, default: 'info' },
    problem: `must be one of ${LOG_LEVELS.join(', ')}`,
    help: LOG_LEVELS.join('|')
  },
  SECRETS_POLL_MS: integer(0, MAX_TIMER_MS, 5000, 'milliseconds between re-reads of the *_FILE secrets when no file event comes; 0: events and SIGHUP only'),
  REDIS_URL: text('fleet mode: redis:// or rediss:// (TLS), user and password in the URL; off unless set'),
  REDIS_URL_FILE: text('a file holding REDIS_URL'),
  REDIS_CA_FILE: text('extra PEM CA bundle for a rediss:// Redis (TLS is always verified)'),
  REDIS_KEY_PREFIX: {
    schema: { type: 'string', default: 'roecny-auth-proxy', pattern: '^[\\x21-\\x7e]{1,100}$' },
    problem: 'must be 1 to 100 visible ASCII characters',
    help: 'prefix of every Redis key fleet mode uses'
  },
  PROXY_PROFILES_FILE: text('a YAML file of per-caller profiles: each caller\'s x-proxy-key selects its own token, paths, methods and caps; off unless set')
} satisfies Record<string, Variable>

/** What the `mock` command reads: it needs no Roecny variable at all. */
export const MOCK_VARIABLES = {
  MOCK_HOST: host('127.0.0.1', 'the mock command\'s listener address'),
  MOCK_PORT: integer(0, 65535, 8081, 'the mock command\'s listener port'),
  MOCK_FAULT_ROUTES: flag('the mock command also serves its test-only fault routes under /api/v1/test/')
} satisfies Record<string, Variable>

/** Every variable the program reads, in the order --help lists them. */
export const VARIABLES = { ...PROXY_VARIABLES, ...MOCK_VARIABLES }
export type VariableName = keyof typeof VARIABLES

/** The default of `name` as an operator writes it (`8080`, `0660`, `false`); undefined when it has none. */
export function defaultOf (name: VariableName): string | undefined {
  const value: Variable['schema']['default'] = VARIABLES[name].schema.default
  return value === undefined ? undefined : String(value)
}

/** The proxy's variables as env-schema returns them: defaults filled in, numbers and booleans typed. */
export interface ProxyEnv {
  ROECNY_BASE_URL: string
  ROECNY_ALLOW_INSECURE_HTTP: boolean
  ROECNY_SCOPE?: string
  ROECNY_LOGIN_AS?: string
  PROXY_HOST: string
  PROXY_PORT: number
  ADMIN_HOST: string
  ADMIN_PORT?: number
  PROXY_SOCKET_MODE: string
  PROXY_ALLOW_UNAUTHENTICATED_REMOTE: boolean
  PROXY_MAX_BODY_BYTES?: number
  PROXY_HEADERS_TIMEOUT_MS: number
  PROXY_REQUEST_TIMEOUT_MS: number
  PROXY_KEEP_ALIVE_TIMEOUT_MS: number
  PROXY_MAX_CONNECTIONS: number
  TOKEN_REFRESH_RATIO: number
  LOGIN_TIMEOUT_MS: number
  UPSTREAM_TIMEOUT_MS: number
  SHUTDOWN_DELAY_MS: number
  SHUTDOWN_TIMEOUT_MS: number
  UPSTREAM_MAX_IN_FLIGHT: number
  UPSTREAM_RATE_LIMIT: number
  UPSTREAM_RATE_BURST?: number
  UPSTREAM_QUEUE_TIMEOUT_MS: number
  UPSTREAM_QUEUE_MAX: number
  LOG_LEVEL: string
  SECRETS_POLL_MS: number
  REDIS_KEY_PREFIX: string
}

export interface MockEnv { MOCK_HOST: string, MOCK_PORT: number, MOCK_FAULT_ROUTES: boolean }
