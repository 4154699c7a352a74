// Configuration: every variable's defaults, its bad values with the exact message, and secrets never echoed.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { rootCertificates } from 'node:tls'
import { parseEnv } from 'node:util'
import t from 'tap'
import { ConfigError, loadConfig, loadMockConfig } from '../src/config.js'

type Env = Record<string, string | undefined>

const CLIENT_ID = 'client-7f3a9c'
const API_KEY = 'key-s3cr3t-91b2e4d8'
const BASE: Env = { ROECNY_BASE_URL: 'https://api.roecny.example', ROECNY_CLIENT_ID: CLIENT_ID, ROECNY_API_KEY: API_KEY }

const SCHEME = 'ROECNY_BASE_URL must be an https:// URL (http:// only for loopback hosts or with ROECNY_ALLOW_INSECURE_HTTP=true)'

/** The problems loadConfig reports for `env`, failing the test when it accepts it. */
function problemsOf (env: Env, load: (env: Env) => unknown = loadConfig): string[] {
  try {
    load(env)
  } catch (err) {
    // A module loaded through t.mockImport has its own ConfigError class: compare by name.
    if ((err as Error).name === 'ConfigError') return (err as ConfigError).problems
    throw err
  }
  throw new Error('configuration was accepted')
}

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
  const config = loadConfig({
    ...BASE,
    ROECNY_SCOPE: 'payments:read',
    ROECNY_LOGIN_AS: 'sub-account-1',
    PROXY_HOST: '0.0.0.0',
    PROXY_PORT: '9000',
    PROXY_ACCESS_KEY: 'access-key-0123456789abcdef',
    PROXY_ALLOWED_HOSTS: 'roecny-proxy, 10.0.0.7',
    PROXY_CORS_ORIGINS: 'http://localhost:3000',
    PROXY_ALLOW_METHODS: 'GET,HEAD',
    PROXY_ALLOW_PATHS: '/api/v1/**',
    PROXY_DENY_PATHS: '/api/v1/payments/**',
    PROXY_MAX_BODY_BYTES: '1048576',
    TOKEN_REFRESH_RATIO: '0.8',
    LOGIN_TIMEOUT_MS: '5000',
    UPSTREAM_TIMEOUT_MS: '60000',
    SHUTDOWN_DELAY_MS: '5000',
    SHUTDOWN_TIMEOUT_MS: '10000',
    PROXY_HEADERS_TIMEOUT_MS: '5000',
    PROXY_REQUEST_TIMEOUT_MS: '600000',
    PROXY_KEEP_ALIVE_TIMEOUT_MS: '30000',
    PROXY_MAX_CONNECTIONS: '512',
    UPSTREAM_MAX_IN_FLIGHT: '50',
    UPSTREAM_RATE_LIMIT: '100',
    UPSTREAM_RATE_BURST: '20',
    UPSTREAM_QUEUE_TIMEOUT_MS: '2000',
    UPSTREAM_QUEUE_MAX: '500',
    LOG_LEVEL: 'debug',
    SOMETHING_ELSE: 'ignored'
  })
  t.match(config, {
    scope: 'payments:read',
    loginAs: 'sub-account-1',
    proxyHost: '0.0.0.0',
    proxyPort: 9000,
    accessKeys: ['access-key-0123456789abcdef'],
    allowedHosts: ['roecny-proxy', '10.0.0.7'],
    corsOrigins: ['http://localhost:3000'],
    allowMethods: ['GET', 'HEAD'],
    allowPaths: ['/api/v1/**'],
    denyPaths: ['/api/v1/payments/**'],
    maxBodyBytes: 1048576,
    refreshRatio: 0.8,
    loginTimeoutMs: 5000,
    upstreamTimeoutMs: 60000,
    shutdownDelayMs: 5000,
    shutdownTimeoutMs: 10000,
    headersTimeoutMs: 5000,
    requestTimeoutMs: 600000,
    keepAliveTimeoutMs: 30000,
    maxConnections: 512,
    upstreamMaxInFlight: 50,
    upstreamRateLimit: 100,
    upstreamRateBurst: 20,
    upstreamQueueTimeoutMs: 2000,
    upstreamQueueMax: 500,
    logLevel: 'debug'
  })
  t.notOk('SOMETHING_ELSE' in config)
})

t.test('values are trimmed; empty or blank values count as unset', async (t) => {
  const config = loadConfig({ ...BASE, ROECNY_CLIENT_ID: `  ${CLIENT_ID}\n`, PROXY_PORT: ' 9001 ', ROECNY_SCOPE: '', ROECNY_LOGIN_AS: '  ', LOG_LEVEL: 'WARN', PROXY_HOST: '' })
  t.equal(config.clientId, CLIENT_ID)
  t.equal(config.proxyPort, 9001)
  t.equal(config.scope, undefined)
  t.equal(config.loginAs, undefined)
  t.equal(config.logLevel, 'warn', 'the level is case-insensitive')
  t.equal(config.proxyHost, '127.0.0.1')
  t.same(problemsOf({ ...BASE, ROECNY_BASE_URL: ' ' }), ['ROECNY_BASE_URL is required'])
})

