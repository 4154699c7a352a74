// Configuration: every variable's defaults, its bad values with the exact message, and secrets never echoed.
// Inputs and their outcomes are tables: one row per case, the reason in the row.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { rootCertificates } from 'node:tls'
import { parseEnv } from 'node:util'
import t from 'tap'
import { ConfigError, loadConfig, loadMockConfig } from '../src/config.js'
import { configTables } from './helpers/config-cases.js'
import type { ConfigCase, Env } from './helpers/config-cases.js'

const CLIENT_ID = 'client-7f3a9c'
const API_KEY = 'key-s3cr3t-91b2e4d8'
const BASE: Env = { ROECNY_BASE_URL: 'https://api.roecny.example', ROECNY_CLIENT_ID: CLIENT_ID, ROECNY_API_KEY: API_KEY }

const SCHEME = 'ROECNY_BASE_URL must be an https:// URL (http:// only for loopback hosts or with ROECNY_ALLOW_INSECURE_HTTP=true)'
const table = configTables(BASE)

t.test('defaults', async (t) => {
  const config = loadConfig(BASE)
  t.same(config, {
    baseUrl: 'https://api.roecny.example',
    upstreamOrigin: 'https://api.roecny.example',
    upstreamPathPrefix: '',
    clientId: CLIENT_ID,
    apiKey: API_KEY,
    scope: undefined,
    loginAs: undefined,
    proxyHost: '127.0.0.1',
    proxyPort: 8080,
    refreshRatio: 0.67,
    loginTimeoutMs: 10000,
    upstreamTimeoutMs: 30000,
    shutdownDelayMs: 0,
    shutdownTimeoutMs: 25000,
    logLevel: 'info',
    adminHost: undefined,
    adminPort: undefined,
    proxySocket: undefined,
    proxySocketMode: 0o660,
    accessKeys: [],
    allowUnauthenticatedRemote: false,
    allowedHosts: [],
    corsOrigins: [],
    allowMethods: undefined,
    allowPaths: undefined,
    denyPaths: [],
    maxBodyBytes: undefined,
    headersTimeoutMs: 10000,
    requestTimeoutMs: 300000,
    keepAliveTimeoutMs: 65000,
    maxConnections: 4096,
    upstreamCa: undefined,
    upstreamMaxInFlight: 0,
    upstreamRateLimit: 0,
    upstreamRateBurst: 0,
    upstreamQueueTimeoutMs: 10000,
    upstreamQueueMax: 1000,
    secretFiles: {},
    secretsPollMs: 5000,
    redisUrl: undefined,
    redisCa: undefined,
    redisKeyPrefix: 'roecny-auth-proxy',
    warnings: []
  })
})

t.test('the result is frozen', async (t) => {
  const config = loadConfig(BASE)
  t.ok(Object.isFrozen(config))
  t.throws(() => { (config as { proxyPort: number }).proxyPort = 1 }, TypeError)
})

t.test('every variable is read', async (t) => {
  // Set together, as one environment: [variable, value, field, what it becomes].
  const read: Array<[string, string, string, unknown]> = [
    ['ROECNY_SCOPE', 'payments:read', 'scope', 'payments:read'],
    ['ROECNY_LOGIN_AS', 'sub-account-1', 'loginAs', 'sub-account-1'],
    ['PROXY_HOST', '0.0.0.0', 'proxyHost', '0.0.0.0'],
    ['PROXY_PORT', '9000', 'proxyPort', 9000],
    ['PROXY_ACCESS_KEY', 'access-key-0123456789abcdef', 'accessKeys', ['access-key-0123456789abcdef']],
    ['PROXY_ALLOWED_HOSTS', 'roecny-proxy, 10.0.0.7', 'allowedHosts', ['roecny-proxy', '10.0.0.7']],
    ['PROXY_CORS_ORIGINS', 'http://localhost:3000', 'corsOrigins', ['http://localhost:3000']],
    ['PROXY_ALLOW_METHODS', 'GET,HEAD', 'allowMethods', ['GET', 'HEAD']],
    ['PROXY_ALLOW_PATHS', '/api/v1/**', 'allowPaths', ['/api/v1/**']],
    ['PROXY_DENY_PATHS', '/api/v1/payments/**', 'denyPaths', ['/api/v1/payments/**']],
    ['PROXY_MAX_BODY_BYTES', '1048576', 'maxBodyBytes', 1048576],
    ['TOKEN_REFRESH_RATIO', '0.8', 'refreshRatio', 0.8],
    ['LOGIN_TIMEOUT_MS', '5000', 'loginTimeoutMs', 5000],
    ['UPSTREAM_TIMEOUT_MS', '60000', 'upstreamTimeoutMs', 60000],
    ['SHUTDOWN_DELAY_MS', '5000', 'shutdownDelayMs', 5000],
    ['SHUTDOWN_TIMEOUT_MS', '10000', 'shutdownTimeoutMs', 10000],
    ['PROXY_HEADERS_TIMEOUT_MS', '5000', 'headersTimeoutMs', 5000],
    ['PROXY_REQUEST_TIMEOUT_MS', '600000', 'requestTimeoutMs', 600000],
    ['PROXY_KEEP_ALIVE_TIMEOUT_MS', '30000', 'keepAliveTimeoutMs', 30000],
    ['PROXY_MAX_CONNECTIONS', '512', 'maxConnections', 512],
    ['UPSTREAM_MAX_IN_FLIGHT', '50', 'upstreamMaxInFlight', 50],
    ['UPSTREAM_RATE_LIMIT', '100', 'upstreamRateLimit', 100],
    ['UPSTREAM_RATE_BURST', '20', 'upstreamRateBurst', 20],
    ['UPSTREAM_QUEUE_TIMEOUT_MS', '2000', 'upstreamQueueTimeoutMs', 2000],
    ['UPSTREAM_QUEUE_MAX', '500', 'upstreamQueueMax', 500],
    ['LOG_LEVEL', 'debug', 'logLevel', 'debug']
  ]
  const config = loadConfig({ ...BASE, ...Object.fromEntries(read.map(([name, value]) => [name, value])), SOMETHING_ELSE: 'ignored' })
  t.match(config, Object.fromEntries(read.map(([, , field, parsed]) => [field, parsed])))
  t.notOk('SOMETHING_ELSE' in config)
})

t.test('values are trimmed; empty or blank values count as unset', async (t) => {
  // Set together, as one environment: [variable, value, field, what it becomes, why].
  const read: Array<[string, string, string, unknown, string]> = [
    ['ROECNY_CLIENT_ID', `  ${CLIENT_ID}\n`, 'clientId', CLIENT_ID, 'spaces and a newline around it are trimmed'],
    ['PROXY_PORT', ' 9001 ', 'proxyPort', 9001, 'a number with spaces around it'],
    ['ROECNY_SCOPE', '', 'scope', undefined, 'empty counts as unset'],
    ['ROECNY_LOGIN_AS', '  ', 'loginAs', undefined, 'blank counts as unset'],
    ['LOG_LEVEL', 'WARN', 'logLevel', 'warn', 'the level is case-insensitive'],
    ['PROXY_HOST', '', 'proxyHost', '127.0.0.1', 'empty: the default']
  ]
  const config = loadConfig({ ...BASE, ...Object.fromEntries(read.map(([name, value]) => [name, value])) }) as unknown as Record<string, unknown>
  for (const [name, , field, parsed, why] of read) t.equal(config[field], parsed, `${name}: ${why}`)
  table(t, [{ why: 'a required variable left blank is missing', env: { ROECNY_BASE_URL: ' ' }, problems: ['ROECNY_BASE_URL is required'] }])
})

