// The polyglot clients in examples/: each one this machine can run calls the proxy with no credentials.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { startStack } from './helpers/stack.js'
import type { Stack } from './helpers/stack.js'
import { until } from './helpers/until.js'

const EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url))

interface Example {
  name: string
  /** The runtime that must be on PATH. */
  runtime: string
  command: (path?: string) => [string, string[]]
}

function extra (path: string | undefined): string[] {
  return path === undefined ? [] : [path]
}

const CLIENTS: Example[] = [
  { name: 'curl', runtime: 'curl', command: (path) => ['sh', [`${EXAMPLES}curl/client.sh`, ...extra(path)]] },
  { name: 'Python (standard library)', runtime: 'python3', command: (path) => ['python3', [`${EXAMPLES}python/client.py`, ...extra(path)]] },
  { name: 'Java (single-file source)', runtime: 'java', command: (path) => ['java', [`${EXAMPLES}java/Client.java`, ...extra(path)]] },
  { name: 'Node', runtime: 'node', command: (path) => [process.execPath, [`${EXAMPLES}node/client.mjs`, ...extra(path)]] }
]

interface Run { code: number, stdout: string, stderr: string }

function run (example: Example, proxyUrl: string, path?: string): Promise<Run> {
  const [file, args] = example.command(path)
  // Only what a client needs: PATH and the proxy's URL; no credential of any kind. The examples are
  // the users' code, not the proxy's: the test runner is told not to count the Node one's coverage.
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ROECNY_PROXY_URL: proxyUrl, _TAPJS_PROCESSINFO_COVERAGE_: '0' }
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1
      resolve({ code, stdout, stderr })
    })
  })
}

function onPath (runtime: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', `command -v ${runtime}`], (error) => resolve(error === null))
  })
}

let good: Stack
let rejected: Stack

t.before(async () => {
  good = await startStack(t, { config: { logLevel: 'silent' } })
  // The proxy holds demo-key, this mock wants another: no token, so the proxy answers 503 itself.
  rejected = await startStack(t, { mock: { apiKey: 'the-real-key' }, ready: false, config: { logLevel: 'silent' } })
  await until(() => rejected.proxy.tokens.status().logins.rejected > 0, 'the proxy\'s login to be rejected')
})

for (const example of CLIENTS) {
  // A missing runtime is reported as a skip with its reason, visible in the test output.
  const skip = await onPath(example.runtime) ? false : `${example.runtime} is not on PATH: the ${example.name} example was not run`
  t.test(example.name, { skip }, async (t) => {
    t.test('prints the answer Roecny gave, fetched with the proxy\'s token', async (t) => {
      const before = good.mock.requests.length
      const result = await run(example, good.url)
      t.equal(result.code, 0, result.stderr)
      t.same(JSON.parse(result.stdout), [
        { currency: 'USD', available_amount: 12500.5, pending_amount: 0, reserved_amount: 0, total_amount: 12500.5 },
        { currency: 'EUR', available_amount: 830, pending_amount: 20, reserved_amount: 0, total_amount: 850 }
      ])
      t.equal(good.mock.requests.length, before + 1, 'one request reached Roecny')
      const seen = good.mock.requests.at(-1)
      t.equal(seen?.headers.authorization, `Bearer ${good.mock.issuedTokens.at(-1) as string}`, 'the proxy attached its token')
      t.equal(seen?.headers['x-api-key'], undefined)
    })

    t.test('tells the proxy\'s own errors apart: exit 2 with the PROXY_* code', async (t) => {
      const result = await run(example, rejected.url)
      t.equal(result.code, 2)
      t.match(result.stderr, /proxy error PROXY_TOKEN_UNAVAILABLE \(HTTP 503\)/)
      t.equal(result.stdout, '')
    })

    t.test('passes Roecny\'s own errors through: exit 1 with the status', async (t) => {
      const result = await run(example, good.url, '/api/v1/test/status/404')
      t.equal(result.code, 1)
      t.match(result.stderr, /Roecny answered HTTP 404: .*mock_status/)
    })
  })
}