t.test('ROECNY_BASE_URL', async (t) => {
  t.test('origin, prefix and trailing slash', async (t) => {
    const cases: Array<[string, string, string, string]> = [
      ['https://api.roecny.example/', 'https://api.roecny.example', 'https://api.roecny.example', ''],
      ['https://api.roecny.example:8443/gateway/v2/', 'https://api.roecny.example:8443/gateway/v2', 'https://api.roecny.example:8443', '/gateway/v2'],
      ['HTTPS://API.Roecny.example:443/prefix//', 'https://api.roecny.example/prefix', 'https://api.roecny.example', '/prefix'],
      ['http://localhost:8081', 'http://localhost:8081', 'http://localhost:8081', ''],
      ['http://127.0.0.1:8081/mock', 'http://127.0.0.1:8081/mock', 'http://127.0.0.1:8081', '/mock'],
      ['http://127.9.8.7', 'http://127.9.8.7', 'http://127.9.8.7', ''],
      ['http://[::1]:8081', 'http://[::1]:8081', 'http://[::1]:8081', '']
    ]
    for (const [raw, baseUrl, upstreamOrigin, upstreamPathPrefix] of cases) {
      t.match(loadConfig({ ...BASE, ROECNY_BASE_URL: raw }), { baseUrl, upstreamOrigin, upstreamPathPrefix }, raw)
    }
  })

  t.test('http:// to another host needs ROECNY_ALLOW_INSECURE_HTTP=true', async (t) => {
    for (const raw of ['http://api.roecny.example', 'http://10.0.0.5:8080', 'http://[::2]', 'http://128.0.0.1', 'http://localhost.evil.example']) {
      t.same(problemsOf({ ...BASE, ROECNY_BASE_URL: raw }), [SCHEME], raw)
    }
    t.same(problemsOf({ ...BASE, ROECNY_BASE_URL: 'http://api.roecny.example', ROECNY_ALLOW_INSECURE_HTTP: 'false' }), [SCHEME])
    const config = loadConfig({ ...BASE, ROECNY_BASE_URL: 'http://api.roecny.example/v1/', ROECNY_ALLOW_INSECURE_HTTP: 'true' })
    t.equal(config.baseUrl, 'http://api.roecny.example/v1')
  })

  t.test('other schemes and non-URLs', async (t) => {
    for (const raw of ['ftp://api.roecny.example', 'api.roecny.example', 'https:api.roecny.example', 'https://', 'https://exa mple.com', 'file:///etc/passwd', 'ws://localhost']) {
      t.same(problemsOf({ ...BASE, ROECNY_BASE_URL: raw }), [SCHEME], raw)
    }
  })

  t.test('credentials, query and fragment', async (t) => {
    t.same(problemsOf({ ...BASE, ROECNY_BASE_URL: 'https://user:pass@api.roecny.example' }), ['ROECNY_BASE_URL must not contain credentials (user:password@)'])
    t.same(problemsOf({ ...BASE, ROECNY_BASE_URL: 'https://user@api.roecny.example' }), ['ROECNY_BASE_URL must not contain credentials (user:password@)'])
    t.same(problemsOf({ ...BASE, ROECNY_BASE_URL: 'https://@api.roecny.example' }), ['ROECNY_BASE_URL must not contain credentials (user:password@)'])
    t.same(problemsOf({ ...BASE, ROECNY_BASE_URL: 'https://api.roecny.example/v1?x=1' }), ['ROECNY_BASE_URL must not contain a query or a fragment'])
    t.same(problemsOf({ ...BASE, ROECNY_BASE_URL: 'https://api.roecny.example/?' }), ['ROECNY_BASE_URL must not contain a query or a fragment'])
    t.same(problemsOf({ ...BASE, ROECNY_BASE_URL: 'https://api.roecny.example#top' }), ['ROECNY_BASE_URL must not contain a query or a fragment'])
    const problems = problemsOf({ ...BASE, ROECNY_BASE_URL: 'http://admin:hunter2@api.roecny.example/?q#f' })
    t.same(problems, [
      SCHEME,
      'ROECNY_BASE_URL must not contain credentials (user:password@)',
      'ROECNY_BASE_URL must not contain a query or a fragment'
    ])
    t.notOk(problems.join('\n').includes('hunter2'), 'the URL password is not echoed')
  })

  t.test('missing', async (t) => {
    t.same(problemsOf({ ROECNY_CLIENT_ID: CLIENT_ID, ROECNY_API_KEY: API_KEY }), ['ROECNY_BASE_URL is required'])
  })
})

t.test('ROECNY_ALLOW_INSECURE_HTTP must be a boolean', async (t) => {
  for (const value of ['yes', '1', 'on']) {
    t.same(problemsOf({ ...BASE, ROECNY_ALLOW_INSECURE_HTTP: value }), ['ROECNY_ALLOW_INSECURE_HTTP must be true or false'], value)
  }
})