t.test('ROECNY_BASE_URL', async (t) => {
  t.test('origin, prefix and trailing slash', async (t) => {
    table(t, [
      { why: 'a trailing slash is dropped', env: { ROECNY_BASE_URL: 'https://api.roecny.example/' }, want: { baseUrl: 'https://api.roecny.example', upstreamOrigin: 'https://api.roecny.example', upstreamPathPrefix: '' } },
      { why: 'a port and a path prefix are kept apart', env: { ROECNY_BASE_URL: 'https://api.roecny.example:8443/gateway/v2/' }, want: { baseUrl: 'https://api.roecny.example:8443/gateway/v2', upstreamOrigin: 'https://api.roecny.example:8443', upstreamPathPrefix: '/gateway/v2' } },
      { why: 'scheme and host lower-cased, the default port and doubled slashes dropped', env: { ROECNY_BASE_URL: 'HTTPS://API.Roecny.example:443/prefix//' }, want: { baseUrl: 'https://api.roecny.example/prefix', upstreamOrigin: 'https://api.roecny.example', upstreamPathPrefix: '/prefix' } },
      { why: 'http:// on localhost', env: { ROECNY_BASE_URL: 'http://localhost:8081' }, want: { baseUrl: 'http://localhost:8081', upstreamOrigin: 'http://localhost:8081', upstreamPathPrefix: '' } },
      { why: 'http:// on IPv4 loopback, with a prefix', env: { ROECNY_BASE_URL: 'http://127.0.0.1:8081/mock' }, want: { baseUrl: 'http://127.0.0.1:8081/mock', upstreamOrigin: 'http://127.0.0.1:8081', upstreamPathPrefix: '/mock' } },
      { why: 'all of 127.0.0.0/8 is loopback', env: { ROECNY_BASE_URL: 'http://127.9.8.7' }, want: { baseUrl: 'http://127.9.8.7', upstreamOrigin: 'http://127.9.8.7', upstreamPathPrefix: '' } },
      { why: 'http:// on IPv6 loopback', env: { ROECNY_BASE_URL: 'http://[::1]:8081' }, want: { baseUrl: 'http://[::1]:8081', upstreamOrigin: 'http://[::1]:8081', upstreamPathPrefix: '' } }
    ])
  })

  t.test('http:// to another host needs ROECNY_ALLOW_INSECURE_HTTP=true', async (t) => {
    table(t, [
      { why: 'a remote host name', env: { ROECNY_BASE_URL: 'http://api.roecny.example' }, problems: [SCHEME] },
      { why: 'a private address is not loopback', env: { ROECNY_BASE_URL: 'http://10.0.0.5:8080' }, problems: [SCHEME] },
      { why: 'an IPv6 address next to ::1', env: { ROECNY_BASE_URL: 'http://[::2]' }, problems: [SCHEME] },
      { why: 'just outside 127.0.0.0/8', env: { ROECNY_BASE_URL: 'http://128.0.0.1' }, problems: [SCHEME] },
      { why: 'a name that only starts with localhost', env: { ROECNY_BASE_URL: 'http://localhost.evil.example' }, problems: [SCHEME] },
      { why: 'the switch set to false', env: { ROECNY_BASE_URL: 'http://api.roecny.example', ROECNY_ALLOW_INSECURE_HTTP: 'false' }, problems: [SCHEME] },
      { why: 'the switch set to true', env: { ROECNY_BASE_URL: 'http://api.roecny.example/v1/', ROECNY_ALLOW_INSECURE_HTTP: 'true' }, want: { baseUrl: 'http://api.roecny.example/v1' } }
    ])
  })

  t.test('other schemes and non-URLs', async (t) => {
    table(t, [
      { why: 'another scheme', env: { ROECNY_BASE_URL: 'ftp://api.roecny.example' }, problems: [SCHEME] },
      { why: 'no scheme', env: { ROECNY_BASE_URL: 'api.roecny.example' }, problems: [SCHEME] },
      { why: 'a scheme without //', env: { ROECNY_BASE_URL: 'https:api.roecny.example' }, problems: [SCHEME] },
      { why: 'no host', env: { ROECNY_BASE_URL: 'https://' }, problems: [SCHEME] },
      { why: 'a space in the host', env: { ROECNY_BASE_URL: 'https://exa mple.com' }, problems: [SCHEME] },
      { why: 'a file URL', env: { ROECNY_BASE_URL: 'file:///etc/passwd' }, problems: [SCHEME] },
      { why: 'a WebSocket URL, even on loopback', env: { ROECNY_BASE_URL: 'ws://localhost' }, problems: [SCHEME] }
    ])
  })

  t.test('credentials, query and fragment', async (t) => {
    const CREDENTIALS = 'ROECNY_BASE_URL must not contain credentials (user:password@)'
    const QUERY = 'ROECNY_BASE_URL must not contain a query or a fragment'
    table(t, [
      { why: 'a user and a password', env: { ROECNY_BASE_URL: 'https://user:pass@api.roecny.example' }, problems: [CREDENTIALS] },
      { why: 'a user alone', env: { ROECNY_BASE_URL: 'https://user@api.roecny.example' }, problems: [CREDENTIALS] },
      { why: 'an empty user part', env: { ROECNY_BASE_URL: 'https://@api.roecny.example' }, problems: [CREDENTIALS] },
      { why: 'a query', env: { ROECNY_BASE_URL: 'https://api.roecny.example/v1?x=1' }, problems: [QUERY] },
      { why: 'an empty query', env: { ROECNY_BASE_URL: 'https://api.roecny.example/?' }, problems: [QUERY] },
      { why: 'a fragment', env: { ROECNY_BASE_URL: 'https://api.roecny.example#top' }, problems: [QUERY] },
      { why: 'every problem of one URL, its password not echoed', env: { ROECNY_BASE_URL: 'http://admin:hunter2@api.roecny.example/?q#f' }, problems: [SCHEME, CREDENTIALS, QUERY], hides: 'hunter2' }
    ])
  })

  t.test('missing', async (t) => {
    table(t, [{ why: 'required', env: { ROECNY_BASE_URL: undefined }, problems: ['ROECNY_BASE_URL is required'] }])
  })
})

t.test('ROECNY_ALLOW_INSECURE_HTTP must be a boolean', async (t) => {
  const problems = ['ROECNY_ALLOW_INSECURE_HTTP must be true or false']
  table(t, [
    { why: 'a word for true', env: { ROECNY_ALLOW_INSECURE_HTTP: 'yes' }, problems },
    { why: 'a digit for true', env: { ROECNY_ALLOW_INSECURE_HTTP: '1' }, problems },
    { why: 'a switch word', env: { ROECNY_ALLOW_INSECURE_HTTP: 'on' }, problems }
  ])
})

for (const name of ['ROECNY_CLIENT_ID', 'ROECNY_API_KEY']) {
  const secretValue = name === 'ROECNY_API_KEY' ? API_KEY : CLIENT_ID
  const field = name === 'ROECNY_API_KEY' ? 'apiKey' : 'clientId'
  const fileName = `${name}_FILE`
  const NOT_A_HEADER = 'must not contain control characters or characters beyond Latin-1'

  t.test(`${name} / ${fileName}`, async (t) => {
    const dir = t.testdir({
      good: `\n  ${secretValue}  \r\n`,
      empty: '',
      blank: ' \n\t\n',
      control: `${secretValue}\u0000x`,
      huge: 'x'.repeat(64 * 1024 + 1),
      unreadable: secretValue,
      folder: {}
    })
    const without = { ...BASE, [name]: undefined }

    t.test('read from the file, trimmed', async (t) => {
      table(t, [{ why: 'blank lines and spaces around the value are trimmed', env: { [fileName]: join(dir, 'good') }, want: { [field]: secretValue } }], { base: without })
    })

    t.test('one of the two is required', async (t) => {
      table(t, [{ why: 'neither is set', env: {}, problems: [`${name} or ${fileName} is required`] }], { base: without })
    })

    t.test('not both', async (t) => {
      table(t, [{ why: 'two sources of one value', env: { [fileName]: join(dir, 'good') }, problems: [`${name} and ${fileName} are both set; set only one`] }])
    })

    t.test('a file that cannot be used', async (t) => {
      table(t, [
        { why: 'no such file', env: { [fileName]: join(dir, 'missing') }, problems: [`${fileName} cannot be read (ENOENT)`] },
        { why: 'an empty file', env: { [fileName]: join(dir, 'empty') }, problems: [`${fileName} names an empty file`] },
        { why: 'only whitespace is empty too', env: { [fileName]: join(dir, 'blank') }, problems: [`${fileName} names an empty file`] },
        { why: 'a directory', env: { [fileName]: join(dir, 'folder') }, problems: [`${fileName} must name a regular file`] },
        { why: 'over 64 KiB', env: { [fileName]: join(dir, 'huge') }, problems: [`${fileName} names a file larger than 64 KiB`] },
        { why: 'a NUL byte cannot go into a header', env: { [fileName]: join(dir, 'control') }, problems: [`${fileName} ${NOT_A_HEADER}`] }
      ], { base: without })
    })

    t.test('an unreadable file', { skip: process.getuid?.() === 0 ? 'root reads every file' : false }, async (t) => {
      chmodSync(join(dir, 'unreadable'), 0o000)
      table(t, [{ why: 'mode 000', env: { [fileName]: join(dir, 'unreadable') }, problems: [`${fileName} cannot be read (EACCES)`] }], { base: without })
    })

    t.test('a value that cannot be a header', async (t) => {
      table(t, [
        { why: 'CR LF would inject a header', env: { [name]: `${secretValue}\r\nx-injected: 1` }, problems: [`${name} ${NOT_A_HEADER}`] },
        { why: 'a control character', env: { [name]: `${secretValue}\u0007` }, problems: [`${name} ${NOT_A_HEADER}`] },
        { why: 'a character beyond Latin-1', env: { [name]: `${secretValue}€` }, problems: [`${name} ${NOT_A_HEADER}`] }
      ])
    })
  })
}

