#!/usr/bin/env node
// The `roecny-auth-proxy` command: parses the invocation, runs serve | demo | mock | check, maps outcomes to exit codes.
import { readFileSync, realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs, parseEnv } from 'node:util'
import { systemClock } from './clock.js'
import { ConfigError, loadConfig, loadMockConfig } from './config.js'
import { DEMO_API_KEY, DEMO_CLIENT_ID, startMockRoecny } from './mock/roecny.js'
import { closeOnSignals, createUpstreamPool, startProxy } from './server.js'
import type { RunningProxy } from './server.js'
import { login } from './token/login.js'
import { VERSION } from './version.js'

type Env = Record<string, string | undefined>

export interface CliIo {
  stdout: (text: string) => void
  stderr: (text: string) => void
}

/** Exit codes: 0 clean stop, 78 (EX_CONFIG) bad configuration or invocation, 1 anything else. */
export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_CONFIG = 78

const NAME = 'roecny-auth-proxy'

export const USAGE = `Usage: ${NAME} [command] [--env-file PATH]

An authenticating reverse proxy for the Roecny API: it logs in with the client ID and API key,
keeps a fresh bearer token and forwards every request it receives with that token attached.

Commands:
  serve    read the configuration, log in, serve until SIGTERM/SIGINT (the default)
  demo     start the built-in mock Roecny API and the proxy in front of it (PROXY_PORT, default 8080)
  mock     start only the mock Roecny API (MOCK_HOST, MOCK_PORT; credentials demo-client / demo-key)
  check    validate the configuration, log in once, print the token's expiry, exit

Options:
  --env-file PATH  load variables from a dotenv file first; variables already set in the environment win
  -h, --help       print this help
  -v, --version    print the version

Environment (see config.example.env):
  ROECNY_BASE_URL                               required; https://host[:port][/prefix]
  ROECNY_ALLOW_INSECURE_HTTP                    allow http:// to a non-loopback host (default false)
  ROECNY_CLIENT_ID | ROECNY_CLIENT_ID_FILE      one required
  ROECNY_API_KEY | ROECNY_API_KEY_FILE          one required
  ROECNY_SCOPE, ROECNY_LOGIN_AS                 optional login headers
  ROECNY_CA_FILE                                extra PEM CA bundle for the upstream (TLS is always verified)
  PROXY_HOST, PROXY_PORT                        listener (default 127.0.0.1:8080)
  PROXY_SOCKET, PROXY_SOCKET_MODE               listen on a Unix socket instead (mode default 0660)
  PROXY_ACCESS_KEY | PROXY_ACCESS_KEY_FILE      require x-proxy-key on proxied requests and /-/status
  PROXY_ALLOW_UNAUTHENTICATED_REMOTE            allow a non-loopback PROXY_HOST without a key (default false)
  PROXY_ALLOWED_HOSTS                           extra Host names accepted (* turns the check off)
  PROXY_CORS_ORIGINS                            browser origins allowed to call through the proxy
  PROXY_ALLOW_METHODS                           methods forwarded, e.g. GET,HEAD (default all)
  PROXY_ALLOW_PATHS, PROXY_DENY_PATHS           path patterns (* one segment, ** any depth; deny wins)
  PROXY_MAX_BODY_BYTES                          larger request bodies get 413 (default no limit)
  PROXY_HEADERS_TIMEOUT_MS                      request headers must arrive within (default 10000)
  PROXY_REQUEST_TIMEOUT_MS                      a whole request must arrive within (default 300000; 0 no limit)
  PROXY_KEEP_ALIVE_TIMEOUT_MS                   idle kept-alive connections close after (default 65000)
  PROXY_MAX_CONNECTIONS                         connections open at once, per listener (default 4096)
  ADMIN_HOST, ADMIN_PORT                        probes and metrics listener (off unless ADMIN_PORT is set)
  TOKEN_REFRESH_RATIO                           0.5 to 0.95 (default 0.67)
  LOGIN_TIMEOUT_MS, UPSTREAM_TIMEOUT_MS         default 10000, 30000
  SHUTDOWN_DELAY_MS, SHUTDOWN_TIMEOUT_MS        default 0, 25000
  LOG_LEVEL                                     fatal|error|warn|info|debug|trace|silent (default info)
  MOCK_HOST, MOCK_PORT                          the mock command's listener (default 127.0.0.1:8081)

Exit status: 0 clean stop; 78 configuration error (also an unknown command or option);
1 any other failure (check: the login failed).
`

/** A bad invocation is reported like a bad variable: the deployment, not the process, must change. */
class UsageError extends ConfigError {}

function readEnvFile (path: string): Env {
  try {
    return parseEnv(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new UsageError([`--env-file cannot be read (${(err as NodeJS.ErrnoException).code}): ${path}`])
  }
}

function parseInvocation (argv: string[]): { command: string, help: boolean, version: boolean, envFile: string | undefined } {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
        'env-file': { type: 'string' }
      }
    })
  } catch (err) {
    // node:util names the option in its message, never an option's value.
    throw new UsageError([(err as Error).message])
  }
  const [command = 'serve', ...extra] = parsed.positionals
  if (extra.length > 0) throw new UsageError([`unexpected argument after the command: ${extra.join(' ')}`])
  return { command, help: parsed.values.help === true, version: parsed.values.version === true, envFile: parsed.values['env-file'] }
}