for (const name of ['ROECNY_CLIENT_ID', 'ROECNY_API_KEY']) {
  const secretValue = name === 'ROECNY_API_KEY' ? API_KEY : CLIENT_ID
  const field = name === 'ROECNY_API_KEY' ? 'apiKey' : 'clientId'
  const fileName = `${name}_FILE`

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
      const config = loadConfig({ ...without, [fileName]: join(dir, 'good') })
      t.equal(config[field], secretValue)
    })

    t.test('one of the two is required', async (t) => {
      t.same(problemsOf(without), [`${name} or ${fileName} is required`])
    })

    t.test('not both', async (t) => {
      const problems = problemsOf({ ...BASE, [fileName]: join(dir, 'good') })
      t.same(problems, [`${name} and ${fileName} are both set; set only one`])
    })

    t.test('a file that cannot be used', async (t) => {
      t.same(problemsOf({ ...without, [fileName]: join(dir, 'missing') }), [`${fileName} cannot be read (ENOENT)`])
      t.same(problemsOf({ ...without, [fileName]: join(dir, 'empty') }), [`${fileName} names an empty file`])
      t.same(problemsOf({ ...without, [fileName]: join(dir, 'blank') }), [`${fileName} names an empty file`])
      t.same(problemsOf({ ...without, [fileName]: join(dir, 'folder') }), [`${fileName} must name a regular file`])
      t.same(problemsOf({ ...without, [fileName]: join(dir, 'huge') }), [`${fileName} names a file larger than 64 KiB`])
      t.same(problemsOf({ ...without, [fileName]: join(dir, 'control') }), [`${fileName} must not contain control characters or characters beyond Latin-1`])
    })

    t.test('an unreadable file', { skip: process.getuid?.() === 0 ? 'root reads every file' : false }, async (t) => {
      chmodSync(join(dir, 'unreadable'), 0o000)
      t.same(problemsOf({ ...without, [fileName]: join(dir, 'unreadable') }), [`${fileName} cannot be read (EACCES)`])
    })

    t.test('a value that cannot be a header', async (t) => {
      for (const value of [`${secretValue}\r\nx-injected: 1`, `${secretValue}\u0007`, `${secretValue}€`]) {
        const problems = problemsOf({ ...BASE, [name]: value })
        t.same(problems, [`${name} must not contain control characters or characters beyond Latin-1`])
      }
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
  t.same(problemsOf({ ...BASE, ROECNY_API_KEY: undefined, ROECNY_API_KEY_FILE: join(dir, 'key') }, load), ['ROECNY_API_KEY_FILE cannot be read (EACCES)'])
})

t.test('ROECNY_SCOPE and ROECNY_LOGIN_AS must be header values', async (t) => {
  t.same(problemsOf({ ...BASE, ROECNY_SCOPE: 'read\nx-evil: 1', ROECNY_LOGIN_AS: 'a\u0000b' }), [
    'ROECNY_SCOPE must not contain control characters or characters beyond Latin-1',
    'ROECNY_LOGIN_AS must not contain control characters or characters beyond Latin-1'
  ])
})

t.test('numbers', async (t) => {
  const cases: Array<[string, string[], string[], string]> = [
    ['PROXY_PORT', ['-1', '65536', '80.5', 'http', '0x', '1e9', '-Infinity', '1e999'], ['0', '65535'], 'must be an integer from 0 to 65535'],
    ['TOKEN_REFRESH_RATIO', ['0.49', '0.951', '1', 'NaN', 'Infinity', 'two thirds'], ['0.5', '0.95'], 'must be a number from 0.5 to 0.95'],
    ['LOGIN_TIMEOUT_MS', ['0', '-5', '1.5', '2147483648', 'ten'], ['1', '2147483647'], 'must be an integer from 1 to 2147483647'],
    ['UPSTREAM_TIMEOUT_MS', ['0', '2147483648', 'x'], ['1', '2147483647'], 'must be an integer from 1 to 2147483647'],
    ['SHUTDOWN_DELAY_MS', ['-1', '0.5', '2147483648'], ['0', '2147483647'], 'must be an integer from 0 to 2147483647'],
    ['SHUTDOWN_TIMEOUT_MS', ['-1', 'soon', '2147483648'], ['0', '2147483647'], 'must be an integer from 0 to 2147483647'],
    // Up to the request timeout's 5 min default; beyond it only with a longer one (below).
    ['PROXY_HEADERS_TIMEOUT_MS', ['0', '-1', '1.5', '2147483648', 'soon'], ['1', '300000'], 'must be an integer from 1 to 2147483647'],
    ['PROXY_REQUEST_TIMEOUT_MS', ['-1', '2.5', '2147483648', 'never'], ['0', '2147483647'], 'must be an integer from 0 to 2147483647'],
    ['PROXY_KEEP_ALIVE_TIMEOUT_MS', ['0', '-1', '2147483648', 'long'], ['1', '2147483647'], 'must be an integer from 1 to 2147483647'],
    ['PROXY_MAX_CONNECTIONS', ['0', '-1', '10.5', '1000001', 'many', 'Infinity'], ['1', '1000000'], 'must be an integer from 1 to 1000000'],
    ['UPSTREAM_MAX_IN_FLIGHT', ['-1', '2.5', '1000001', 'many'], ['0', '1000000'], 'must be an integer from 0 to 1000000'],
    ['UPSTREAM_RATE_LIMIT', ['-1', '1000001', 'Infinity', 'fast'], ['0', '0.5', '1000000'], 'must be a number from 0 to 1000000'],
    ['UPSTREAM_QUEUE_TIMEOUT_MS', ['-1', '1.5', '2147483648'], ['0', '2147483647'], 'must be an integer from 0 to 2147483647'],
    ['UPSTREAM_QUEUE_MAX', ['-1', '1.5', '1000001'], ['0', '1000000'], 'must be an integer from 0 to 1000000']
  ]
  for (const [name, bad, good, message] of cases) {
    for (const value of bad) t.same(problemsOf({ ...BASE, [name]: value }), [`${name} ${message}`], `${name}=${value}`)
    for (const value of good) t.doesNotThrow(() => loadConfig({ ...BASE, [name]: value }), `${name}=${value}`)
  }
})

