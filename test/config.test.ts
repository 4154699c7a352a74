// Configuration: every variable's defaults, its bad values with the exact message, and secrets never echoed.
import { chmodSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
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
    adminPort: undefined
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
    TOKEN_REFRESH_RATIO: '0.8',
    LOGIN_TIMEOUT_MS: '5000',
    UPSTREAM_TIMEOUT_MS: '60000',
    SHUTDOWN_DELAY_MS: '5000',
    SHUTDOWN_TIMEOUT_MS: '10000',
    LOG_LEVEL: 'debug',
    SOMETHING_ELSE: 'ignored'
  })
  t.match(config, {
    scope: 'payments:read',
    loginAs: 'sub-account-1',
    proxyHost: '0.0.0.0',
    proxyPort: 9000,
    refreshRatio: 0.8,
    loginTimeoutMs: 5000,
    upstreamTimeoutMs: 60000,
    shutdownDelayMs: 5000,
    shutdownTimeoutMs: 10000,
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
    ['SHUTDOWN_TIMEOUT_MS', ['-1', 'soon', '2147483648'], ['0', '2147483647'], 'must be an integer from 0 to 2147483647']
  ]
  for (const [name, bad, good, message] of cases) {
    for (const value of bad) t.same(problemsOf({ ...BASE, [name]: value }), [`${name} ${message}`], `${name}=${value}`)
    for (const value of good) t.doesNotThrow(() => loadConfig({ ...BASE, [name]: value }), `${name}=${value}`)
  }
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
    t.equal(loadConfig({ ...BASE, PROXY_HOST: host }).proxyHost, host)
  }
  for (const host of ['[::1]', 'http://localhost', 'two words', '-leading', 'a..b', 'host:8080']) {
    t.same(problemsOf({ ...BASE, PROXY_HOST: host }), ['PROXY_HOST must be an IP address or a host name'], host)
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
  t.same(loadMockConfig({}), { host: '127.0.0.1', port: 8081 })
  t.ok(Object.isFrozen(loadMockConfig({})))
  t.same(loadMockConfig({ MOCK_HOST: '::1', MOCK_PORT: '0', ROECNY_BASE_URL: 'ftp://ignored' }), { host: '::1', port: 0 })
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
    'ADMIN_HOST', 'ADMIN_PORT'
  ]) {
    t.match(text, new RegExp(`^#? ?${name}=`, 'm'), name)
  }
})