/** Resolves with the exit code once SIGTERM or SIGINT has stopped the proxy (a second signal: at once). */
function untilStopped (proxy: RunningProxy): Promise<number> {
  return new Promise((resolve) => closeOnSignals(proxy, resolve))
}

/** Resolves on the first SIGTERM or SIGINT, then lets a second one end the process at once. */
function firstSignal (): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    function onSignal (signal: NodeJS.Signals): void {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
      resolve(signal)
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
}

async function serve (env: Env): Promise<number> {
  const config = loadConfig(env)
  const proxy = await startProxy(config)
  return await untilStopped(proxy)
}

async function demo (env: Env, io: CliIo): Promise<number> {
  const mock = await startMockRoecny({}, '127.0.0.1', 0)
  let proxy: RunningProxy
  try {
    const config = loadConfig({
      ...env,
      ROECNY_BASE_URL: mock.url,
      ROECNY_CLIENT_ID: DEMO_CLIENT_ID,
      ROECNY_CLIENT_ID_FILE: undefined,
      ROECNY_API_KEY: DEMO_API_KEY,
      ROECNY_API_KEY_FILE: undefined,
      ROECNY_ALLOW_INSECURE_HTTP: undefined
    })
    proxy = await startProxy(config)
  } catch (err) {
    await mock.close()
    throw err
  }
  io.stdout([
    `mock Roecny API on ${mock.url}; the proxy on ${proxy.url} logs in to it with ${DEMO_CLIENT_ID} / ${DEMO_API_KEY}. Try:`,
    `  curl ${proxy.url}/api/v1/balances/current`,
    `  curl -X POST -H 'content-type: application/json' -d '{"hello":"roecny"}' ${proxy.url}/api/v1/echo/hello`,
    'Stop with Ctrl-C.',
    ''
  ].join('\n'))
  const code = await untilStopped(proxy)
  // The proxy drains first; closing the mock earlier would fail its in-flight requests.
  await mock.close()
  return code
}

async function mock (env: Env, io: CliIo): Promise<number> {
  const { host, port } = loadMockConfig(env)
  const server = await startMockRoecny({}, host, port)
  const stopped = firstSignal()
  io.stdout(`mock Roecny API listening on ${server.url}\ndemo credentials: ROECNY_CLIENT_ID=${DEMO_CLIENT_ID} ROECNY_API_KEY=${DEMO_API_KEY}\n`)
  await stopped
  await server.close()
  return EXIT_OK
}

async function check (env: Env, io: CliIo): Promise<number> {
  const config = loadConfig(env)
  for (const warning of config.warnings) io.stderr(`${NAME}: warning: ${warning}\n`)
  const pool = createUpstreamPool(config)
  try {
    const result = await login({ config, dispatcher: pool, clock: systemClock })
    if (result.ok) {
      const expiresAt = new Date(systemClock.wallNow() + result.lifetimeMs).toISOString()
      io.stdout(`login succeeded: the token expires at ${expiresAt} (in ${Math.round(result.lifetimeMs / 1000)} s)\n`)
      return EXIT_OK
    }
    io.stderr(`${NAME}: login failed (${result.kind}): ${result.message}; status ${result.status ?? 'none'}, code ${result.code ?? 'none'}\n`)
    return EXIT_FAILURE
  } finally {
    await pool.close()
  }
}

/** Runs one invocation and resolves with its exit code; serve, demo and mock resolve once stopped. */
export async function main (argv: string[], env: Env, io: CliIo): Promise<number> {
  try {
    const invocation = parseInvocation(argv)
    if (invocation.help) {
      io.stdout(USAGE)
      return EXIT_OK
    }
    if (invocation.version) {
      io.stdout(`${VERSION}\n`)
      return EXIT_OK
    }
    const merged = invocation.envFile === undefined ? env : { ...readEnvFile(invocation.envFile), ...env }
    switch (invocation.command) {
      case 'serve': return await serve(merged)
      case 'demo': return await demo(merged, io)
      case 'mock': return await mock(merged, io)
      case 'check': return await check(merged, io)
      default: throw new UsageError([`unknown command: ${invocation.command} (try --help)`])
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const problem of err.problems) io.stderr(`${NAME}: configuration error: ${problem}\n`)
      return EXIT_CONFIG
    }
    io.stderr(`${NAME}: ${(err as Error).message}\n`)
    return EXIT_FAILURE
  }
}

function isEntryPoint (): boolean {
  const script = process.argv[1]
  /* c8 ignore next -- argv[1] is missing only under `node -e` or a REPL, never in a run of this file */
  if (script === undefined) return false
  // npm runs the bin through a symlink, so compare real paths.
  return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url))
}

if (isEntryPoint()) {
  const code = await main(process.argv.slice(2), process.env, {
    stdout: (text) => { process.stdout.write(text) },
    stderr: (text) => { process.stderr.write(text) }
  })
  process.exit(code)
}
