#!/usr/bin/env -S node --heap-growing-percent=20 --
// The `roecny-auth-proxy` command: parses the invocation, runs serve | demo | mock | check, maps outcomes to exit codes.
// The shebang gives node V8's heap growth (docs/performance.md: Runtime settings; the image and `npm start` pass the same flag),
// and its `--` ends node's own options, so that node never reads the CLI's --env-file as its own.
// First, before any dependency loads: Node's module compile cache.
import './compile-cache.js'
import { readFileSync, realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs, parseEnv } from 'node:util'
import { ConfigError, loadConfig, loadMockConfig } from './config.js'
import { defaultOf, VARIABLES } from './config/variables.js'
import type { VariableName } from './config/variables.js'
import type { RunningProxy } from './server.js'
import type { LoginResult } from './token/login.js'
import { exitOnFatalError, stopOnSignals } from './signals.js'
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

/** One line per variable of the configuration table, its default appended. */
function environmentHelp (): string {
  const names = Object.keys(VARIABLES) as VariableName[]
  const width = Math.max(...names.map((name) => name.length)) + 2
  return names.map((name) => {
    const fallback = defaultOf(name)
    return `  ${name.padEnd(width)}${VARIABLES[name].help}${fallback === undefined ? '' : ` (default ${fallback})`}`
  }).join('\n')
}

export const USAGE = `Usage: ${NAME} [command] [--env-file PATH]

An authenticating reverse proxy for the Roecny API: it logs in with the client ID and API key,
keeps a fresh bearer token and forwards every request it receives with that token attached.

Commands:
  serve    read the configuration, log in, serve until SIGTERM/SIGINT (the default);
           SIGHUP re-reads the *_FILE secrets
  demo     start the built-in mock Roecny API and the proxy in front of it (PROXY_PORT, default ${defaultOf('PROXY_PORT') as string})
  mock     start only the mock Roecny API (MOCK_HOST, MOCK_PORT; credentials demo-client / demo-key)
  check    validate the configuration, log in once, print the token's expiry, exit
  hash-key print the SHA-256 digest of the key on standard input, for PROXY_PROFILES_FILE's accessKeys
           (one trailing newline, as echo adds, is not part of the key); with no input, make a
           random key and print it and its digest

Options:
  --env-file PATH  load variables from a dotenv file first; variables already set in the environment win
  -h, --help       print this help
  -v, --version    print the version

Environment (see config.example.env):
${environmentHelp()}

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

/*
 * Each command loads only what it runs: serve neither the mock nor the check path, --help and
 * --version none of the proxy (less memory resident, a shorter start).
 */

async function serve (env: Env): Promise<number> {
  const config = loadConfig(env)
  const { startProxy } = await import('./server.js')
  const proxy = await startProxy(config)
  return await stopOnSignals(proxy.shutdown, proxy.logger, proxy.reloadSecrets)
}

async function demo (env: Env, io: CliIo): Promise<number> {
  const { DEMO_API_KEY, DEMO_CLIENT_ID, startMockRoecny } = await import('./mock/roecny.js')
  const { startProxy } = await import('./server.js')
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
  const code = await stopOnSignals(proxy.shutdown, proxy.logger, proxy.reloadSecrets)
  // The proxy drains first; closing the mock earlier would fail its in-flight requests.
  await mock.close()
  return code
}

async function mock (env: Env, io: CliIo): Promise<number> {
  const { host, port, faultRoutes } = loadMockConfig(env)
  const { DEMO_API_KEY, DEMO_CLIENT_ID, startMockRoecny } = await import('./mock/roecny.js')
  const { createLogger } = await import('./log.js')
  const server = await startMockRoecny({ faultRoutes }, host, port)
  const stopped = stopOnSignals(server.close, createLogger('info'))
  io.stdout(`mock Roecny API listening on ${server.url}\ndemo credentials: ROECNY_CLIENT_ID=${DEMO_CLIENT_ID} ROECNY_API_KEY=${DEMO_API_KEY}\n`)
  return await stopped
}

/** What a login told, for one line of `check`; `profile` names the profile when there are profiles. */
function loginLine (io: CliIo, result: LoginResult, nowMs: number, profile?: string): boolean {
  const who = profile === undefined ? '' : `profile ${profile}: `
  if (result.ok) {
    const expiresAt = new Date(nowMs + result.lifetimeMs).toISOString()
    io.stdout(`${who}login succeeded: the token expires at ${expiresAt} (in ${Math.round(result.lifetimeMs / 1000)} s)\n`)
    return true
  }
  io.stderr(`${NAME}: ${who}login failed (${result.kind}): ${result.message}; status ${result.status ?? 'none'}, code ${result.code ?? 'none'}\n`)
  return false
}

/** Validates the configuration (and the profiles file), logs in once per distinct token, one line per profile. */
async function check (env: Env, io: CliIo): Promise<number> {
  const config = loadConfig(env)
  const profiles = config.profilesFile === undefined ? undefined : (await import('./profiles/start.js')).loadProfilesFor(config)
  for (const warning of [...config.warnings, ...profiles?.warnings ?? []]) io.stderr(`${NAME}: warning: ${warning}\n`)
  const { createUpstreamPool } = await import('./proxy/upstream-pool.js')
  const { login } = await import('./token/login.js')
  const { systemClock } = await import('./clock.js')
  const pool = createUpstreamPool(config)
  try {
    if (profiles === undefined) {
      return loginLine(io, await login({ config, dispatcher: pool, clock: systemClock }), systemClock.wallNow()) ? EXIT_OK : EXIT_FAILURE
    }
    // One login per distinct token, together; each of its profiles gets its line, in file order.
    const results = new Map(await Promise.all(profiles.tuples.map(async (tuple) =>
      [tuple.key, await login({ config: { ...config, clientId: tuple.clientId, apiKey: tuple.apiKey, scope: tuple.scope, loginAs: tuple.loginAs }, dispatcher: pool, clock: systemClock })] as const)))
    let failed = false
    for (const profile of profiles.profiles.values()) {
      if (!loginLine(io, results.get(profile.tuple) as LoginResult, systemClock.wallNow(), profile.name)) failed = true
    }
    return failed ? EXIT_FAILURE : EXIT_OK
  } finally {
    await pool.close()
  }
}

/** Reads this process's standard input: only a real run of the command has one to read. */
async function hashKey (io: CliIo): Promise<number> {
  const { hashKey } = await import('./profiles/hash-key.js')
  await hashKey(process.stdin, io.stdout)
  return EXIT_OK
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
      case 'hash-key': return await hashKey(io)
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
  // Imported, not a static import: those are all compiled before any module runs, so before the compile cache is on.
  const { createLogger } = await import('./log.js')
  exitOnFatalError(createLogger('fatal'))
  const code = await main(process.argv.slice(2), process.env, {
    stdout: (text) => { process.stdout.write(text) },
    stderr: (text) => { process.stderr.write(text) }
  })
  process.exit(code)
}