t.test('an unreadable secret file (EACCES is simulated where root reads everything)', async (t) => {
  const { loadConfig: load } = await t.mockImport<typeof import('../src/config.js')>('../src/config.js', {
    'node:fs': {
      ...await import('node:fs'),
      readFileSync () {
        throw Object.assign(new Error('permission denied'), { code: 'EACCES' })
      }
    }
  })
  const dir = t.testdir({ key: API_KEY })
  table(t, [{ why: 'the read fails with EACCES', env: { ROECNY_API_KEY: undefined, ROECNY_API_KEY_FILE: join(dir, 'key') }, problems: ['ROECNY_API_KEY_FILE cannot be read (EACCES)'] }], { load })
})

t.test('ROECNY_SCOPE and ROECNY_LOGIN_AS must be header values', async (t) => {
  table(t, [{
    why: 'a newline and a NUL byte: both reported, in order',
    env: { ROECNY_SCOPE: 'read\nx-evil: 1', ROECNY_LOGIN_AS: 'a\u0000b' },
    problems: [
      'ROECNY_SCOPE must not contain control characters or characters beyond Latin-1',
      'ROECNY_LOGIN_AS must not contain control characters or characters beyond Latin-1'
    ]
  }])
})

t.test('numbers', async (t) => {
  /** A numeric variable's rule: the values it takes and those it refuses, each with its reason. */
  interface NumberRule {
    name: string
    /** Where the value goes in the Config. */
    field: string
    message: string
    good: Record<string, string>
    bad: Record<string, string>
  }
  const MS = 'must be an integer from 1 to 2147483647'
  const MS_OR_0 = 'must be an integer from 0 to 2147483647'
  const rules: NumberRule[] = [
    {
      name: 'PROXY_PORT',
      field: 'proxyPort',
      message: 'must be an integer from 0 to 65535',
      good: { 0: 'any free port', 65535: 'the highest port' },
      bad: { '-1': 'below 0', 65536: 'above the highest port', 80.5: 'not an integer', http: 'not a number', '0x': 'a hex prefix without digits', '1e9': 'exponent notation, far above the range', '-Infinity': 'not finite', '1e999': 'overflows to Infinity' }
    },
    {
      name: 'TOKEN_REFRESH_RATIO',
      field: 'refreshRatio',
      message: 'must be a number from 0.5 to 0.95',
      good: { 0.5: 'the lowest ratio', 0.95: 'the highest ratio' },
      bad: { 0.49: 'just below 0.5', 0.951: 'just above 0.95', 1: 'a refresh at expiry is too late', NaN: 'not a number', Infinity: 'not finite', 'two thirds': 'words' }
    },
    {
      name: 'LOGIN_TIMEOUT_MS',
      field: 'loginTimeoutMs',
      message: MS,
      good: { 1: 'the shortest timeout', 2147483647: 'the longest timer Node keeps' },
      bad: { 0: 'a login needs some time', '-5': 'negative', 1.5: 'not an integer', 2147483648: 'beyond what a Node timer keeps', ten: 'words' }
    },
    {
      name: 'UPSTREAM_TIMEOUT_MS',
      field: 'upstreamTimeoutMs',
      message: MS,
      good: { 1: 'the shortest timeout', 2147483647: 'the longest timer Node keeps' },
      bad: { 0: 'an upstream call needs some time', 2147483648: 'beyond what a Node timer keeps', x: 'not a number' }
    },
    {
      name: 'SHUTDOWN_DELAY_MS',
      field: 'shutdownDelayMs',
      message: MS_OR_0,
      good: { 0: 'no delay', 2147483647: 'the longest timer Node keeps' },
      bad: { '-1': 'negative', 0.5: 'not an integer', 2147483648: 'beyond what a Node timer keeps' }
    },
    {
      name: 'SHUTDOWN_TIMEOUT_MS',
      field: 'shutdownTimeoutMs',
      message: MS_OR_0,
      good: { 0: 'cut in-flight requests at once', 2147483647: 'the longest timer Node keeps' },
      bad: { '-1': 'negative', soon: 'words', 2147483648: 'beyond what a Node timer keeps' }
    },
    {
      name: 'PROXY_HEADERS_TIMEOUT_MS',
      field: 'headersTimeoutMs',
      message: MS,
      // Up to the request timeout's 5 min default; beyond it only with a longer one (below).
      good: { 1: 'the shortest timeout', 300000: 'the request timeout\'s default' },
      bad: { 0: 'headers need some time', '-1': 'negative', 1.5: 'not an integer', 2147483648: 'beyond what a Node timer keeps', soon: 'words' }
    },
    {
      name: 'PROXY_REQUEST_TIMEOUT_MS',
      field: 'requestTimeoutMs',
      message: MS_OR_0,
      good: { 0: 'no limit', 2147483647: 'the longest timer Node keeps' },
      bad: { '-1': 'negative', 2.5: 'not an integer', 2147483648: 'beyond what a Node timer keeps', never: 'words' }
    },
    {
      name: 'PROXY_KEEP_ALIVE_TIMEOUT_MS',
      field: 'keepAliveTimeoutMs',
      message: MS,
      good: { 1: 'the shortest timeout', 2147483647: 'the longest timer Node keeps' },
      bad: { 0: 'keep-alive needs some time', '-1': 'negative', 2147483648: 'beyond what a Node timer keeps', long: 'words' }
    },
    {
      name: 'PROXY_MAX_CONNECTIONS',
      field: 'maxConnections',
      message: 'must be an integer from 1 to 1000000',
      good: { 1: 'one client at a time', 1000000: 'the highest cap' },
      bad: { 0: 'no connection at all', '-1': 'negative', 10.5: 'not an integer', 1000001: 'above the highest cap', many: 'words', Infinity: 'not finite' }
    },
    {
      name: 'UPSTREAM_MAX_IN_FLIGHT',
      field: 'upstreamMaxInFlight',
      message: 'must be an integer from 0 to 1000000',
      good: { 0: 'no limit', 1000000: 'the highest limit' },
      bad: { '-1': 'negative', 2.5: 'not an integer', 1000001: 'above the highest limit', many: 'words' }
    },
    {
      name: 'UPSTREAM_RATE_LIMIT',
      field: 'upstreamRateLimit',
      message: 'must be a number from 0 to 1000000',
      good: { 0: 'no limit', 0.5: 'a request every 2 s: fractions are rates too', 1000000: 'the highest rate' },
      bad: { '-1': 'negative', 1000001: 'above the highest rate', Infinity: 'not finite', fast: 'words' }
    },
    {
      name: 'UPSTREAM_QUEUE_TIMEOUT_MS',
      field: 'upstreamQueueTimeoutMs',
      message: MS_OR_0,
      good: { 0: 'refuse at once instead of waiting', 2147483647: 'the longest timer Node keeps' },
      bad: { '-1': 'negative', 1.5: 'not an integer', 2147483648: 'beyond what a Node timer keeps' }
    },
    {
      name: 'UPSTREAM_QUEUE_MAX',
      field: 'upstreamQueueMax',
      message: 'must be an integer from 0 to 1000000',
      good: { 0: 'no queue', 1000000: 'the longest queue' },
      bad: { '-1': 'negative', 1.5: 'not an integer', 1000001: 'above the longest queue' }
    }
  ]
  for (const { name, field, message, good, bad } of rules) {
    table(t, [
      ...Object.entries(bad).map(([value, why]) => ({ why, env: { [name]: value }, problems: [`${name} ${message}`] })),
      ...Object.entries(good).map(([value, why]) => ({ why, env: { [name]: value }, want: { [field]: Number(value) } }))
    ])
  }
})

