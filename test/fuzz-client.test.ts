// Fuzzing from the client's side: hostile raw requests, each ended gracefully, half-closed, cut or reset, against a real proxy in front of the mock.
//
// The proxy runs in this process (startProxy on port 0, as serve runs it): a crash is an uncaught
// exception that fails this file at once, with its stack, and coverage sees the paths taken. A
// child process would only show that it died. Invariants after every case: the process answers
// the next request; what the client received is well-formed HTTP/1.1 answers, each whole or cut
// at a close, none saying that the (healthy) upstream failed; nothing that the guards refuse
// reached the mock.
import t from 'tap'
import { request } from 'undici'
import { issuedBearer, mockOracle } from './helpers/fuzz-oracle.js'
import { clientCases, serialise } from './helpers/fuzz-requests.js'
import type { ClientCase } from './helpers/fuzz-requests.js'
import { fuzzSettings, runFuzz, Tally, Violation, wellFormed } from './helpers/fuzz.js'
import { headerOf, readResponses } from './helpers/http-framing.js'
import { openRaw, within } from './helpers/raw-client.js'
import type { RawConnection } from './helpers/raw-client.js'
import { startStack } from './helpers/stack.js'

const settings = fuzzSettings(2000)
const MAX_BODY_BYTES = 4096
/** How long a graceful client waits for an answer to a request the server is still reading. */
const INCOMPLETE_WAIT_MS = 30
const ANSWER_WAIT_MS = 3000
const CLOSE_WAIT_MS = 10_000
/** The mock is healthy: the proxy saying it was unreachable or slow means a request broke the exchange (as Expect once did). */
const UPSTREAM_FAILURES = new Set(['PROXY_UPSTREAM_UNREACHABLE', 'PROXY_UPSTREAM_TIMEOUT'])

t.test('hostile clients: zero deaths, zero malformed answers, nothing refused reaches Roecny', async (t) => {
  const stack = await startStack(t, {
    config: { maxBodyBytes: MAX_BODY_BYTES, denyPaths: ['/api/v1/forbidden/**'], logLevel: 'silent' },
    mock: { recordTargets: true }
  })
  const oracle = mockOracle(stack.mock)
  const tally = new Tally()
  let cases = 0

  /** A whole answer arrived (the last response complete), so a graceful client may hang up. */
  function answered (methods: string[]): (received: string) => boolean {
    return (received) => {
      const read = readResponses(Buffer.from(received, 'latin1'), methods, false)
      const last = read.responses.at(-1)
      return read.malformed !== undefined || (last !== undefined && last.status >= 200 && last.complete)
    }
  }

  async function hangUp (connection: RawConnection, c: ClientCase, bytes: Buffer, methods: string[], incomplete: boolean): Promise<void> {
    const { ending } = c
    switch (ending.kind) {
      case 'graceful':
        connection.socket.write(bytes)
        await connection.waitFor(answered(methods), 'an answer', incomplete ? INCOMPLETE_WAIT_MS : ANSWER_WAIT_MS).catch(() => {})
        connection.socket.end()
        return
      case 'half-close':
        connection.socket.end(bytes)
        return
      case 'reset':
        connection.socket.write(bytes)
        if (ending.after === 'first-byte') await connection.waitFor((received) => received.length > 0, 'a first byte', incomplete ? INCOMPLETE_WAIT_MS : ANSWER_WAIT_MS).catch(() => {})
        connection.reset()
        return
      case 'cut': {
        const cut = bytes.subarray(0, Math.floor(bytes.length * ending.at))
        if (ending.then === 'reset') {
          connection.socket.write(cut)
          await new Promise((resolve) => setImmediate(resolve))
          connection.reset()
        } else {
          connection.socket.end(cut)
        }
      }
    }
  }

  async function stillServing (): Promise<void> {
    const health = await request(`${stack.url}/-/healthz`)
    await health.body.dump()
    if (health.statusCode !== 200) throw new Violation(`the next request got ${health.statusCode}`)
    if (cases % 50 !== 0) return
    const forwarded = await request(`${stack.url}/api/v1/echo/alive-${cases}`)
    const echo = await forwarded.body.json() as { path?: string }
    if (forwarded.statusCode !== 200 || echo.path !== `/api/v1/echo/alive-${cases}`) throw new Violation(`forwarding broke: ${forwarded.statusCode}`)
  }

  const ran = await runFuzz(t, 'client fuzz', settings, clientCases, async (c) => {
    cases++
    const { bytes, methods, incomplete } = serialise(c)
    const what = `case ${JSON.stringify(bytes.toString('latin1').slice(0, 300))} ending ${JSON.stringify(c.ending)}`
    const connection = await openRaw(stack.url)
    await hangUp(connection, c, bytes, methods, incomplete)
    const received = await within(connection.closed, `the connection to end (${what})`, CLOSE_WAIT_MS)
    // A request the proxy never read whole may have been refused before its method counted: its answer is read by its own framing.
    const read = wellFormed(received, c.ending.kind === 'cut' || incomplete ? ['?'] : methods, what)
    const final = read.responses.filter((response) => response.status >= 200)
    const first = final[0]
    for (const response of final) {
      const code = headerOf(response, 'x-roecny-proxy-error')
      if (code !== undefined && UPSTREAM_FAILURES.has(code)) throw new Violation(`${what}: ${code} from a healthy upstream`)
    }
    tally.add(first === undefined ? 'closed without an answer' : `${first.status}${first.complete ? '' : ' (cut)'} ${headerOf(first, 'x-roecny-proxy-error') ?? ''}`.trim())
    await stillServing()
    oracle.check(what)
  })
  // Requests cut by their clients may reach the mock after their case: every target is checked once more.
  oracle.check('after the last case')
  oracle.checkAll()
  t.comment(`client fuzz: ${ran} cases run; first answers: ${tally.toString()}; ${stack.mock.targets.length} requests reached the mock`)
  t.ok(stack.mock.issuedTokens.length >= 1)
  t.ok(issuedBearer(stack.mock), 'every forwarded request carried a token the mock issued')
})
