// Generators of broken and hostile upstream answers as raw bytes, with what a client may be shown of each, for the upstream fuzz suite.
import fc from 'fast-check'
import type { RawEnd } from '../../src/mock/faults.js'

export type Framing =
  /** Content-Length: the body's own length, or one that promises more, or fewer (the rest is left over). */
  | { kind: 'length', declared: 'exact' | 'more' | 'fewer' }
  | { kind: 'two-lengths' }
  | { kind: 'chunked', size: 'hex' | 'not-hex' | 'short' | 'long', last: boolean, trailer: boolean }
  /** Content-Length and chunked together. */
  | { kind: 'length-and-chunked' }
  /** Neither: the body runs to the close. */
  | { kind: 'close' }

export interface UpstreamCase {
  method: 'GET' | 'HEAD' | 'POST' | 'DELETE'
  interim: Array<'100' | '101' | '102' | '103'>
  statusLine: 'ok' | 'http/1.0' | 'no-reason' | 'four-digits' | 'lower-case' | 'garbage'
  status: number
  headers: Array<[string, string]>
  /** A header of this many bytes (70 KB is far beyond what an HTTP client accepts). */
  padding: number
  body: string
  framing: Framing
  /** A second response nobody asked for, right after the first. */
  extra: boolean
  end: RawEnd
}

export interface SerialisedAnswer {
  bytes: Buffer
  end: RawEnd
  /** What a client may be shown as a whole answer: the upstream's status and body; undefined for a HEAD or bodiless status. */
  body: string | undefined
  /** Every byte is a valid, whole HTTP/1.1 answer, ended by a close it announced: the client must get it whole. */
  clean: boolean
  /** The upstream's body as framed was whole: only then may the client be shown a whole answer. */
  whole: boolean
}

const STATUSES = [200, 200, 200, 201, 202, 203, 204, 206, 299, 301, 302, 304, 400, 403, 404, 409, 418, 422, 429, 500, 502, 503, 599]
const HEADERS: Array<[string, string]> = [
  ['content-type', 'application/json'], ['content-type', 'text/plain; charset=utf-8'], ['x-request-id', 'r-1'], ['cache-control', 'no-store'],
  ['set-cookie', 'a=b; Path=/'], ['set-cookie', 'c=d'], ['access-control-allow-origin', '*'], ['vary', 'Origin'], ['location', '/api/v1/x'],
  ['connection', 'keep-alive'], ['keep-alive', 'timeout=5'], ['trailer', 'x-checksum'], ['upgrade', 'h2c'], ['proxy-connection', 'close'],
  ['te', 'trailers'], ['x-empty', ''], ['www-authenticate', 'Bearer'], ['retry-after', '1']
]
const ODD_HEADERS: Array<[string, string]> = [['x-bytes', '\x80\xff'], ['x-nul', 'a\x00b'], ['bad name', 'x'], ['x-cr', 'a\rb'], ['x-folded', 'a\r\n b']]
const BODY = fc.string({ unit: fc.constantFrom('a', 'b', '0', ' ', '{', '}', '"', '\r\n', '\x00', '\xff', 'HTTP/1.1 200 OK\r\n'), maxLength: 60 })

/** Mostly the ordinary, sometimes the broken: each part of an answer is broken on its own in one case of `odds`. */
function mostly<T> (ordinary: fc.Arbitrary<T>, broken: fc.Arbitrary<T>, odds = 10): fc.Arbitrary<T> {
  return fc.oneof({ arbitrary: ordinary, weight: odds - 1 }, { arbitrary: broken, weight: 1 })
}

export const upstreamCases: fc.Arbitrary<UpstreamCase> = fc.record({
  method: fc.constantFrom('GET' as const, 'GET' as const, 'GET' as const, 'HEAD' as const, 'POST' as const, 'DELETE' as const),
  interim: mostly(fc.constant([]), fc.array(fc.constantFrom('100' as const, '101' as const, '102' as const, '103' as const), { minLength: 1, maxLength: 2 })),
  statusLine: mostly(fc.constant('ok' as const), fc.constantFrom('http/1.0' as const, 'no-reason' as const, 'four-digits' as const, 'lower-case' as const, 'garbage' as const)),
  status: fc.constantFrom(...STATUSES),
  headers: fc.array(mostly(fc.constantFrom(...HEADERS), fc.constantFrom(...ODD_HEADERS)), { maxLength: 4 }),
  padding: mostly(fc.constant(0), fc.constantFrom(1000, 15_000, 70 * 1024)),
  body: BODY,
  framing: mostly(
    fc.oneof(
      fc.constant<Framing>({ kind: 'length', declared: 'exact' }),
      fc.constant<Framing>({ kind: 'chunked', size: 'hex', last: true, trailer: false }),
      fc.constant<Framing>({ kind: 'close' })
    ),
    fc.oneof(
      fc.record({ kind: fc.constant('length' as const), declared: fc.constantFrom('more' as const, 'fewer' as const) }),
      fc.constant<Framing>({ kind: 'two-lengths' }),
      fc.record({ kind: fc.constant('chunked' as const), size: fc.constantFrom('hex' as const, 'not-hex' as const, 'short' as const, 'long' as const), last: fc.boolean(), trailer: fc.boolean() }),
      fc.constant<Framing>({ kind: 'length-and-chunked' })
    ),
    // The body, where a cut shows or hides, is where most of the trouble is made.
    3
  ),
  extra: mostly(fc.constant(false), fc.constant(true), 6),
  end: mostly(fc.constant<RawEnd>('close'), fc.constantFrom<RawEnd>('reset', 'keep'), 4)
})