t.test('PROXY_REQUEST_TIMEOUT_MS is off (0) or at least PROXY_HEADERS_TIMEOUT_MS', async (t) => {
  const BELOW = 'PROXY_REQUEST_TIMEOUT_MS must be 0 (no limit) or at least PROXY_HEADERS_TIMEOUT_MS'
  table(t, [
    { why: '0 turns the request deadline off', env: { PROXY_HEADERS_TIMEOUT_MS: '5000', PROXY_REQUEST_TIMEOUT_MS: '0' }, want: { requestTimeoutMs: 0 } },
    { why: 'equal to the header timeout', env: { PROXY_HEADERS_TIMEOUT_MS: '5000', PROXY_REQUEST_TIMEOUT_MS: '5000' }, want: { requestTimeoutMs: 5000 } },
    { why: 'any header timeout goes with no request deadline', env: { PROXY_HEADERS_TIMEOUT_MS: '2147483647', PROXY_REQUEST_TIMEOUT_MS: '0' }, want: { headersTimeoutMs: 2147483647 } },
    // Node would refuse to create the listener: a request cannot end before its headers.
    { why: 'below the 10 s default of the header timeout', env: { PROXY_REQUEST_TIMEOUT_MS: '9999' }, problems: [BELOW] },
    { why: 'below the header timeout set with it', env: { PROXY_HEADERS_TIMEOUT_MS: '2000', PROXY_REQUEST_TIMEOUT_MS: '1000' }, problems: [BELOW] },
    { why: 'the comparison waits for valid numbers', env: { PROXY_HEADERS_TIMEOUT_MS: 'x', PROXY_REQUEST_TIMEOUT_MS: '1000' }, problems: ['PROXY_HEADERS_TIMEOUT_MS must be an integer from 1 to 2147483647'] }
  ])
})

t.test('the upstream limits: the burst follows the rate; settings that would do nothing are reported', async (t) => {
  const BURST = 'UPSTREAM_RATE_BURST must be an integer from 1 to 1000000'
  const BURST_ALONE = 'UPSTREAM_RATE_BURST is set but UPSTREAM_RATE_LIMIT is not; set UPSTREAM_RATE_LIMIT to limit the rate'
  table(t, [
    { why: 'the burst defaults to the limit', env: { UPSTREAM_RATE_LIMIT: '20' }, want: { upstreamRateLimit: 20, upstreamRateBurst: 20 }, warnings: [] },
    { why: 'a fractional limit\'s burst is rounded up', env: { UPSTREAM_RATE_LIMIT: '2.5' }, want: { upstreamRateBurst: 3 } },
    { why: 'a burst of at least one', env: { UPSTREAM_RATE_LIMIT: '0.2' }, want: { upstreamRateBurst: 1 } },
    { why: 'a burst of its own', env: { UPSTREAM_RATE_LIMIT: '10', UPSTREAM_RATE_BURST: '1' }, want: { upstreamRateLimit: 10, upstreamRateBurst: 1 } },
    { why: '0: refuse at once instead of waiting', env: { UPSTREAM_MAX_IN_FLIGHT: '10', UPSTREAM_QUEUE_MAX: '0', UPSTREAM_QUEUE_TIMEOUT_MS: '0' }, want: { upstreamMaxInFlight: 10, upstreamRateBurst: 0, upstreamQueueMax: 0, upstreamQueueTimeoutMs: 0 }, warnings: [] },
    { why: 'a burst of none', env: { UPSTREAM_RATE_LIMIT: '10', UPSTREAM_RATE_BURST: '0' }, problems: [BURST] },
    { why: 'a fractional burst', env: { UPSTREAM_RATE_LIMIT: '10', UPSTREAM_RATE_BURST: '1.5' }, problems: [BURST] },
    { why: 'above the highest burst', env: { UPSTREAM_RATE_LIMIT: '10', UPSTREAM_RATE_BURST: '1000001' }, problems: [BURST] },
    { why: 'a burst without a rate', env: { UPSTREAM_RATE_BURST: '10' }, problems: [BURST_ALONE] },
    { why: 'a burst with the rate limit off', env: { UPSTREAM_RATE_BURST: '10', UPSTREAM_RATE_LIMIT: '0' }, problems: [BURST_ALONE] },
    { why: 'reported with the other problems', env: { UPSTREAM_RATE_BURST: '10', UPSTREAM_MAX_IN_FLIGHT: 'x' }, problems: ['UPSTREAM_MAX_IN_FLIGHT must be an integer from 0 to 1000000', BURST_ALONE] },
    { why: 'a queue without a limit to queue for', env: { UPSTREAM_QUEUE_MAX: '10' }, warnings: ['UPSTREAM_QUEUE_MAX is not used: neither UPSTREAM_MAX_IN_FLIGHT nor UPSTREAM_RATE_LIMIT is set'] },
    { why: 'both queue settings, with the in-flight limit off', env: { UPSTREAM_QUEUE_TIMEOUT_MS: '10', UPSTREAM_QUEUE_MAX: '10', UPSTREAM_MAX_IN_FLIGHT: '0' }, warnings: ['UPSTREAM_QUEUE_TIMEOUT_MS and UPSTREAM_QUEUE_MAX are not used: neither UPSTREAM_MAX_IN_FLIGHT nor UPSTREAM_RATE_LIMIT is set'] }
  ])
})

t.test('LOG_LEVEL', async (t) => {
  table(t, [
    ...['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => ({ why: 'one of pino\'s levels', env: { LOG_LEVEL: level }, want: { logLevel: level } })),
    { why: 'not a level of pino\'s', env: { LOG_LEVEL: 'verbose' }, problems: ['LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent'] }
  ])
})

t.test('ADMIN_PORT and ADMIN_HOST: the admin listener is off unless ADMIN_PORT is set', async (t) => {
  const PORT = ['ADMIN_PORT must be an integer from 0 to 65535']
  table(t, [
    { why: 'loopback by default', env: { ADMIN_PORT: '9090' }, want: { adminHost: '127.0.0.1', adminPort: 9090 } },
    { why: 'any address, any free port', env: { ADMIN_PORT: '0', ADMIN_HOST: '0.0.0.0' }, want: { adminHost: '0.0.0.0', adminPort: 0 } },
    { why: 'every IPv6 address', env: { ADMIN_PORT: '9090', ADMIN_HOST: '::' }, want: { adminHost: '::', adminPort: 9090 } },
    { why: 'blank counts as unset', env: { ADMIN_PORT: ' ', ADMIN_HOST: '' }, want: { adminHost: undefined, adminPort: undefined } },
    { why: 'below 0', env: { ADMIN_PORT: '-1' }, problems: PORT },
    { why: 'above the highest port', env: { ADMIN_PORT: '65536' }, problems: PORT },
    { why: 'not an integer', env: { ADMIN_PORT: '90.5' }, problems: PORT },
    { why: 'not a number', env: { ADMIN_PORT: 'admin' }, problems: PORT },
    { why: 'not a host', env: { ADMIN_PORT: '9090', ADMIN_HOST: 'not a host' }, problems: ['ADMIN_HOST must be an IP address or a host name'] },
    { why: 'a host without a port starts nothing', env: { ADMIN_HOST: '0.0.0.0' }, problems: ['ADMIN_HOST is set but ADMIN_PORT is not; set ADMIN_PORT to start the admin listener'] }
  ])
})

