// The CLI: commands, flags and exit codes, in process through main() and as real child processes.
import { once } from 'node:events'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { EXIT_CONFIG, EXIT_FAILURE, EXIT_OK } from '../src/cli.js'
import { DEMO_API_KEY, DEMO_CLIENT_ID } from '../src/mock/roecny.js'
import { VERSION } from '../src/version.js'
import { built, runMain as run, runScript } from './helpers/cli.js'
import { startMock } from './helpers/stack.js'

const SECRET_KEY = 'key-9f8e7d6c5b4a-do-not-print'

/** A loopback port nothing listens on any more: connections to it are refused at once. */
async function closedPort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function portInUse (t: Test): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.close() })
  return (server.address() as AddressInfo).port
}

t.test('in process', async (t) => {
  t.test('--help lists commands, flags and variable names, never a value', async (t) => {
    for (const flag of ['--help', '-h']) {
      const { code, stdout, stderr } = await run([flag], { ROECNY_API_KEY: SECRET_KEY })
      t.equal(code, EXIT_OK)
      t.equal(stderr, '')
      for (const word of ['serve', 'demo', 'mock', 'check', '--env-file', '--version', 'ROECNY_BASE_URL', 'ROECNY_API_KEY_FILE', 'ROECNY_CLIENT_ID_FILE', 'ROECNY_ALLOW_INSECURE_HTTP', 'PROXY_PORT', 'MOCK_PORT', 'LOG_LEVEL', '78',
        'UPSTREAM_MAX_IN_FLIGHT', 'UPSTREAM_RATE_LIMIT', 'UPSTREAM_RATE_BURST', 'UPSTREAM_QUEUE_TIMEOUT_MS', 'UPSTREAM_QUEUE_MAX',
        'PROXY_HEADERS_TIMEOUT_MS', 'PROXY_REQUEST_TIMEOUT_MS', 'PROXY_KEEP_ALIVE_TIMEOUT_MS', 'PROXY_MAX_CONNECTIONS']) {
        t.match(stdout, word)
      }
      t.notMatch(stdout, SECRET_KEY)
    }
    t.equal((await run(['check', '--help'])).code, EXIT_OK, '--help wins over a command')
  })

  t.test('--version', async (t) => {
    t.same(await run(['--version']), { code: EXIT_OK, stdout: `${VERSION}\n`, stderr: '' })
    t.same(await run(['-v']), { code: EXIT_OK, stdout: `${VERSION}\n`, stderr: '' })
  })

  t.test('a bad invocation is a configuration error (78)', async (t) => {
    const unknown = await run(['frobnicate'])
    t.equal(unknown.code, EXIT_CONFIG)
    t.equal(unknown.stderr, 'roecny-auth-proxy: configuration error: unknown command: frobnicate (try --help)\n')
    const flag = await run(['--api-key=hunter2'])
    t.equal(flag.code, EXIT_CONFIG)
    t.match(flag.stderr, /^roecny-auth-proxy: configuration error: Unknown option '--api-key'/)
    t.notMatch(flag.stderr, 'hunter2')
    const missing = await run(['--env-file'])
    t.equal(missing.code, EXIT_CONFIG)
    t.match(missing.stderr, "Option '--env-file <value>' argument missing")
    const extra = await run(['check', 'now'])
    t.same(extra, { code: EXIT_CONFIG, stdout: '', stderr: 'roecny-auth-proxy: configuration error: unexpected argument after the command: now\n' })
  })

  t.test('a bad configuration prints one line per problem, never a secret', async (t) => {
    const { code, stdout, stderr } = await run(['check'], { ROECNY_BASE_URL: 'ftp://x', ROECNY_API_KEY: `${SECRET_KEY}\n\u0000`, PROXY_PORT: '-1' })
    t.equal(code, EXIT_CONFIG)
    t.equal(stdout, '')
    t.same(stderr.trimEnd().split('\n'), [
      'roecny-auth-proxy: configuration error: PROXY_PORT must be an integer from 0 to 65535',
      'roecny-auth-proxy: configuration error: ROECNY_CLIENT_ID or ROECNY_CLIENT_ID_FILE is required',
      'roecny-auth-proxy: configuration error: ROECNY_API_KEY must not contain control characters or characters beyond Latin-1',
      'roecny-auth-proxy: configuration error: ROECNY_BASE_URL must be an https:// URL (http:// only for loopback hosts or with ROECNY_ALLOW_INSECURE_HTTP=true)'
    ])
    t.notMatch(stderr, SECRET_KEY)
  })

  t.test('serve with no configuration', async (t) => {
    const { code, stderr } = await run([], {})
    t.equal(code, EXIT_CONFIG)
    t.match(stderr, 'configuration error: ROECNY_BASE_URL is required')
  })

  t.test('mock with a bad MOCK_PORT', async (t) => {
    const { code, stderr } = await run(['mock'], { MOCK_PORT: 'x' })
    t.equal(code, EXIT_CONFIG)
    t.equal(stderr, 'roecny-auth-proxy: configuration error: MOCK_PORT must be an integer from 0 to 65535\n')
  })

  t.test('any other failure exits 1 with its message: a port in use', async (t) => {
    const port = await portInUse(t)
    const { code, stdout, stderr } = await run(['mock'], { MOCK_PORT: String(port) })
    t.equal(code, EXIT_FAILURE)
    t.equal(stdout, '')
    t.match(stderr, /^roecny-auth-proxy: .*EADDRINUSE.*\n$/)
  })

  t.test('demo with a bad variable stops its mock and exits 78', async (t) => {
    const { code, stdout, stderr } = await run(['demo'], { LOG_LEVEL: 'loud', PROXY_PORT: '0' })
    t.equal(code, EXIT_CONFIG)
    t.equal(stdout, '')
    t.equal(stderr, 'roecny-auth-proxy: configuration error: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent\n')
  })

  t.test('check', async (t) => {
    const mock = await startMock(t, { tokenLifetimeSeconds: 1800 })
    const env = { ROECNY_BASE_URL: mock.url, ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY: DEMO_API_KEY }

    t.test('a good login prints the expiry, never the token', async (t) => {
      const before = Date.now()
      const { code, stdout, stderr } = await run(['check'], env)
      t.equal(code, EXIT_OK)
      t.equal(stderr, '')
      const match = /^login succeeded: the token expires at (\S+) \(in (\d+) s\)\n$/.exec(stdout)
      t.ok(match, stdout)
      const expiresAt = Date.parse(match?.[1] ?? '')
      t.ok(expiresAt >= before + 1790_000 && expiresAt <= Date.now() + 1801_000, 'about 30 minutes ahead')
      t.equal(match?.[2], '1800')
      const token = mock.issuedTokens.at(-1) as string
      t.ok(token.length > 20)
      t.notMatch(stdout + stderr, token)
      t.equal(mock.logins.at(-1)?.headers['x-client-id'], DEMO_CLIENT_ID)
    })

    t.test('scope and login-as are sent', async (t) => {
      t.equal((await run(['check'], { ...env, ROECNY_SCOPE: 'payments', ROECNY_LOGIN_AS: 'sub-1' })).code, EXIT_OK)
      t.match(mock.logins.at(-1)?.headers, { scope: 'payments', 'x-login-as': 'sub-1' })
    })

    t.test('rejected credentials exit 1 with status and code', async (t) => {
      const { code, stdout, stderr } = await run(['check'], { ...env, ROECNY_API_KEY: SECRET_KEY })
      t.equal(code, EXIT_FAILURE)
      t.equal(stdout, '')
      t.equal(stderr, 'roecny-auth-proxy: login failed (rejected): login answered 401; status 401, code credentials_invalid\n')
      t.notMatch(stderr, SECRET_KEY)
    })

    t.test('an unreachable upstream exits 1', async (t) => {
      const port = await closedPort()
      const { code, stderr } = await run(['check'], { ...env, ROECNY_BASE_URL: `http://127.0.0.1:${port}` })
      t.equal(code, EXIT_FAILURE)
      t.equal(stderr, 'roecny-auth-proxy: login failed (error): login request failed: ECONNREFUSED; status none, code none\n')
    })

    t.test('--env-file loads variables; the environment wins', async (t) => {
      const dir = t.testdir({
        'proxy.env': `# comment\nROECNY_BASE_URL=${mock.url}\nROECNY_CLIENT_ID="${DEMO_CLIENT_ID}"\nROECNY_API_KEY=wrong-key\n`
      })
      const file = join(dir, 'proxy.env')
      t.equal((await run(['check', '--env-file', file], { ROECNY_API_KEY: DEMO_API_KEY })).code, EXIT_OK)
      const fromFile = await run(['--env-file', file, 'check'], {})
      t.equal(fromFile.code, EXIT_FAILURE, 'the file\'s wrong key is used when the environment has none')
      const missing = await run(['check', `--env-file=${join(dir, 'nope.env')}`], env)
      t.equal(missing.code, EXIT_CONFIG)
      t.equal(missing.stderr, `roecny-auth-proxy: configuration error: --env-file cannot be read (ENOENT): ${join(dir, 'nope.env')}\n`)
    })
  })
})