t.test('PROXY_REQUEST_TIMEOUT_MS is off (0) or at least PROXY_HEADERS_TIMEOUT_MS', async (t) => {
  t.equal(loadConfig({ ...BASE, PROXY_HEADERS_TIMEOUT_MS: '5000', PROXY_REQUEST_TIMEOUT_MS: '0' }).requestTimeoutMs, 0)
  t.equal(loadConfig({ ...BASE, PROXY_HEADERS_TIMEOUT_MS: '5000', PROXY_REQUEST_TIMEOUT_MS: '5000' }).requestTimeoutMs, 5000)
  t.equal(loadConfig({ ...BASE, PROXY_HEADERS_TIMEOUT_MS: '2147483647', PROXY_REQUEST_TIMEOUT_MS: '0' }).headersTimeoutMs, 2147483647)
  // Node would refuse to create the listener: a request cannot end before its headers.
  t.same(problemsOf({ ...BASE, PROXY_REQUEST_TIMEOUT_MS: '9999' }),
    ['PROXY_REQUEST_TIMEOUT_MS must be 0 (no limit) or at least PROXY_HEADERS_TIMEOUT_MS'], 'below the 10 s default of the header timeout')
  t.same(problemsOf({ ...BASE, PROXY_HEADERS_TIMEOUT_MS: '2000', PROXY_REQUEST_TIMEOUT_MS: '1000' }),
    ['PROXY_REQUEST_TIMEOUT_MS must be 0 (no limit) or at least PROXY_HEADERS_TIMEOUT_MS'])
  t.same(problemsOf({ ...BASE, PROXY_HEADERS_TIMEOUT_MS: 'x', PROXY_REQUEST_TIMEOUT_MS: '1000' }),
    ['PROXY_HEADERS_TIMEOUT_MS must be an integer from 1 to 2147483647'], 'the comparison waits for valid numbers')
})

t.test('the upstream limits: the burst follows the rate; settings that would do nothing are reported', async (t) => {
  t.match(loadConfig({ ...BASE, UPSTREAM_RATE_LIMIT: '20' }), { upstreamRateLimit: 20, upstreamRateBurst: 20, warnings: [] }, 'the burst defaults to the limit')
  t.match(loadConfig({ ...BASE, UPSTREAM_RATE_LIMIT: '2.5' }), { upstreamRateBurst: 3 }, 'rounded up')
  t.match(loadConfig({ ...BASE, UPSTREAM_RATE_LIMIT: '0.2' }), { upstreamRateBurst: 1 }, 'at least one')
  t.match(loadConfig({ ...BASE, UPSTREAM_RATE_LIMIT: '10', UPSTREAM_RATE_BURST: '1' }), { upstreamRateLimit: 10, upstreamRateBurst: 1 })
  t.match(loadConfig({ ...BASE, UPSTREAM_MAX_IN_FLIGHT: '10', UPSTREAM_QUEUE_MAX: '0', UPSTREAM_QUEUE_TIMEOUT_MS: '0' }),
    { upstreamMaxInFlight: 10, upstreamRateBurst: 0, upstreamQueueMax: 0, upstreamQueueTimeoutMs: 0, warnings: [] }, '0: refuse at once instead of waiting')
  for (const value of ['0', '1.5', '1000001']) {
    t.same(problemsOf({ ...BASE, UPSTREAM_RATE_LIMIT: '10', UPSTREAM_RATE_BURST: value }), ['UPSTREAM_RATE_BURST must be an integer from 1 to 1000000'], `burst ${value}`)
  }
  const burstAlone = 'UPSTREAM_RATE_BURST is set but UPSTREAM_RATE_LIMIT is not; set UPSTREAM_RATE_LIMIT to limit the rate'
  t.same(problemsOf({ ...BASE, UPSTREAM_RATE_BURST: '10' }), [burstAlone])
  t.same(problemsOf({ ...BASE, UPSTREAM_RATE_BURST: '10', UPSTREAM_RATE_LIMIT: '0' }), [burstAlone])
  t.same(problemsOf({ ...BASE, UPSTREAM_RATE_BURST: '10', UPSTREAM_MAX_IN_FLIGHT: 'x' }), ['UPSTREAM_MAX_IN_FLIGHT must be an integer from 0 to 1000000', burstAlone], 'reported with the other problems')
  t.same(loadConfig({ ...BASE, UPSTREAM_QUEUE_MAX: '10' }).warnings,
    ['UPSTREAM_QUEUE_MAX is not used: neither UPSTREAM_MAX_IN_FLIGHT nor UPSTREAM_RATE_LIMIT is set'])
  t.same(loadConfig({ ...BASE, UPSTREAM_QUEUE_TIMEOUT_MS: '10', UPSTREAM_QUEUE_MAX: '10', UPSTREAM_MAX_IN_FLIGHT: '0' }).warnings,
    ['UPSTREAM_QUEUE_TIMEOUT_MS and UPSTREAM_QUEUE_MAX are not used: neither UPSTREAM_MAX_IN_FLIGHT nor UPSTREAM_RATE_LIMIT is set'])
})

t.test('LOG_LEVEL', async (t) => {
  for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) {
    t.equal(loadConfig({ ...BASE, LOG_LEVEL: level }).logLevel, level)
  }
  t.same(problemsOf({ ...BASE, LOG_LEVEL: 'verbose' }), ['LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent'])
})