t.test('PROXY_HOST', async (t) => {
  const HOST = ['PROXY_HOST must be an IP address or a host name']
  // Any address but loopback needs an access key (see below).
  const key = { PROXY_ACCESS_KEY: 'access-key-0123456789abcdef' }
  table(t, [
    { why: 'a loopback name', env: { PROXY_HOST: 'localhost', ...key }, want: { proxyHost: 'localhost' } },
    { why: 'every IPv6 address', env: { PROXY_HOST: '::', ...key }, want: { proxyHost: '::' } },
    { why: 'IPv6 loopback', env: { PROXY_HOST: '::1', ...key }, want: { proxyHost: '::1' } },
    { why: 'an IPv4 address', env: { PROXY_HOST: '10.1.2.3', ...key }, want: { proxyHost: '10.1.2.3' } },
    { why: 'a dotted host name', env: { PROXY_HOST: 'proxy.internal', ...key }, want: { proxyHost: 'proxy.internal' } },
    { why: 'a host name with a hyphen', env: { PROXY_HOST: 'my-host', ...key }, want: { proxyHost: 'my-host' } },
    { why: 'brackets belong in URLs, not in a listen address', env: { PROXY_HOST: '[::1]' }, problems: HOST },
    { why: 'a URL', env: { PROXY_HOST: 'http://localhost' }, problems: HOST },
    { why: 'a space', env: { PROXY_HOST: 'two words' }, problems: HOST },
    { why: 'a label that starts with a hyphen', env: { PROXY_HOST: '-leading' }, problems: HOST },
    { why: 'an empty label', env: { PROXY_HOST: 'a..b' }, problems: HOST },
    { why: 'a port goes in PROXY_PORT', env: { PROXY_HOST: 'host:8080' }, problems: HOST }
  ])
})