// Here the exit status is the point: the children run the build made once per test process, which
// starts in a fraction of the source's time (test/cli-processes.test.ts runs the source).
t.test('child processes that exit', { jobs: 3 }, async (t) => {
  const cli = built('cli')

  t.test('--version and --help', async (t) => {
    t.same(await runScript(t, cli, ['--version']), { code: 0, stdout: VERSION, stderr: '' })
    const help = await runScript(t, cli, ['--help'])
    t.equal(help.code, 0)
    t.match(help.stdout, /Usage: roecny-auth-proxy/)
  })

  t.test('bad configuration exits 78 naming the variable, not its value', async (t) => {
    const { code, stdout, stderr } = await runScript(t, cli, ['check'], { ROECNY_BASE_URL: 'https://api.roecny.example', ROECNY_CLIENT_ID: 'c', ROECNY_API_KEY: SECRET_KEY, ROECNY_API_KEY_FILE: '/run/secrets/key' })
    t.equal(code, 78)
    t.equal(stdout, '')
    t.equal(stderr, 'roecny-auth-proxy: configuration error: ROECNY_API_KEY and ROECNY_API_KEY_FILE are both set; set only one')
  })

  t.test('an unknown command exits 78', async (t) => {
    const { code, stderr } = await runScript(t, cli, ['serv'])
    t.equal(code, 78)
    t.match(stderr, 'unknown command: serv')
  })

  t.test('a missing --env-file exits 78', async (t) => {
    const { code, stderr } = await runScript(t, cli, ['--env-file', '/nonexistent/proxy.env', 'check'])
    t.equal(code, 78)
    t.match(stderr, '--env-file cannot be read (ENOENT)')
  })

  t.test('check against a real mock', async (t) => {
    const mock = await startMock(t)
    const dir = t.testdir({ key: `${DEMO_API_KEY}\n` })
    const ok = await runScript(t, cli, ['check'], { ROECNY_BASE_URL: mock.url, ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY_FILE: join(dir, 'key') })
    t.equal(ok.code, 0)
    t.match(ok.stdout, /^login succeeded: the token expires at \d{4}-\d\d-\d\dT/)
    t.notMatch(ok.stdout, mock.issuedTokens.at(-1) as string)
    const bad = await runScript(t, cli, ['check'], { ROECNY_BASE_URL: mock.url, ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY: SECRET_KEY })
    t.equal(bad.code, 1)
    t.match(bad.stderr, 'status 401, code credentials_invalid')
    t.notMatch(bad.stderr, SECRET_KEY)
  })

  t.test('mock on a port in use exits 1', async (t) => {
    const port = await portInUse(t)
    const { code, stderr } = await runScript(t, cli, ['mock'], { MOCK_PORT: String(port) })
    t.equal(code, 1)
    t.match(stderr, /^roecny-auth-proxy: .*EADDRINUSE/m)
  })

  t.test('serve on a port in use exits 1', async (t) => {
    const port = await portInUse(t)
    const { code, stderr } = await runScript(t, cli, [], { ROECNY_BASE_URL: 'http://127.0.0.1:9', ROECNY_CLIENT_ID: 'c', ROECNY_API_KEY: 'k', PROXY_PORT: String(port) })
    t.equal(code, 1)
    t.match(stderr, /^roecny-auth-proxy: .*EADDRINUSE/m)
  })
})