t.test('ADMIN_PORT and ADMIN_HOST: the admin listener is off unless ADMIN_PORT is set', async (t) => {
  t.match(loadConfig({ ...BASE, ADMIN_PORT: '9090' }), { adminHost: '127.0.0.1', adminPort: 9090 }, 'loopback by default')
  t.match(loadConfig({ ...BASE, ADMIN_PORT: '0', ADMIN_HOST: '0.0.0.0' }), { adminHost: '0.0.0.0', adminPort: 0 })
  t.match(loadConfig({ ...BASE, ADMIN_PORT: '9090', ADMIN_HOST: '::' }), { adminHost: '::', adminPort: 9090 })
  t.match(loadConfig({ ...BASE, ADMIN_PORT: ' ', ADMIN_HOST: '' }), { adminHost: undefined, adminPort: undefined }, 'blank counts as unset')
  for (const value of ['-1', '65536', '90.5', 'admin']) {
    t.same(problemsOf({ ...BASE, ADMIN_PORT: value }), ['ADMIN_PORT must be an integer from 0 to 65535'], value)
  }
  t.same(problemsOf({ ...BASE, ADMIN_PORT: '9090', ADMIN_HOST: 'not a host' }), ['ADMIN_HOST must be an IP address or a host name'])
  t.same(problemsOf({ ...BASE, ADMIN_HOST: '0.0.0.0' }), ['ADMIN_HOST is set but ADMIN_PORT is not; set ADMIN_PORT to start the admin listener'])
})

t.test('PROXY_HOST', async (t) => {
  for (const host of ['localhost', '::', '::1', '10.1.2.3', 'proxy.internal', 'my-host']) {
    // Any address but loopback needs an access key (see below).
    t.equal(loadConfig({ ...BASE, PROXY_HOST: host, PROXY_ACCESS_KEY: 'access-key-0123456789abcdef' }).proxyHost, host)
  }
  for (const host of ['[::1]', 'http://localhost', 'two words', '-leading', 'a..b', 'host:8080']) {
    t.same(problemsOf({ ...BASE, PROXY_HOST: host }), ['PROXY_HOST must be an IP address or a host name'], host)
  }
})