t.test('who may call and what is forwarded', async (t) => {
  const ACCESS_KEY = 'access-key-0123456789abcdef'
  const WORLD_READABLE = (name: string, mode: string): string =>
    `${name} names a file that group or others may read (mode ${mode}); let only the proxy's user read it (chmod 600)`
  const NOT_A_HEADER = 'must not contain control characters or characters beyond Latin-1'
  const SHORT = 'holds fewer than 16 characters; use a long random value (e.g. 32 random bytes, hex-encoded)'

  t.test('PROXY_ACCESS_KEY / PROXY_ACCESS_KEY_FILE: optional, one of them, never echoed', async (t) => {
    const dir = t.testdir({ key: `\n${ACCESS_KEY}\n`, loose: ACCESS_KEY, empty: '', control: `${ACCESS_KEY}\u0000` })
    chmodSync(join(dir, 'key'), 0o600)
    chmodSync(join(dir, 'loose'), 0o644)
    const shortFile = join(dir, 'short')
    writeFileSync(shortFile, 'short', { mode: 0o600 })
    table(t, [
      { why: 'no key: open to every local caller', env: {}, want: { accessKeys: [] } },
      { why: 'the key from the environment', env: { PROXY_ACCESS_KEY: ACCESS_KEY }, want: { accessKeys: [ACCESS_KEY] } },
      { why: 'the key from a 0600 file, listed for re-reading, no warning', env: { PROXY_ACCESS_KEY_FILE: join(dir, 'key') }, want: { accessKeys: [ACCESS_KEY], secretFiles: { PROXY_ACCESS_KEY_FILE: join(dir, 'key') } }, warnings: [] },
      { why: 'a file others may read', env: { PROXY_ACCESS_KEY_FILE: join(dir, 'loose') }, warnings: [WORLD_READABLE('PROXY_ACCESS_KEY_FILE', '0644')] },
      { why: 'two sources of one key', env: { PROXY_ACCESS_KEY: ACCESS_KEY, PROXY_ACCESS_KEY_FILE: join(dir, 'key') }, problems: ['PROXY_ACCESS_KEY and PROXY_ACCESS_KEY_FILE are both set; set only one'] },
      { why: 'an empty file', env: { PROXY_ACCESS_KEY_FILE: join(dir, 'empty') }, problems: ['PROXY_ACCESS_KEY_FILE names an empty file'] },
      { why: 'no such file', env: { PROXY_ACCESS_KEY_FILE: join(dir, 'missing') }, problems: ['PROXY_ACCESS_KEY_FILE cannot be read (ENOENT)'] },
      { why: 'a NUL byte in the file', env: { PROXY_ACCESS_KEY_FILE: join(dir, 'control') }, problems: [`PROXY_ACCESS_KEY_FILE ${NOT_A_HEADER}`], hides: ACCESS_KEY },
      { why: 'a newline in the variable', env: { PROXY_ACCESS_KEY: `${ACCESS_KEY}\nx` }, problems: [`PROXY_ACCESS_KEY ${NOT_A_HEADER}`], hides: ACCESS_KEY },
      { why: 'a short key is guessable', env: { PROXY_ACCESS_KEY: 'short' }, warnings: [`PROXY_ACCESS_KEY ${SHORT}`] },
      { why: 'a short key in a file too', env: { PROXY_ACCESS_KEY_FILE: shortFile }, warnings: [`PROXY_ACCESS_KEY_FILE ${SHORT}`] }
    ])
  })

  t.test('PROXY_ACCESS_KEY_FILE may hold several keys, one per line; blank lines and # comments are ignored', async (t) => {
    const NEXT_KEY = 'access-key-next-fedcba9876543210'
    const dir = t.testdir({
      two: `# the key the clients use now\n${ACCESS_KEY}\n\n  ${NEXT_KEY}  \r\n# ${ACCESS_KEY} repeated below\n${ACCESS_KEY}\n`,
      comments: '# no key yet\n\n#another\n',
      control: `${ACCESS_KEY}\n${NEXT_KEY}\u0007\n`,
      short: `${ACCESS_KEY}\nshort\n`
    })
    for (const name of ['two', 'comments', 'control', 'short']) chmodSync(join(dir, name), 0o600)
    t.ok(Object.isFrozen(loadConfig({ ...BASE, PROXY_ACCESS_KEY_FILE: join(dir, 'two') }).accessKeys))
    table(t, [
      { why: 'trimmed, in order, each once', env: { PROXY_ACCESS_KEY_FILE: join(dir, 'two') }, want: { accessKeys: [ACCESS_KEY, NEXT_KEY] }, warnings: [] },
      { why: 'only comments: no key', env: { PROXY_ACCESS_KEY_FILE: join(dir, 'comments') }, problems: ['PROXY_ACCESS_KEY_FILE holds no key (only blank lines and # comments)'] },
      { why: 'a control character in the second key', env: { PROXY_ACCESS_KEY_FILE: join(dir, 'control') }, problems: [`PROXY_ACCESS_KEY_FILE ${NOT_A_HEADER}`], hides: NEXT_KEY },
      { why: 'one short key among them', env: { PROXY_ACCESS_KEY_FILE: join(dir, 'short') }, warnings: ['PROXY_ACCESS_KEY_FILE holds a key of fewer than 16 characters; use a long random value (e.g. 32 random bytes, hex-encoded)'] },
      { why: 'PROXY_ACCESS_KEY is always one key', env: { PROXY_ACCESS_KEY: `${ACCESS_KEY} ${NEXT_KEY}` }, want: { accessKeys: [`${ACCESS_KEY} ${NEXT_KEY}`] } }
    ])
  })

  t.test('*_FILE secrets that group or others may read raise warnings', async (t) => {
    const dir = t.testdir({ id: CLIENT_ID, key: API_KEY })
    const files = { ROECNY_CLIENT_ID: undefined, ROECNY_API_KEY: undefined, ROECNY_CLIENT_ID_FILE: join(dir, 'id'), ROECNY_API_KEY_FILE: join(dir, 'key') }
    chmodSync(join(dir, 'id'), 0o640)
    chmodSync(join(dir, 'key'), 0o604)
    const config = loadConfig({ ...BASE, ...files })
    t.ok(Object.isFrozen(config.warnings))
    table(t, [{ why: 'the group may read one, others the other', env: files, warnings: [WORLD_READABLE('ROECNY_CLIENT_ID_FILE', '0640'), WORLD_READABLE('ROECNY_API_KEY_FILE', '0604')] }])
    chmodSync(join(dir, 'id'), 0o400)
    chmodSync(join(dir, 'key'), 0o600)
    table(t, [{ why: 'only the owner may read them', env: files, warnings: [] }])
  })

  t.test('a non-loopback PROXY_HOST needs an access key or PROXY_ALLOW_UNAUTHENTICATED_REMOTE=true', async (t) => {
    const REMOTE = 'PROXY_HOST is not a loopback address: set PROXY_ACCESS_KEY or PROXY_ACCESS_KEY_FILE so that only your callers ' +
      'can use the Roecny token (or PROXY_ALLOW_UNAUTHENTICATED_REMOTE=true to let anyone who reaches the port use it)'
    const SWITCH = 'PROXY_ALLOW_UNAUTHENTICATED_REMOTE must be true or false'
    const remote: ConfigCase[] = [
      { why: 'every IPv4 address', env: { PROXY_HOST: '0.0.0.0' }, problems: [REMOTE] },
      { why: 'every IPv6 address', env: { PROXY_HOST: '::' }, problems: [REMOTE] },
      { why: 'a private address', env: { PROXY_HOST: '10.1.2.3' }, problems: [REMOTE] },
      { why: 'a private address mapped into IPv6', env: { PROXY_HOST: '::ffff:10.0.0.1' }, problems: [REMOTE] },
      { why: 'a host name that may resolve anywhere', env: { PROXY_HOST: 'proxy.internal' }, problems: [REMOTE] }
    ]
    table(t, [
      ...remote,
      ...remote.map((row) => ({ ...row, why: `${row.why}, the switch set to false`, env: { ...row.env, PROXY_ALLOW_UNAUTHENTICATED_REMOTE: 'false' } })),
      { why: 'IPv4 loopback', env: { PROXY_HOST: '127.0.0.1' }, warnings: [] },
      { why: 'all of 127.0.0.0/8 is loopback', env: { PROXY_HOST: '127.1.2.3' }, warnings: [] },
      { why: 'the loopback name', env: { PROXY_HOST: 'localhost' }, warnings: [] },
      { why: 'host names are case-insensitive', env: { PROXY_HOST: 'LOCALHOST' }, warnings: [] },
      { why: 'IPv6 loopback', env: { PROXY_HOST: '::1' }, warnings: [] },
      { why: 'IPv4 loopback mapped into IPv6', env: { PROXY_HOST: '::ffff:127.0.0.1' }, warnings: [] },
      {
        why: 'the switch opens the listener, with a warning',
        env: { PROXY_HOST: '0.0.0.0', PROXY_ALLOW_UNAUTHENTICATED_REMOTE: 'true' },
        want: { allowUnauthenticatedRemote: true },
        warnings: ['PROXY_ALLOW_UNAUTHENTICATED_REMOTE=true: the proxy listens on a non-loopback address without an access key; anyone who reaches the port acts as the Roecny account holder']
      },
      { why: 'on loopback the switch changes nothing', env: { PROXY_ALLOW_UNAUTHENTICATED_REMOTE: 'true' }, warnings: [] },
      { why: 'not a boolean', env: { PROXY_ALLOW_UNAUTHENTICATED_REMOTE: 'yes' }, problems: [SWITCH] },
      { why: 'a bad switch does not open the listener', env: { PROXY_HOST: '0.0.0.0', PROXY_ALLOW_UNAUTHENTICATED_REMOTE: 'yes' }, problems: [SWITCH, REMOTE] }
    ])
  })

  t.test('PROXY_SOCKET and PROXY_SOCKET_MODE', async (t) => {
    const MODE = ['PROXY_SOCKET_MODE must be an octal file mode such as 0660']
    const UNUSED = ['PROXY_HOST and PROXY_PORT are not used: the proxy listens on PROXY_SOCKET only']
    const socket = { PROXY_SOCKET: '/run/p.sock' }
    table(t, [
      { why: 'owner and group may connect by default', env: { PROXY_SOCKET: '/run/roecny/proxy.sock' }, want: { proxySocket: '/run/roecny/proxy.sock', proxySocketMode: 0o660 }, warnings: [] },
      { why: 'octal with a leading 0', env: { ...socket, PROXY_SOCKET_MODE: '0600' }, want: { proxySocketMode: 0o600 } },
      { why: 'three digits, no prefix', env: { ...socket, PROXY_SOCKET_MODE: '600' }, want: { proxySocketMode: 0o600 } },
      { why: 'JavaScript\'s 0o prefix', env: { ...socket, PROXY_SOCKET_MODE: '0o640' }, want: { proxySocketMode: 0o640 } },
      { why: 'the prefix in upper case', env: { ...socket, PROXY_SOCKET_MODE: '0O777' }, want: { proxySocketMode: 0o777 } },
      { why: 'no one but root', env: { ...socket, PROXY_SOCKET_MODE: '0000' }, want: { proxySocketMode: 0 } },
      { why: '9 is not an octal digit', env: { ...socket, PROXY_SOCKET_MODE: '0999' }, problems: MODE },
      { why: 'one digit', env: { ...socket, PROXY_SOCKET_MODE: '8' }, problems: MODE },
      { why: 'symbolic modes are not read', env: { ...socket, PROXY_SOCKET_MODE: 'rw-rw----' }, problems: MODE },
      { why: 'setuid, setgid and sticky bits are no socket\'s business', env: { ...socket, PROXY_SOCKET_MODE: '07777' }, problems: MODE },
      { why: 'negative', env: { ...socket, PROXY_SOCKET_MODE: '-1' }, problems: MODE },
      { why: 'hexadecimal', env: { ...socket, PROXY_SOCKET_MODE: '0x1b0' }, problems: MODE },
      { why: 'two digits', env: { ...socket, PROXY_SOCKET_MODE: '66' }, problems: MODE },
      { why: 'a mode without a socket', env: { PROXY_SOCKET_MODE: '0600' }, problems: ['PROXY_SOCKET_MODE is set but PROXY_SOCKET is not; set PROXY_SOCKET to listen on a Unix socket'] },
      { why: 'one byte over a Unix socket address', env: { PROXY_SOCKET: `/${'s'.repeat(107)}` }, problems: ['PROXY_SOCKET must be a path of at most 107 bytes (the size of a Unix socket address)'] },
      { why: 'the longest path a Unix socket address holds', env: { PROXY_SOCKET: `/${'s'.repeat(106)}` }, want: { proxySocket: `/${'s'.repeat(106)}` } },
      { why: 'every local user may connect', env: { ...socket, PROXY_SOCKET_MODE: '0666' }, warnings: ['PROXY_SOCKET_MODE lets every local user connect to the socket and act as the Roecny account holder'] },
      { why: 'no access key is asked for: PROXY_HOST is not used', env: { ...socket, PROXY_HOST: '0.0.0.0' }, warnings: UNUSED },
      { why: 'a port the socket makes pointless', env: { ...socket, PROXY_PORT: '9000' }, warnings: UNUSED }
    ])
  })

  t.test('PROXY_ALLOWED_HOSTS', async (t) => {
    const HOSTS = ['PROXY_ALLOWED_HOSTS must be * or a comma list of host names and IP addresses, without ports']
    table(t, [
      {
        why: 'trimmed, lower-cased, IPv6 unbracketed, each once, a trailing comma ignored',
        env: { PROXY_ALLOWED_HOSTS: ' roecny-proxy, PROXY.Internal.example ,[fd00::7],10.0.0.7,roecny-proxy,' },
        want: { allowedHosts: ['roecny-proxy', 'proxy.internal.example', 'fd00::7', '10.0.0.7'] }
      },
      { why: 'any host', env: { PROXY_ALLOWED_HOSTS: '*' }, want: { allowedHosts: ['*'] } },
      { why: '* takes in every other name', env: { PROXY_ALLOWED_HOSTS: 'roecny-proxy, *' }, want: { allowedHosts: ['*'] } },
      { why: 'a port', env: { PROXY_ALLOWED_HOSTS: 'roecny-proxy:8080' }, problems: HOSTS },
      { why: 'a URL', env: { PROXY_ALLOWED_HOSTS: 'http://roecny-proxy' }, problems: HOSTS },
      { why: 'a space', env: { PROXY_ALLOWED_HOSTS: 'two words' }, problems: HOSTS },
      { why: 'nothing between the commas', env: { PROXY_ALLOWED_HOSTS: ',' }, problems: HOSTS },
      { why: 'an IPv6 address with a port', env: { PROXY_ALLOWED_HOSTS: '[::1]:8080' }, problems: HOSTS },
      { why: 'no wildcard within a name', env: { PROXY_ALLOWED_HOSTS: '*.example' }, problems: HOSTS }
    ])
  })

  t.test('PROXY_CORS_ORIGINS', async (t) => {
    const ORIGINS = ['PROXY_CORS_ORIGINS must be a comma list of origins such as https://app.example (scheme://host[:port], no path; * and null are not accepted)']
    table(t, [
      {
        why: 'trimmed, lower-cased, the default port and a bare slash dropped, each once',
        env: { PROXY_CORS_ORIGINS: 'http://localhost:3000, HTTPS://App.Example:443/, https://app.example, http://[::1]:5173' },
        want: { corsOrigins: ['http://localhost:3000', 'https://app.example', 'http://[::1]:5173'] }
      },
      { why: 'any origin: credentials for everyone', env: { PROXY_CORS_ORIGINS: '*' }, problems: ORIGINS },
      { why: 'the opaque origin of files and sandboxes', env: { PROXY_CORS_ORIGINS: 'null' }, problems: ORIGINS },
      { why: 'no scheme', env: { PROXY_CORS_ORIGINS: 'localhost:3000' }, problems: ORIGINS },
      { why: 'a path', env: { PROXY_CORS_ORIGINS: 'https://app.example/app' }, problems: ORIGINS },
      { why: 'a query', env: { PROXY_CORS_ORIGINS: 'https://app.example?x=1' }, problems: ORIGINS },
      { why: 'a fragment', env: { PROXY_CORS_ORIGINS: 'https://app.example#x' }, problems: ORIGINS },
      { why: 'another scheme', env: { PROXY_CORS_ORIGINS: 'ftp://app.example' }, problems: ORIGINS },
      { why: 'a user', env: { PROXY_CORS_ORIGINS: 'https://user@app.example' }, problems: ORIGINS },
      { why: 'a bare host', env: { PROXY_CORS_ORIGINS: 'app.example' }, problems: ORIGINS },
      { why: 'nothing between the commas', env: { PROXY_CORS_ORIGINS: ',' }, problems: ORIGINS }
    ])
  })

  t.test('PROXY_ALLOW_METHODS', async (t) => {
    const METHODS = ['PROXY_ALLOW_METHODS must be a comma list of HTTP methods such as GET,HEAD']
    table(t, [
      { why: 'trimmed, upper-cased, each once', env: { PROXY_ALLOW_METHODS: 'get, head ,GET' }, want: { allowMethods: ['GET', 'HEAD'] } },
      { why: 'a method Node knows beyond the common ones', env: { PROXY_ALLOW_METHODS: 'PROPFIND' }, want: { allowMethods: ['PROPFIND'] } },
      { why: 'a method Node does not parse', env: { PROXY_ALLOW_METHODS: 'FETCH' }, problems: METHODS },
      { why: 'a semicolon is no separator', env: { PROXY_ALLOW_METHODS: 'GET;HEAD' }, problems: METHODS },
      { why: 'a space is no separator', env: { PROXY_ALLOW_METHODS: 'GET HEAD' }, problems: METHODS },
      { why: 'nothing between the commas', env: { PROXY_ALLOW_METHODS: ',' }, problems: METHODS }
    ])
  })

  t.test('PROXY_ALLOW_PATHS and PROXY_DENY_PATHS', async (t) => {
    table(t, [{
      why: 'trimmed, doubled and trailing slashes dropped, each once',
      env: { PROXY_ALLOW_PATHS: '/api/v1/balances/**, /api//v1/x/, /, /api/v1/*/status, /api/v1/x', PROXY_DENY_PATHS: '/api/v1/balances/secret' },
      want: { allowPaths: ['/api/v1/balances/**', '/api/v1/x', '/', '/api/v1/*/status'], denyPaths: ['/api/v1/balances/secret'] }
    }])
    const refused: Array<[string, string]> = [
      ['api/v1', 'not starting with /'],
      ['/api/../x', 'a .. segment'],
      ['/api/./x', 'a . segment'],
      ['/a?b', 'a query'],
      ['/a#b', 'a fragment'],
      ['/a%2Fb', 'an escaped character'],
      ['/a\\b', 'a backslash'],
      ['/a/**b', '** is a whole segment'],
      ['/a b', 'a space'],
      ['/café', 'a character beyond ASCII'],
      [',', 'nothing between the commas']
    ]
    for (const name of ['PROXY_ALLOW_PATHS', 'PROXY_DENY_PATHS']) {
      const problems = [`${name} must be a comma list of paths starting with / (* matches within one segment, ** any number of segments)`]
      table(t, refused.map(([raw, why]) => ({ why, env: { [name]: raw }, problems })))
    }
  })

  t.test('PROXY_MAX_BODY_BYTES', async (t) => {
    const BYTES = ['PROXY_MAX_BODY_BYTES must be an integer from 0 to 9007199254740991']
    table(t, [
      { why: '0: no request may carry a body', env: { PROXY_MAX_BODY_BYTES: '0' }, want: { maxBodyBytes: 0 } },
      { why: '10 MiB', env: { PROXY_MAX_BODY_BYTES: '10485760' }, want: { maxBodyBytes: 10485760 } },
      { why: 'negative', env: { PROXY_MAX_BODY_BYTES: '-1' }, problems: BYTES },
      { why: 'not an integer', env: { PROXY_MAX_BODY_BYTES: '1.5' }, problems: BYTES },
      { why: 'words', env: { PROXY_MAX_BODY_BYTES: 'lots' }, problems: BYTES },
      { why: 'beyond the integers a double holds exactly', env: { PROXY_MAX_BODY_BYTES: '9007199254740992' }, problems: BYTES },
      { why: 'not finite', env: { PROXY_MAX_BODY_BYTES: 'Infinity' }, problems: BYTES }
    ])
  })

  t.test('ROECNY_CA_FILE', async (t) => {
    const bundle = `${rootCertificates[0] as string}\n${rootCertificates[1] as string}\n`
    const dir = t.testdir({
      bundle,
      empty: '',
      text: 'not a certificate',
      broken: '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n',
      huge: 'x'.repeat(1024 * 1024 + 1),
      folder: {}
    })
    chmodSync(join(dir, 'bundle'), 0o644)
    const PEM = ['ROECNY_CA_FILE must hold PEM certificates (-----BEGIN CERTIFICATE-----)']
    table(t, [
      { why: 'a CA bundle is no secret: any mode will do', env: { ROECNY_CA_FILE: join(dir, 'bundle') }, want: { upstreamCa: `${rootCertificates[0] as string}\n${rootCertificates[1] as string}` }, warnings: [] },
      { why: 'no PEM block', env: { ROECNY_CA_FILE: join(dir, 'text') }, problems: PEM },
      { why: 'a PEM block that is no certificate', env: { ROECNY_CA_FILE: join(dir, 'broken') }, problems: PEM },
      { why: 'an empty file', env: { ROECNY_CA_FILE: join(dir, 'empty') }, problems: ['ROECNY_CA_FILE names an empty file'] },
      { why: 'no such file', env: { ROECNY_CA_FILE: join(dir, 'missing') }, problems: ['ROECNY_CA_FILE cannot be read (ENOENT)'] },
      { why: 'a directory', env: { ROECNY_CA_FILE: join(dir, 'folder') }, problems: ['ROECNY_CA_FILE must name a regular file'] },
      { why: 'over 1 MiB', env: { ROECNY_CA_FILE: join(dir, 'huge') }, problems: ['ROECNY_CA_FILE names a file larger than 1 MiB'] }
    ])
  })
})

