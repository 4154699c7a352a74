// The example clients in examples/, run by test/examples-*.test.ts (one file a language, so that each
// stays short): each one this machine can run makes its GET and its JSON POST through the demo with no
// credentials, and its exit code tells whose failure it is: 1 Roecny's error, 2 the proxy's own, 3 no
// proxy there, 66 a JSON file that cannot be read (nothing sent). A missing runtime is a SKIP.
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { Test } from 'tap'
import { built, spawnScript } from './cli.js'
import { startRelay } from './relay.js'
import type { Relay } from './relay.js'
import { startStack } from './stack.js'
import type { Stack } from './stack.js'
import { until } from './until.js'

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url))
const BALANCES = [
  { currency: 'USD', available_amount: 12500.5, pending_amount: 0, reserved_amount: 0, total_amount: 12500.5 },
  { currency: 'EUR', available_amount: 830, pending_amount: 20, reserved_amount: 0, total_amount: 850 }
]

interface Example {
  name: string
  /** Programs that must be on PATH. */
  runtimes: string[]
  /** Why the example cannot run although its programs are there (a missing extension), or undefined. */
  unusable?: () => Promise<string | undefined>
  /** Builds what has to be built, once; returns the command that runs the client with its arguments. */
  prepare: (work: string) => Promise<(args: string[]) => [string, string[]]>
  /** When the client sends `Expect: 100-continue` by itself, which the proxy must then answer. */
  sendsExpect?: 'always' | 'over 1 MB'
}

interface Run { code: number, stdout: string, stderr: string }

function exec (file: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1
      resolve({ code, stdout, stderr })
    })
  })
}

/** Only what a client needs: PATH, HOME and the proxy's URL; no credential of any kind. */
function clientEnv (proxyUrl: string): NodeJS.ProcessEnv {
  // The examples are the users' code, not the proxy's: the test runner is told not to count the Node one's coverage.
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ROECNY_PROXY_URL: proxyUrl, DOTNET_CLI_TELEMETRY_OPTOUT: '1', _TAPJS_PROCESSINFO_COVERAGE_: '0' }
}

async function compiled (file: string, args: string[]): Promise<void> {
  const result = await exec(file, args, { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DOTNET_CLI_TELEMETRY_OPTOUT: '1' })
  if (result.code !== 0) throw new Error(`${file} ${args.join(' ')} failed (${result.code}): ${result.stdout}${result.stderr}`)
}

const CLIENTS: Example[] = [
  {
    name: 'curl',
    runtimes: ['curl'],
    prepare: async () => (args) => ['sh', [`${EXAMPLES}curl/client.sh`, ...args]],
    sendsExpect: 'over 1 MB'
  },
  {
    name: 'Python (standard library)',
    runtimes: ['python3'],
    prepare: async () => (args) => ['python3', [`${EXAMPLES}python/client.py`, ...args]]
  },
  {
    name: 'Java (HttpClient)',
    runtimes: ['java', 'javac'],
    // Compiled once rather than run as a single-file source each time: a JVM compiling Java costs seconds.
    prepare: async (work) => {
      await compiled('javac', ['-Xlint:all', '-Werror', '-d', work, `${EXAMPLES}java/Client.java`])
      return (args) => ['java', ['-XX:TieredStopAtLevel=1', '-cp', work, 'Client', ...args]]
    }
  },
  {
    name: 'Node',
    runtimes: [],
    prepare: async () => (args) => [process.execPath, [`${EXAMPLES}node/client.mjs`, ...args]]
  },
  {
    name: 'PHP (curl extension)',
    runtimes: ['php'],
    unusable: async () => (await exec('php', ['-r', 'exit(function_exists("curl_init") ? 0 : 1);'], { PATH: process.env.PATH ?? '' })).code === 0
      ? undefined
      : 'php has no curl extension (Debian: php-curl)',
    prepare: async () => (args) => ['php', [`${EXAMPLES}php/client.php`, ...args]],
    sendsExpect: 'over 1 MB'
  },
  {
    name: 'C# (HttpWebRequest, Mono)',
    runtimes: ['mcs', 'mono'],
    prepare: async (work) => {
      const exe = join(work, 'Client.exe')
      await compiled('mcs', ['-warnaserror', `-out:${exe}`, `${EXAMPLES}csharp/Client.cs`])
      return (args) => ['mono', [exe, ...args]]
    },
    sendsExpect: 'always'
  },
  {
    name: 'C# (HttpWebRequest, .NET SDK)',
    runtimes: ['dotnet'],
    prepare: async (work) => {
      const out = join(work, 'dotnet')
      await compiled('dotnet', ['build', `${EXAMPLES}csharp`, '--nologo', '-v', 'q', '-o', out])
      return (args) => ['dotnet', [join(out, 'Client.dll'), ...args]]
    }
  }
]

function onPath (runtime: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', `command -v ${runtime}`], (error) => resolve(error === null))
  })
}

async function skipReason (example: Example): Promise<string | false> {
  for (const runtime of example.runtimes) {
    if (!await onPath(runtime)) return `${runtime} is not on PATH: the ${example.name} example was not run`
  }
  const unusable = await example.unusable?.()
  return unusable === undefined ? false : `${unusable}: the ${example.name} example was not run`
}