function statusLine (c: UpstreamCase): string {
  switch (c.statusLine) {
    case 'ok': return `HTTP/1.1 ${c.status} Whatever`
    case 'http/1.0': return `HTTP/1.0 ${c.status} Whatever`
    case 'no-reason': return `HTTP/1.1 ${c.status} `
    case 'four-digits': return `HTTP/1.1 ${c.status}0 Whatever`
    case 'lower-case': return `http/1.1 ${c.status} Whatever`
    case 'garbage': return 'HTTP/1.1 2x0 ?'
  }
}

interface Framed {
  headers: string[]
  payload: string
  /** What a client may be shown as the body, when the answer arrives whole. */
  shown: string
  /** The body is whole by its own framing. */
  whole: boolean
  /** The answer's framing is broken: an HTTP client fails it as soon as it reads it. */
  broken: boolean
}

/** `extra`: what follows the answer on the connection; a length or a close takes it in as body. */
function frame (c: UpstreamCase, bodiless: boolean, extra: string): Framed {
  const { body, framing } = c
  switch (framing.kind) {
    case 'length': {
      const declared = framing.declared === 'exact' ? body.length : framing.declared === 'more' ? body.length + 7 : Math.floor(body.length / 2)
      const payload = bodiless ? '' : body
      const after = payload + extra
      return { headers: [`content-length: ${declared}`], payload, shown: after.slice(0, declared), whole: bodiless || after.length >= declared, broken: false }
    }
    case 'two-lengths':
      return { headers: [`content-length: ${body.length}`, `content-length: ${body.length + 1}`], payload: body, shown: body, whole: false, broken: true }
    case 'length-and-chunked':
      return { headers: [`content-length: ${body.length}`, 'transfer-encoding: chunked'], payload: body, shown: body, whole: false, broken: true }
    case 'chunked': {
      if (bodiless) return { headers: ['transfer-encoding: chunked'], payload: '', shown: '', whole: true, broken: false }
      const sizes = { hex: body.length, 'not-hex': body.length, short: body.length - 1, long: body.length + 3 }
      const size = framing.size === 'not-hex' ? `g${body.length}` : Math.max(0, sizes[framing.size]).toString(16)
      const chunk = body.length === 0 ? '' : `${size}\r\n${body}\r\n`
      const last = framing.last ? `0\r\n${framing.trailer ? 'x-checksum: 1\r\n' : ''}\r\n` : ''
      const sized = framing.size === 'hex' || body.length === 0
      return { headers: ['transfer-encoding: chunked'], payload: chunk + last, shown: body, whole: framing.last && sized, broken: !sized }
    }
    case 'close':
      return { headers: [], payload: bodiless ? '' : body, shown: body + extra, whole: true, broken: false }
  }
}

export function serialiseAnswer (c: UpstreamCase): SerialisedAnswer {
  // HEAD answers, 204 and 304 have no body whatever their headers say.
  const bodiless = c.method === 'HEAD' || c.status === 204 || c.status === 304
  const extra = c.extra ? 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 8\r\n\r\nsmuggled' : ''
  const framed = frame(c, bodiless, extra)
  const headBroken = c.statusLine !== 'ok' || c.interim.some((status) => status === '100' || status === '101') ||
    c.headers.some(([name, value]) => !/^[a-z-]+$/.test(name) || !/^[\x20-\x7e]*$/.test(value)) || c.padding >= 16_000
  // Left open, an answer still waiting for its body would hold the exchange until undici's body timeout (300 s): it is closed instead.
  // So is one that also says Connection: keep-alive, which wins over the close for an HTTP/1.0 answer:
  // the client would send its next request on a connection the mock never answers again.
  const keepAlive = c.headers.some(([name, value]) => name === 'connection' && value === 'keep-alive')
  const end = c.end === 'keep' && (keepAlive || !(framed.whole && c.framing.kind !== 'close')) ? 'close' : c.end
  // The close is announced, so that no client reuses a connection whose end is on its way; left open
  // behind a second response, the connection is one an HTTP client must drop.
  const closing = end === 'keep' && c.extra ? [] : ['connection: close']
  const padding = c.padding === 0 ? [] : [`x-padding: ${'p'.repeat(c.padding)}`]
  const head = [statusLine(c), ...c.headers.map(([name, value]) => `${name}: ${value}`), ...padding, ...framed.headers, ...closing].join('\r\n') + '\r\n\r\n'
  const interim = c.interim.map((status) => `HTTP/1.1 ${status} Interim\r\n\r\n`).join('')
  const clean = !headBroken && !framed.broken && framed.whole && !c.extra && end === 'close' &&
    !(c.framing.kind === 'length' && c.framing.declared === 'fewer') && !(c.framing.kind === 'chunked' && framed.payload === '' && !bodiless)
  return { bytes: Buffer.from(interim + head + framed.payload + extra, 'latin1'), end, body: bodiless ? undefined : framed.shown, clean, whole: framed.whole && !framed.broken }
}