t.test('file secrets are listed for re-reading; SECRETS_POLL_MS', async (t) => {
  const bundle = `${rootCertificates[0] as string}\n`
  const dir = t.testdir({ id: CLIENT_ID, key: API_KEY, access: 'access-key-0123456789abcdef', ca: bundle })
  for (const name of ['id', 'key', 'access']) chmodSync(join(dir, name), 0o600)
  const config = loadConfig({
    ROECNY_BASE_URL: BASE.ROECNY_BASE_URL,
    ROECNY_CLIENT_ID_FILE: join(dir, 'id'),
    ROECNY_API_KEY_FILE: join(dir, 'key'),
    PROXY_ACCESS_KEY_FILE: join(dir, 'access'),
    ROECNY_CA_FILE: join(dir, 'ca'),
    SECRETS_POLL_MS: '0'
  })
  t.same(config.secretFiles, {
    ROECNY_CLIENT_ID_FILE: join(dir, 'id'),
    ROECNY_API_KEY_FILE: join(dir, 'key'),
    PROXY_ACCESS_KEY_FILE: join(dir, 'access'),
    ROECNY_CA_FILE: join(dir, 'ca')
  })
  t.ok(Object.isFrozen(config.secretFiles))
  t.equal(config.secretsPollMs, 0, '0: file events and SIGHUP only')
  const POLL = ['SECRETS_POLL_MS must be an integer from 0 to 2147483647']
  table(t, [
    { why: 'values from the environment are not listed', env: { ROECNY_API_KEY: undefined, ROECNY_API_KEY_FILE: join(dir, 'key') }, want: { secretFiles: { ROECNY_API_KEY_FILE: join(dir, 'key') } } },
    { why: 'a poll a minute', env: { SECRETS_POLL_MS: '60000' }, want: { secretsPollMs: 60000 } },
    { why: 'negative', env: { SECRETS_POLL_MS: '-1' }, problems: POLL },
    { why: 'not an integer', env: { SECRETS_POLL_MS: '1.5' }, problems: POLL },
    { why: 'words', env: { SECRETS_POLL_MS: 'often' }, problems: POLL },
    { why: 'beyond what a Node timer keeps', env: { SECRETS_POLL_MS: '2147483648' }, problems: POLL }
  ])
})

