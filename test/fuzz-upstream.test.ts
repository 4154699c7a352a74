// Fuzzing from the upstream's side: broken and hostile answers from the mock's raw fault route, through a real proxy, to a raw client.
//
// The proxy runs in this process, as in the client fuzz suite (a crash fails the file with its
// stack). Invariants after every case: the process answers the next request, and that request gets
// its own answer (no pooled connection out of step); the client received well-formed HTTP/1.1,
// at most one final answer; an answer that looks whole is Roecny's whole answer (its status, and
// its body as framed), never a cut one; a clean answer reaches the client whole.
import t from 'tap'
import { request } from 'undici'
import { serialiseAnswer, upstreamCases } from './helpers/fuzz-answers.js'
import { fuzzSettings, runFuzz, Tally, Violation, wellFormed } from './helpers/fuzz.js'
import { headerOf } from './helpers/http-framing.js'
import { openRaw, within } from './helpers/raw-client.js'
import { startStack } from './helpers/stack.js'

const settings = fuzzSettings(1000)

t.test('broken and hostile upstreams: zero deaths, zero malformed answers, no cut answer passed off as whole', async (t) => {
  const stack = await startStack(t, { config: { logLevel: 'silent' }, mock: { faultRoutes: true } })
  const tally = new Tally()
  let cases = 0

  async function nextGetsItsOwnAnswer (): Promise<void> {
    const path = `/api/v1/echo/after-${cases}`
    const res = await request(`${stack.url}${path}`)
    const text = await res.body.text()
    if (res.statusCode !== 200) throw new Violation(`the next request got ${res.statusCode}: ${text.slice(0, 200)}`)
    const echo = JSON.parse(text) as { path?: string }
    if (echo.path !== path) throw new Violation(`the next request got another's answer: ${text.slice(0, 200)}`)
  }

  const ran = await runFuzz(t, 'upstream fuzz', settings, upstreamCases, async (c) => {
    cases++
    const answer = serialiseAnswer(c)
    const target = stack.mock.rawAnswer(answer.bytes, answer.end)
    const body = c.method === 'POST' ? 'hello' : ''
    const what = `${c.method} answered ${JSON.stringify(answer.bytes.toString('latin1').slice(0, 400))} then ${answer.end}`
    const connection = await openRaw(stack.url)
    connection.socket.write(`${c.method} ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
    const received = await within(connection.closed, `the answer (${what})`, 10_000)
    const read = wellFormed(received, [c.method], what)
    const finals = read.responses.filter((response) => response.status >= 200)
    if (finals.length > 1) throw new Violation(`${what}: ${finals.length} answers to one request`)
    const response = finals[0]
    const proxyError = response === undefined ? undefined : headerOf(response, 'x-roecny-proxy-error')
    tally.add(response === undefined ? 'closed without an answer' : proxyError ?? (response.complete ? 'whole' : 'cut'))
    if (response !== undefined && proxyError === undefined && response.complete) {
      // Looks whole: it must be Roecny's answer, whole.
      if (response.status !== c.status) throw new Violation(`${what}: status ${response.status} for ${c.status}`)
      if (answer.body !== undefined && !answer.whole) throw new Violation(`${what}: a cut body passed off as whole: ${JSON.stringify(response.body.toString('latin1'))}`)
      if (answer.body !== undefined && response.body.toString('latin1') !== answer.body) throw new Violation(`${what}: body ${JSON.stringify(response.body.toString('latin1'))}`)
    }
    if (answer.clean && (response === undefined || proxyError !== undefined || !response.complete)) {
      throw new Violation(`${what}: a clean answer did not reach the client whole: ${JSON.stringify(received.slice(0, 300))}`)
    }
    await nextGetsItsOwnAnswer()
  })
  t.comment(`upstream fuzz: ${ran} cases run; client saw: ${tally.toString()}`)
  t.ok(ran > 0, `${ran} cases, no death, no malformed answer, no cut answer passed off as whole`)
})