t.test('who may call and what is forwarded', async (t) => {
  const ACCESS_KEY = 'access-key-0123456789abcdef'
  const WORLD_READABLE = (name: string, mode: string): string =>
    `${name} names a file that group or others may read (mode ${mode}); let only the proxy's user read it (chmod 600)`

  t.test('PROXY_ACCESS_KEY / PROXY_ACCESS_KEY_FILE: optional, one of them, never echoed', async (t) => {
    const dir = t.testdir({ key: `\n${ACCESS_KEY}\n`, loose: ACCESS_KEY, empty: '', control: `${ACCESS_KEY}\u0000` })
    chmodSync(join(dir, 'key'), 0o600)
    chmodSync(join(dir, 'loose'), 0o644)
    t.same(loadConfig(BASE).accessKeys, [])
    t.same(loadConfig({ ...BASE, PROXY_ACCESS_KEY: ACCESS_KEY }).accessKeys, [ACCESS_KEY])
    const fromFile = loadConfig({ ...BASE, PROXY_ACCESS_KEY_FILE: join(dir, 'key') })
    t.same(fromFile.accessKeys, [ACCESS_KEY])
    t.same(fromFile.secretFiles, { PROXY_ACCESS_KEY_FILE: join(dir, 'key') })
    t.same(fromFile.warnings, [], 'a 0600 file raises no warning')
    t.same(loadConfig({ ...BASE, PROXY_ACCESS_KEY_FILE: join(dir, 'loose') }).warnings, [WORLD_READABLE('PROXY_ACCESS_KEY_FILE', '0644')])
    t.same(problemsOf({ ...BASE, PROXY_ACCESS_KEY: ACCESS_KEY, PROXY_ACCESS_KEY_FILE: join(dir, 'key') }), ['PROXY_ACCESS_KEY and PROXY_ACCESS_KEY_FILE are both set; set only one'])
    t.same(problemsOf({ ...BASE, PROXY_ACCESS_KEY_FILE: join(dir, 'empty') }), ['PROXY_ACCESS_KEY_FILE names an empty file'])
    t.same(problemsOf({ ...BASE, PROXY_ACCESS_KEY_FILE: join(dir, 'missing') }), ['PROXY_ACCESS_KEY_FILE cannot be read (ENOENT)'])
    const control = problemsOf({ ...BASE, PROXY_ACCESS_KEY_FILE: join(dir, 'control') })
    t.same(control, ['PROXY_ACCESS_KEY_FILE must not contain control characters or characters beyond Latin-1'])
    const newline = problemsOf({ ...BASE, PROXY_ACCESS_KEY: `${ACCESS_KEY}\nx` })
    t.same(newline, ['PROXY_ACCESS_KEY must not contain control characters or characters beyond Latin-1'])
    t.notOk([...control, ...newline].join('\n').includes(ACCESS_KEY), 'the key is not echoed')
    t.same(loadConfig({ ...BASE, PROXY_ACCESS_KEY: 'short' }).warnings, ['PROXY_ACCESS_KEY holds fewer than 16 characters; use a long random value (e.g. 32 random bytes, hex-encoded)'])
    const shortFile = join(dir, 'short')
    writeFileSync(shortFile, 'short', { mode: 0o600 })
    t.same(loadConfig({ ...BASE, PROXY_ACCESS_KEY_FILE: shortFile }).warnings, ['PROXY_ACCESS_KEY_FILE holds fewer than 16 characters; use a long random value (e.g. 32 random bytes, hex-encoded)'])
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
    const config = loadConfig({ ...BASE, PROXY_ACCESS_KEY_FILE: join(dir, 'two') })
    t.same(config.accessKeys, [ACCESS_KEY, NEXT_KEY], 'trimmed, in order, each once')
    t.ok(Object.isFrozen(config.accessKeys))
    t.same(config.warnings, [])
    t.same(problemsOf({ ...BASE, PROXY_ACCESS_KEY_FILE: join(dir, 'comments') }), ['PROXY_ACCESS_KEY_FILE holds no key (only blank lines and # comments)'])
    const control = problemsOf({ ...BASE, PROXY_ACCESS_KEY_FILE: join(dir, 'control') })
    t.same(control, ['PROXY_ACCESS_KEY_FILE must not contain control characters or characters beyond Latin-1'])
    t.notOk(control.join('\n').includes(NEXT_KEY))
    t.same(loadConfig({ ...BASE, PROXY_ACCESS_KEY_FILE: join(dir, 'short') }).warnings, ['PROXY_ACCESS_KEY_FILE holds a key of fewer than 16 characters; use a long random value (e.g. 32 random bytes, hex-encoded)'])
    t.same(loadConfig({ ...BASE, PROXY_ACCESS_KEY: `${ACCESS_KEY} ${NEXT_KEY}` }).accessKeys, [`${ACCESS_KEY} ${NEXT_KEY}`], 'PROXY_ACCESS_KEY is always one key')
  })

  t.test('*_FILE secrets that group or others may read raise warnings', async (t) => {
    const dir = t.testdir({ id: CLIENT_ID, key: API_KEY })
    chmodSync(join(dir, 'id'), 0o640)
    chmodSync(join(dir, 'key'), 0o604)
    const config = loadConfig({ ROECNY_BASE_URL: BASE.ROECNY_BASE_URL, ROECNY_CLIENT_ID_FILE: join(dir, 'id'), ROECNY_API_KEY_FILE: join(dir, 'key') })
    t.same(config.warnings, [WORLD_READABLE('ROECNY_CLIENT_ID_FILE', '0640'), WORLD_READABLE('ROECNY_API_KEY_FILE', '0604')])
    t.ok(Object.isFrozen(config.warnings))
    chmodSync(join(dir, 'id'), 0o400)
    chmodSync(join(dir, 'key'), 0o600)
    t.same(loadConfig({ ROECNY_BASE_URL: BASE.ROECNY_BASE_URL, ROECNY_CLIENT_ID_FILE: join(dir, 'id'), ROECNY_API_KEY_FILE: join(dir, 'key') }).warnings, [])
  })

  t.test('a non-loopback PROXY_HOST needs an access key or PROXY_ALLOW_UNAUTHENTICATED_REMOTE=true', async (t) => {
    const REMOTE = 'PROXY_HOST is not a loopback address: set PROXY_ACCESS_KEY or PROXY_ACCESS_KEY_FILE so that only your callers ' +
      'can use the Roecny token (or PROXY_ALLOW_UNAUTHENTICATED_REMOTE=true to let anyone who reaches the port use it)'
    for (const host of ['0.0.0.0', '::', '10.1.2.3', '::ffff:10.0.0.1', 'proxy.internal']) {
      t.same(problemsOf({ ...BASE, PROXY_HOST: host }), [REMOTE], host)
      t.same(problemsOf({ ...BASE, PROXY_HOST: host, PROXY_ALLOW_UNAUTHENTICATED_REMOTE: 'false' }), [REMOTE], host)
    }
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', '::1', '::ffff:127.0.0.1']) {
      t.same(loadConfig({ ...BASE, PROXY_HOST: host }).warnings, [], host)
    }
    const allowed = loadConfig({ ...BASE, PROXY_HOST: '0.0.0.0', PROXY_ALLOW_UNAUTHENTICATED_REMOTE: 'true' })
    t.equal(allowed.allowUnauthenticatedRemote, true)
    t.same(allowed.warnings, ['PROXY_ALLOW_UNAUTHENTICATED_REMOTE=true: the proxy listens on a non-loopback address without an access key; anyone who reaches the port acts as the Roecny account holder'])
    t.same(loadConfig({ ...BASE, PROXY_ALLOW_UNAUTHENTICATED_REMOTE: 'true' }).warnings, [], 'on loopback the switch changes nothing')
    t.same(problemsOf({ ...BASE, PROXY_ALLOW_UNAUTHENTICATED_REMOTE: 'yes' }), ['PROXY_ALLOW_UNAUTHENTICATED_REMOTE must be true or false'])
    t.same(problemsOf({ ...BASE, PROXY_HOST: '0.0.0.0', PROXY_ALLOW_UNAUTHENTICATED_REMOTE: 'yes' }), [
      'PROXY_ALLOW_UNAUTHENTICATED_REMOTE must be true or false',
      REMOTE
    ], 'a bad switch does not open the listener')
  })

  t.test('PROXY_SOCKET and PROXY_SOCKET_MODE', async (t) => {
    t.match(loadConfig({ ...BASE, PROXY_SOCKET: '/run/roecny/proxy.sock' }), { proxySocket: '/run/roecny/proxy.sock', proxySocketMode: 0o660, warnings: [] })
    for (const [raw, mode] of [['0600', 0o600], ['600', 0o600], ['0o640', 0o640], ['0O777', 0o777], ['0000', 0]] as const) {
      t.equal(loadConfig({ ...BASE, PROXY_SOCKET: '/run/p.sock', PROXY_SOCKET_MODE: raw }).proxySocketMode, mode, raw)
    }
    for (const raw of ['0999', '8', 'rw-rw----', '07777', '-1', '0x1b0', '66']) {
      t.same(problemsOf({ ...BASE, PROXY_SOCKET: '/run/p.sock', PROXY_SOCKET_MODE: raw }), ['PROXY_SOCKET_MODE must be an octal file mode such as 0660'], raw)
    }
    t.same(problemsOf({ ...BASE, PROXY_SOCKET_MODE: '0600' }), ['PROXY_SOCKET_MODE is set but PROXY_SOCKET is not; set PROXY_SOCKET to listen on a Unix socket'])
    t.same(problemsOf({ ...BASE, PROXY_SOCKET: `/${'s'.repeat(107)}` }), ['PROXY_SOCKET must be a path of at most 107 bytes (the size of a Unix socket address)'])
    t.doesNotThrow(() => loadConfig({ ...BASE, PROXY_SOCKET: `/${'s'.repeat(106)}` }))
    t.same(loadConfig({ ...BASE, PROXY_SOCKET: '/run/p.sock', PROXY_SOCKET_MODE: '0666' }).warnings, [
      'PROXY_SOCKET_MODE lets every local user connect to the socket and act as the Roecny account holder'
    ])
    t.same(loadConfig({ ...BASE, PROXY_SOCKET: '/run/p.sock', PROXY_HOST: '0.0.0.0' }).warnings, [
      'PROXY_HOST and PROXY_PORT are not used: the proxy listens on PROXY_SOCKET only'
    ], 'no access key is asked for: PROXY_HOST is not used')
    t.same(loadConfig({ ...BASE, PROXY_SOCKET: '/run/p.sock', PROXY_PORT: '9000' }).warnings, ['PROXY_HOST and PROXY_PORT are not used: the proxy listens on PROXY_SOCKET only'])
  })

  t.test('PROXY_ALLOWED_HOSTS', async (t) => {
    t.same(loadConfig({ ...BASE, PROXY_ALLOWED_HOSTS: ' roecny-proxy, PROXY.Internal.example ,[fd00::7],10.0.0.7,roecny-proxy,' }).allowedHosts,
      ['roecny-proxy', 'proxy.internal.example', 'fd00::7', '10.0.0.7'])
    t.same(loadConfig({ ...BASE, PROXY_ALLOWED_HOSTS: '*' }).allowedHosts, ['*'])
    t.same(loadConfig({ ...BASE, PROXY_ALLOWED_HOSTS: 'roecny-proxy, *' }).allowedHosts, ['*'])
    for (const raw of ['roecny-proxy:8080', 'http://roecny-proxy', 'two words', ',', '[::1]:8080', '*.example']) {
      t.same(problemsOf({ ...BASE, PROXY_ALLOWED_HOSTS: raw }), ['PROXY_ALLOWED_HOSTS must be * or a comma list of host names and IP addresses, without ports'], raw)
    }
  })

  t.test('PROXY_CORS_ORIGINS', async (t) => {
    t.same(loadConfig({ ...BASE, PROXY_CORS_ORIGINS: 'http://localhost:3000, HTTPS://App.Example:443/, https://app.example, http://[::1]:5173' }).corsOrigins,
      ['http://localhost:3000', 'https://app.example', 'http://[::1]:5173'])
    const problem = 'PROXY_CORS_ORIGINS must be a comma list of origins such as https://app.example (scheme://host[:port], no path; * and null are not accepted)'
    for (const raw of ['*', 'null', 'localhost:3000', 'https://app.example/app', 'https://app.example?x=1', 'https://app.example#x', 'ftp://app.example', 'https://user@app.example', 'app.example', ',']) {
      t.same(problemsOf({ ...BASE, PROXY_CORS_ORIGINS: raw }), [problem], raw)
    }
  })

  t.test('PROXY_ALLOW_METHODS', async (t) => {
    t.same(loadConfig({ ...BASE, PROXY_ALLOW_METHODS: 'get, head ,GET' }).allowMethods, ['GET', 'HEAD'])
    t.same(loadConfig({ ...BASE, PROXY_ALLOW_METHODS: 'PROPFIND' }).allowMethods, ['PROPFIND'])
    for (const raw of ['FETCH', 'GET;HEAD', 'GET HEAD', ',']) {
      t.same(problemsOf({ ...BASE, PROXY_ALLOW_METHODS: raw }), ['PROXY_ALLOW_METHODS must be a comma list of HTTP methods such as GET,HEAD'], raw)
    }
  })

  t.test('PROXY_ALLOW_PATHS and PROXY_DENY_PATHS', async (t) => {
    const config = loadConfig({ ...BASE, PROXY_ALLOW_PATHS: '/api/v1/balances/**, /api//v1/x/, /, /api/v1/*/status, /api/v1/x', PROXY_DENY_PATHS: '/api/v1/balances/secret' })
    t.same(config.allowPaths, ['/api/v1/balances/**', '/api/v1/x', '/', '/api/v1/*/status'])
    t.same(config.denyPaths, ['/api/v1/balances/secret'])
    for (const name of ['PROXY_ALLOW_PATHS', 'PROXY_DENY_PATHS']) {
      for (const raw of ['api/v1', '/api/../x', '/api/./x', '/a?b', '/a#b', '/a%2Fb', '/a\\b', '/a/**b', '/a b', '/café', ',']) {
        t.same(problemsOf({ ...BASE, [name]: raw }), [`${name} must be a comma list of paths starting with / (* matches within one segment, ** any number of segments)`], `${name}=${raw}`)
      }
    }
  })

  t.test('PROXY_MAX_BODY_BYTES', async (t) => {
    t.equal(loadConfig({ ...BASE, PROXY_MAX_BODY_BYTES: '0' }).maxBodyBytes, 0)
    t.equal(loadConfig({ ...BASE, PROXY_MAX_BODY_BYTES: '10485760' }).maxBodyBytes, 10485760)
    for (const raw of ['-1', '1.5', 'lots', '9007199254740992', 'Infinity']) {
      t.same(problemsOf({ ...BASE, PROXY_MAX_BODY_BYTES: raw }), ['PROXY_MAX_BODY_BYTES must be an integer from 0 to 9007199254740991'], raw)
    }
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
    const config = loadConfig({ ...BASE, ROECNY_CA_FILE: join(dir, 'bundle') })
    t.equal(config.upstreamCa, `${rootCertificates[0] as string}\n${rootCertificates[1] as string}`)
    t.same(config.warnings, [], 'a CA bundle is no secret: any mode will do')
    const problem = 'ROECNY_CA_FILE must hold PEM certificates (-----BEGIN CERTIFICATE-----)'
    t.same(problemsOf({ ...BASE, ROECNY_CA_FILE: join(dir, 'text') }), [problem])
    t.same(problemsOf({ ...BASE, ROECNY_CA_FILE: join(dir, 'broken') }), [problem])
    t.same(problemsOf({ ...BASE, ROECNY_CA_FILE: join(dir, 'empty') }), ['ROECNY_CA_FILE names an empty file'])
    t.same(problemsOf({ ...BASE, ROECNY_CA_FILE: join(dir, 'missing') }), ['ROECNY_CA_FILE cannot be read (ENOENT)'])
    t.same(problemsOf({ ...BASE, ROECNY_CA_FILE: join(dir, 'folder') }), ['ROECNY_CA_FILE must name a regular file'])
    t.same(problemsOf({ ...BASE, ROECNY_CA_FILE: join(dir, 'huge') }), ['ROECNY_CA_FILE names a file larger than 1 MiB'])
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
  t.same(loadConfig({ ...BASE, ROECNY_API_KEY: undefined, ROECNY_API_KEY_FILE: join(dir, 'key') }).secretFiles, { ROECNY_API_KEY_FILE: join(dir, 'key') }, 'values from the environment are not listed')
  t.equal(loadConfig({ ...BASE, SECRETS_POLL_MS: '60000' }).secretsPollMs, 60000)
  for (const value of ['-1', '1.5', 'often', '2147483648']) {
    t.same(problemsOf({ ...BASE, SECRETS_POLL_MS: value }), ['SECRETS_POLL_MS must be an integer from 0 to 2147483647'], value)
  }
})

t.test('several problems are reported together', async (t) => {
  const problems = problemsOf({
    ROECNY_BASE_URL: 'http://api.roecny.example',
    ROECNY_API_KEY: API_KEY,
    ROECNY_API_KEY_FILE: '/run/secrets/key',
    PROXY_PORT: 'eighty',
    TOKEN_REFRESH_RATIO: '2',
    LOG_LEVEL: 'loud',
    PROXY_HOST: 'not a host'
  })
  t.same(problems, [
    'PROXY_PORT must be an integer from 0 to 65535',
    'TOKEN_REFRESH_RATIO must be a number from 0.5 to 0.95',
    'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
    'ROECNY_CLIENT_ID or ROECNY_CLIENT_ID_FILE is required',
    'ROECNY_API_KEY and ROECNY_API_KEY_FILE are both set; set only one',
    SCHEME,
    'PROXY_HOST must be an IP address or a host name'
  ])
})

t.test('the URL rules use ROECNY_ALLOW_INSECURE_HTTP even when another variable is bad', async (t) => {
  t.same(problemsOf({ ...BASE, ROECNY_BASE_URL: 'http://api.roecny.example', ROECNY_ALLOW_INSECURE_HTTP: 'true', PROXY_PORT: 'x' }), [
    'PROXY_PORT must be an integer from 0 to 65535'
  ])
})

t.test('no problem line carries a secret', async (t) => {
  const clientId = 'cid\u0001SECRET-CLIENT-ID'
  const apiKey = 'SECRET-API-KEY\n'
  const dir = t.testdir({ key: 'SECRET-FILE-KEY\u0000' })
  const cases: Env[] = [
    { ...BASE, ROECNY_CLIENT_ID: clientId, ROECNY_API_KEY: `${apiKey}x` },
    { ...BASE, ROECNY_API_KEY: undefined, ROECNY_API_KEY_FILE: join(dir, 'key'), PROXY_PORT: 'SECRET-API-KEY' },
    { ...BASE, ROECNY_API_KEY_FILE: join(dir, 'key'), ROECNY_CLIENT_ID_FILE: join(dir, 'key') }
  ]
  for (const env of cases) {
    let error: unknown
    try {
      loadConfig(env)
    } catch (err) {
      error = err
    }
    t.type(error, ConfigError)
    const text = `${String(error)}\n${(error as ConfigError).problems.join('\n')}`
    t.notOk(/SECRET/.test(text), text)
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
  t.same(loadMockConfig({}), { host: '127.0.0.1', port: 8081, faultRoutes: false })
  t.ok(Object.isFrozen(loadMockConfig({})))
  t.same(loadMockConfig({ MOCK_HOST: '::1', MOCK_PORT: '0', MOCK_FAULT_ROUTES: 'true', ROECNY_BASE_URL: 'ftp://ignored' }), { host: '::1', port: 0, faultRoutes: true })
  t.same(problemsOf({ MOCK_HOST: 'bad host', MOCK_PORT: '70000' }, loadMockConfig), [
    'MOCK_PORT must be an integer from 0 to 65535',
    'MOCK_HOST must be an IP address or a host name'
  ])
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