t.test('several problems are reported together', async (t) => {
  table(t, [{
    why: 'each bad variable once, in one error',
    env: {
      ROECNY_BASE_URL: 'http://api.roecny.example',
      ROECNY_API_KEY: API_KEY,
      ROECNY_API_KEY_FILE: '/run/secrets/key',
      PROXY_PORT: 'eighty',
      TOKEN_REFRESH_RATIO: '2',
      LOG_LEVEL: 'loud',
      PROXY_HOST: 'not a host'
    },
    problems: [
      'PROXY_PORT must be an integer from 0 to 65535',
      'TOKEN_REFRESH_RATIO must be a number from 0.5 to 0.95',
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
      'ROECNY_CLIENT_ID or ROECNY_CLIENT_ID_FILE is required',
      'ROECNY_API_KEY and ROECNY_API_KEY_FILE are both set; set only one',
      SCHEME,
      'PROXY_HOST must be an IP address or a host name'
    ]
  }], { base: {} })
})

t.test('the URL rules use ROECNY_ALLOW_INSECURE_HTTP even when another variable is bad', async (t) => {
  table(t, [{
    why: 'a bad port does not hide the switch from the URL rules',
    env: { ROECNY_BASE_URL: 'http://api.roecny.example', ROECNY_ALLOW_INSECURE_HTTP: 'true', PROXY_PORT: 'x' },
    problems: ['PROXY_PORT must be an integer from 0 to 65535']
  }])
})

t.test('no problem line carries a secret', async (t) => {
  const clientId = 'cid\u0001SECRET-CLIENT-ID'
  const apiKey = 'SECRET-API-KEY\n'
  const dir = t.testdir({ key: 'SECRET-FILE-KEY\u0000' })
  const cases: Array<{ why: string, env: Env }> = [
    { why: 'values that cannot be headers', env: { ...BASE, ROECNY_CLIENT_ID: clientId, ROECNY_API_KEY: `${apiKey}x` } },
    { why: 'a file that cannot be a header, and a secret where a number belongs', env: { ...BASE, ROECNY_API_KEY: undefined, ROECNY_API_KEY_FILE: join(dir, 'key'), PROXY_PORT: 'SECRET-API-KEY' } },
    { why: 'a value and a file for one secret, and a bad file for the other', env: { ...BASE, ROECNY_API_KEY_FILE: join(dir, 'key'), ROECNY_CLIENT_ID_FILE: join(dir, 'key') } }
  ]
  for (const { why, env } of cases) {
    let error: unknown
    try {
      loadConfig(env)
    } catch (err) {
      error = err
    }
    t.type(error, ConfigError, why)
    const text = `${String(error)}\n${(error as ConfigError).problems.join('\n')}`
    t.notOk(/SECRET/.test(text), `${why}: ${text}`)
  }
})

t.test('ConfigError', async (t) => {
  const error = new ConfigError(['A is bad', 'B is bad'])
  t.equal(error.name, 'ConfigError')
  t.equal(error.message, 'invalid configuration: A is bad; B is bad')
  t.same(error.problems, ['A is bad', 'B is bad'])
  t.type(error, Error)
})

t.test('loadMockConfig needs no Roecny variable', async (t) => {
  t.ok(Object.isFrozen(loadMockConfig({})))
  table(t, [
    { why: 'the defaults', env: {}, want: { host: '127.0.0.1', port: 8081, faultRoutes: false } },
    { why: 'every variable of its own; a Roecny one is not even read', env: { MOCK_HOST: '::1', MOCK_PORT: '0', MOCK_FAULT_ROUTES: 'true', ROECNY_BASE_URL: 'ftp://ignored' }, want: { host: '::1', port: 0, faultRoutes: true } },
    {
      why: 'both bad, both reported',
      env: { MOCK_HOST: 'bad host', MOCK_PORT: '70000' },
      problems: ['MOCK_PORT must be an integer from 0 to 65535', 'MOCK_HOST must be an IP address or a host name']
    }
  ], { base: {}, load: loadMockConfig })
  t.same(Object.keys(loadMockConfig({})).sort(), ['faultRoutes', 'host', 'port'], 'nothing else')
})

t.test('config.example.env is a working demo configuration that documents every variable', async (t) => {
  const text = readFileSync(new URL('../config.example.env', import.meta.url), 'utf8')
  const config = loadConfig(parseEnv(text))
  t.match(config, { baseUrl: 'http://127.0.0.1:8081', clientId: 'demo-client', apiKey: 'demo-key' })
  for (const name of [
    'ROECNY_BASE_URL', 'ROECNY_ALLOW_INSECURE_HTTP', 'ROECNY_CLIENT_ID', 'ROECNY_CLIENT_ID_FILE', 'ROECNY_API_KEY',
    'ROECNY_API_KEY_FILE', 'ROECNY_SCOPE', 'ROECNY_LOGIN_AS', 'PROXY_HOST', 'PROXY_PORT', 'TOKEN_REFRESH_RATIO',
    'LOGIN_TIMEOUT_MS', 'UPSTREAM_TIMEOUT_MS', 'SHUTDOWN_DELAY_MS', 'SHUTDOWN_TIMEOUT_MS', 'LOG_LEVEL', 'MOCK_HOST', 'MOCK_PORT',
    'ADMIN_HOST', 'ADMIN_PORT', 'ROECNY_CA_FILE', 'PROXY_SOCKET', 'PROXY_SOCKET_MODE', 'PROXY_ACCESS_KEY', 'PROXY_ACCESS_KEY_FILE',
    'PROXY_ALLOW_UNAUTHENTICATED_REMOTE', 'PROXY_ALLOWED_HOSTS', 'PROXY_CORS_ORIGINS', 'PROXY_ALLOW_METHODS', 'PROXY_ALLOW_PATHS',
    'PROXY_DENY_PATHS', 'PROXY_MAX_BODY_BYTES', 'PROXY_HEADERS_TIMEOUT_MS', 'PROXY_REQUEST_TIMEOUT_MS',
    'PROXY_KEEP_ALIVE_TIMEOUT_MS', 'PROXY_MAX_CONNECTIONS', 'UPSTREAM_MAX_IN_FLIGHT', 'UPSTREAM_RATE_LIMIT', 'UPSTREAM_RATE_BURST',
    'UPSTREAM_QUEUE_TIMEOUT_MS', 'UPSTREAM_QUEUE_MAX', 'SECRETS_POLL_MS'
  ]) {
    t.match(text, new RegExp(`^#? ?${name}=`, 'm'), name)
  }
})