/** The demo's warnings and errors so far, to explain a failed run. */
let demoLog = (): string => ''

/** `roecny-auth-proxy demo` (the compiled CLI, as users run it) as a child process on a free port; its URL. */
async function startDemo (): Promise<string> {
  const demo = spawnScript(t, built('cli'), ['demo'], { PROXY_PORT: '0', LOG_LEVEL: 'warn' })
  demoLog = () => ['', ...relay.errors.map((error) => `relay: ${error}`), ...demo.stdout.filter((line) => line.startsWith('{')).slice(-10)].join('\n')
  const line = await demo.line(/^ {2}curl http:\/\/127\.0\.0\.1:\d+\/api\/v1\/balances\/current$/)
  return line.trim().slice('curl '.length).replace(/\/api\/v1\/balances\/current$/, '')
}

interface Echo {
  method: string
  path: string
  headers: Record<string, string>
  bodyBytes: number
  bodySha256: string
}

function sha256 (data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

/** What the mock's echo route says it received: the proxy's token, JSON, no client credential, no Expect. */
function echoOf (t: Test, line: string | undefined, path: string): Echo {
  const echo = JSON.parse(line ?? 'null') as Echo
  t.match(echo, { method: 'POST', path })
  t.match(echo.headers.authorization, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/, 'the proxy attached its token')
  t.equal(echo.headers['content-type'], 'application/json')
  t.equal(echo.headers.expect, undefined, 'Expect never reaches Roecny')
  return echo
}

let relay: Relay
let rejected: Stack
/** A loopback URL where nothing listens: a port taken from the kernel, then closed. */
let nobody: string
/** An HTTP server that counts what reaches it: a client that must send nothing is pointed here. */
let counter: { url: string, requests: number, server: Server }
let work: string
let bigJson: Buffer
let bigJsonFile: string

/** The names of the clients `examplesSuite` can run. */
export type ClientName = 'curl' | 'Python' | 'Java' | 'Node' | 'PHP' | 'C#'

/**
 * Registers, on the test file that calls it, the demo and the tests of the clients whose names start
 * with one of `names`, and with `curlUploads` the curl uploads.
 */
export async function examplesSuite (names: readonly ClientName[], curlUploads = false): Promise<void> {
  t.before(async () => {
    // Between the clients and the demo, to see which of them sent Expect and got a 100 Continue.
    relay = await startRelay(await startDemo())
    // The proxy holds demo-key, this mock wants another: no token, so the proxy answers 503 itself.
    rejected = await startStack(t, { mock: { apiKey: 'the-real-key' }, ready: false, config: { logLevel: 'silent' } })
    await until(() => rejected.proxy.tokens.status().logins.rejected > 0, 'the proxy\'s login to be rejected')
    work = await mkdtemp(join(tmpdir(), 'roecny-examples-'))
    // Over 1 MB, so that curl and PHP's curl extension send Expect: 100-continue.
    bigJson = Buffer.from(JSON.stringify({ request_id: 'upload-1', document: randomBytes(1_500_000).toString('base64') }))
    bigJsonFile = join(work, 'big.json')
    await writeFile(bigJsonFile, bigJson)
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    nobody = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`
    await new Promise((resolve) => closed.close(resolve))
    const server = createServer((_req, res) => {
      counter.requests++
      res.end('{}')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    counter = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: 0, server }
  })
  t.teardown(async () => {
    await new Promise((resolve) => counter.server.close(resolve))
    await relay.close()
    await rm(work, { recursive: true, force: true })
  })

  for (const example of CLIENTS.filter((client) => names.some((name) => client.name.startsWith(name)))) {
    // A missing runtime is reported as a skip with its reason, visible in the test output.
    const skip = await skipReason(example)
    t.test(example.name, { skip }, async (t) => {
      const command = await example.prepare(work)
      const run = async (proxyUrl: string, args: string[] = []): Promise<Run> => {
        const [file, fileArgs] = command(args)
        const result = await exec(file, fileArgs, clientEnv(proxyUrl))
        // A client runtime killed by a signal or aborting (134: Mono fails an assertion in its own
        // thread pool now and then) says nothing of the proxy: that run is made once more; a second
        // death fails the test.
        return result.code === -1 || result.code === 134 ? await exec(file, fileArgs, clientEnv(proxyUrl)) : result
      }

      t.test('GET, then a JSON POST, through the demo: Roecny\'s answers printed', async (t) => {
        const result = await run(relay.url)
        t.equal(result.code, 0, `${result.stderr}${demoLog()}`)
        const [balances, posted, ...rest] = result.stdout.trimEnd().split('\n')
        t.same(JSON.parse(balances ?? 'null'), BALANCES, 'the GET answer')
        const echo = echoOf(t, posted, '/api/v1/echo/example')
        t.ok(echo.bodyBytes > 10, 'the POST carried its JSON body')
        t.same(rest, [])
      })

      t.test('a 2 MB JSON POST arrives whole, also from a client that sends Expect: 100-continue', async (t) => {
        const expects = relay.expects()
        const continues = relay.continues()
        const result = await run(relay.url, ['/api/v1/balances/current', '/api/v1/echo/upload', bigJsonFile])
        t.equal(result.code, 0, `${result.stderr}${demoLog()}`)
        const echo = echoOf(t, result.stdout.trimEnd().split('\n')[1], '/api/v1/echo/upload')
        t.equal(echo.bodyBytes, bigJson.length, 'every byte')
        t.equal(echo.bodySha256, sha256(bigJson), 'the same bytes')
        if (example.sendsExpect !== undefined) {
          t.equal(relay.expects(), expects + 1, `the client sent Expect: 100-continue (${example.sendsExpect}), which the proxy handled`)
          // Whether the 100 or the client's own wait (curl: 1 s) ends the wait first depends on the machine's
          // load; the 100 itself is pinned by forward-expect-continue.test.ts, whose client waits for it.
          t.ok(relay.continues() <= continues + 1, 'at most one 100 Continue')
        }
      })

      t.test('tells the proxy\'s own errors apart: exit 2 with the PROXY_* code', async (t) => {
        const onGet = await run(rejected.url)
        t.equal(onGet.code, 2, 'no token: the GET fails')
        t.match(onGet.stderr, /proxy error PROXY_TOKEN_UNAVAILABLE \(HTTP 503\)/)
        t.equal(onGet.stdout, '', 'and no POST is made')

        const continues = relay.continues()
        const onPost = await run(relay.url, ['/api/v1/balances/current', '/api/v1/authentication/login'])
        t.equal(onPost.code, 2, 'the login path: the POST is refused')
        t.match(onPost.stderr, /proxy error PROXY_LOGIN_BLOCKED \(HTTP 403\)/)
        t.same(JSON.parse(onPost.stdout), BALANCES, 'after the GET succeeded')
        t.equal(relay.continues(), continues, 'a refused POST gets no 100 Continue')
      })

      t.test('passes Roecny\'s own errors through: exit 1 with the status', async (t) => {
        // The demo's mock serves the API alone: a route it does not have is its own 404.
        const onGet = await run(relay.url, ['/api/v1/no-such-route'])
        t.equal(onGet.code, 1)
        t.match(onGet.stderr, /Roecny answered HTTP 404: .*not_found/)
        t.notMatch(onGet.stderr, /proxy error/)
        const onPost = await run(relay.url, ['/api/v1/balances/current', '/api/v1/no-such-route'])
        t.equal(onPost.code, 1)
        t.match(onPost.stderr, /Roecny answered HTTP 404: .*not_found/)
        t.same(JSON.parse(onPost.stdout), BALANCES)
      })

      t.test('no proxy there: exit 3, told apart from any answer', async (t) => {
        const result = await run(nobody)
        t.equal(result.code, 3, result.stderr)
        t.match(result.stderr, /no answer from the proxy at http:\/\/127\.0\.0\.1:\d+/)
        t.equal(result.stdout, '', 'no GET answer, and no POST tried')
      })

      t.test('a JSON file that cannot be read: exit 66 and nothing sent, never an empty upload', async (t) => {
        const before = counter.requests
        for (const file of [join(work, 'no-such-file.json'), work]) {
          const result = await run(counter.url, ['/api/v1/balances/current', '/api/v1/echo/upload', file])
          t.equal(result.code, 66, `${file}: ${result.stderr}`)
          t.match(result.stderr, 'cannot read the JSON file')
          t.equal(result.stdout, '')
        }
        t.equal(counter.requests, before, 'not even the GET was made')
      })
    })
  }

  if (!curlUploads) return
  // The uploads curl users make: a file over 1 MB (curl then sends Expect: 100-continue), and a chunked one.
  t.test('curl uploads through the demo arrive intact', { skip: await onPath('curl') ? false : 'curl is not on PATH: the uploads were not tried' }, async (t) => {
    const file = join(work, 'big.bin')
    const body = randomBytes(2_000_000)
    await writeFile(file, body)
    for (const [what, extra] of [['--data-binary @big.bin', []], ['chunked', ['-H', 'Transfer-Encoding: chunked']]] as const) {
      const expects = relay.expects()
      const continues = relay.continues()
      const result = await exec('curl', ['--silent', '--show-error', '--noproxy', '*', ...extra, '--data-binary', `@${file}`, `${relay.url}/api/v1/echo/upload`], clientEnv(relay.url))
      t.equal(result.code, 0, `${what}: ${result.stderr}${demoLog()}`)
      if (result.code !== 0) continue
      const echo = JSON.parse(result.stdout) as Echo
      t.equal(echo.bodyBytes, body.length, `${what}: the mock got every byte`)
      t.equal(echo.bodySha256, sha256(body), `${what}: the same bytes`)
      t.equal(echo.headers.expect, undefined, `${what}: no Expect upstream`)
      t.equal(relay.expects(), expects + 1, `${what}: curl sent Expect: 100-continue`)
      t.ok(relay.continues() <= continues + 1, `${what}: at most one 100 Continue (curl also sends the body after 1 s without one)`)
    }
  })
}
