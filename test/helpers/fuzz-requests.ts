// Generators of hostile HTTP/1.x requests as raw bytes, and of the ways a client hangs up after them, for the client-side fuzz suite.
import fc from 'fast-check'

/** Where a request smuggled past the framing would go: it must never reach the upstream. */
export const SMUGGLED_MARK = 'SMUGGLED'
/** Where a second, plainly pipelined request goes: it may be served. */
const PIPELINED = 'GET /api/v1/echo/PIPELINED HTTP/1.1\r\nHost: localhost\r\n\r\n'
const SMUGGLED = `GET /api/v1/echo/${SMUGGLED_MARK} HTTP/1.1\r\nHost: localhost\r\n\r\n`

export type Ending =
  | { kind: 'graceful' }
  | { kind: 'half-close' }
  | { kind: 'reset', after: 'send' | 'first-byte' }
  | { kind: 'cut', at: number, then: 'reset' | 'half-close' }

export type Body =
  | { kind: 'none' }
  /** Content-Length `declared` bytes of `data` (sent whole): exact, more than sent, or fewer (the rest is a pipelined request). */
  | { kind: 'length', data: string, declared: 'exact' | 'more' | 'fewer' }
  | { kind: 'chunked', te: string, chunks: string[], size: 'hex' | 'upper' | 'extension' | 'not-hex' | 'overflow' | 'short', last: boolean }
  /** Framing two parsers could read two ways; one reading smuggles a request in. */
  | { kind: 'smuggle', variant: 'cl-te' | 'te-cl' | 'two-lengths' | 'te-obfuscated', te: string }

export interface ClientCase {
  method: string
  target: string
  /** null: a request line without a version. */
  version: string | null
  headers: Array<[string, string]>
  body: Body
  lineEnd: '\r\n' | '\n'
  tail: 'none' | 'pipelined' | 'garbage'
  ending: Ending
}

export interface SerialisedCase {
  bytes: Buffer
  /** Methods of the requests the bytes hold, in order, for reading the answers (a HEAD answer has no body). */
  methods: string[]
  /** The body as sent leaves the server waiting for more (a graceful client then waits briefly). */
  incomplete: boolean
}

/** Mostly the ordinary, sometimes the hostile: each part of a request is hostile on its own in one case of seven. */
function mostly<T> (ordinary: fc.Arbitrary<T>, hostile: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ arbitrary: ordinary, weight: 6 }, { arbitrary: hostile, weight: 1 })
}

const METHODS = ['GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'PROPFIND', 'SEARCH']
const ODD_METHODS = ['TRACE', 'CONNECT', 'QUERY', 'get', 'G\x00T', 'BREW', '']
const CLEAN_BASES = ['/api/v1/echo/', '/api/v1/echo/', '/api/v1/echo/', '/api/v1/balances/current', '/api/v1/test/status/200',
  '/api/v1/test/status/204', '/api/v1/test/status/304', '/api/v1/test/status/503', '/api/v1/test/bytes/100', '/api/v1/test/bytes/70000', '/-/healthz']
const CLEAN_PIECES = ['a', 'b', '1', '/', '?x=1', '&y=%20', '%2F', '%C3%A9', ';v=2', '.json']
const ODD_BASES = ['/api/v1/echo/', '/api/v1/forbidden/', '/API/v1/Forbidden', '/api/v1/authentication/login', '/api/v1//authentication/login/',
  '/api/v1/authentication/%6cogin', '/-/readyz', '/-/metrics', '/-/status', '/-/', '/', '', '*', 'http://evil.example/api/v1/echo/',
  'evil.example:443', '//evil.example/', '/api/v1/echo/../../']
const ODD_PIECES = ['a', '/', '.', '..', '%2e', '%2E%2e', '%2f', '%5c', '%00', '%0d%0a', '%zz', '%', '%e9', '\\', '#', '?', ';jsessionid=1',
  '~', '+', '@', ':', ' ', '\t', '\x00', '\x01', '\x7f', '\x80', '\xff', '\r', '\n', '\xe9']
const ODD_VERSIONS = ['HTTP/2.0', 'HTTP/1.2', 'HTTP/0.9', 'http/1.1', 'HTTP/1.1 ', 'HTTP/11', null]
const HEADERS: Array<[string, string]> = [
  ['Connection', 'close'], ['Connection', 'keep-alive'], ['Connection', 'Upgrade'], ['Connection', 'x-secret, close'], ['X-Secret', 'hop'],
  ['Upgrade', 'websocket'], ['Upgrade', 'h2c'], ['HTTP2-Settings', 'AAMAAABkAAQAAP__'], ['Expect', '100-continue'],
  ['Authorization', 'Bearer stolen'], ['Proxy-Authorization', 'Basic eDp5'], ['x-api-key', 'guess'], ['x-client-id', 'guess'],
  ['x-proxy-key', 'guess'], ['Cookie', 'a=b'], ['TE', 'trailers'], ['TE', 'gzip'], ['Trailer', 'x-t'], ['Keep-Alive', 'timeout=5'],
  ['Proxy-Connection', 'keep-alive'], ['X-HTTP-Method-Override', 'DELETE'], ['Content-Type', 'application/json'],
  ['Accept-Encoding', 'gzip'], ['Range', 'bytes=0-10'], ['X-Forwarded-For', '10.0.0.1'], ['Sec-Fetch-Site', 'same-origin']
]
const ODD_HEADERS: Array<[string, string]> = [
  ['Origin', 'https://evil.example'], ['Origin', 'null'], ['Sec-Fetch-Site', 'cross-site'], ['Expect', 'x-fancy'],
  ['Access-Control-Request-Method', 'DELETE'], ['X-Folded', 'first\r\n second']
]
const HOSTS: Array<Array<[string, string]>> = [[['Host', 'localhost']], [['Host', 'localhost:8080']], [['Host', '127.0.0.1']], [['host', 'LOCALHOST']], [['Host', '[::1]']]]
const ODD_HOSTS: Array<Array<[string, string]>> = [[['Host', 'evil.example']], [['Host', '']], [['Host', 'localhost:abc']], [], [['Host', 'localhost'], ['Host', 'evil.example']]]
const NAME_CHARS = ['x', 'X', '-', 'a', '1', '_', '.', '!']
const BAD_NAME_CHARS = [...NAME_CHARS, ' ', '\x00', '\x7f', '\xff', '(', '@', '"']
const VALUE_CHARS = ['v', 'V', ' ', '\t', '1', '-', ',', ';', '=', '"', '\x80', '\xff']
const BAD_VALUE_CHARS = [...VALUE_CHARS, '\x00', '\x01', '\x7f', '\r', '\n', '\r\n']
const ODD_TE = ['Chunked', ' chunked', 'chunked, identity', 'identity, chunked', 'gzip, chunked', 'xchunked', 'chunked;q=1', '"chunked"', 'identity']
const DATA = fc.string({ unit: fc.constantFrom('x', 'y', '0', '\r\n', '{', '"', '\x00', '\xff', SMUGGLED), maxLength: 40 })
const CHUNKS = fc.array(DATA.filter((d) => d !== ''), { maxLength: 3 })

const header: fc.Arbitrary<[string, string]> = mostly(
  fc.oneof(
    { arbitrary: fc.constantFrom(...HEADERS), weight: 3 },
    { arbitrary: fc.tuple(fc.string({ unit: fc.constantFrom(...NAME_CHARS), minLength: 1, maxLength: 8 }).map((name) => `X-${name}`), fc.string({ unit: fc.constantFrom(...VALUE_CHARS), maxLength: 12 })), weight: 1 }
  ),
  fc.oneof(
    fc.constantFrom(...ODD_HEADERS),
    fc.tuple(fc.string({ unit: fc.constantFrom(...BAD_NAME_CHARS), minLength: 1, maxLength: 8 }), fc.string({ unit: fc.constantFrom(...BAD_VALUE_CHARS), maxLength: 12 })),
    // Oversized values: within, near and past the 16 KiB limit, and the 70 KB kind.
    fc.constantFrom(1000, 8000, 17_000, 70_000).map((size): [string, string] => ['X-Padding', 'p'.repeat(size)])
  )
)

const body: fc.Arbitrary<Body> = mostly(
  fc.oneof(
    fc.constant<Body>({ kind: 'none' }),
    fc.record({ kind: fc.constant('length' as const), data: DATA, declared: fc.constant('exact' as const) }),
    fc.record({ kind: fc.constant('chunked' as const), te: fc.constant('chunked'), chunks: CHUNKS, size: fc.constantFrom('hex' as const, 'upper' as const, 'extension' as const), last: fc.constant(true) })
  ),
  fc.oneof(
    fc.record({ kind: fc.constant('length' as const), data: DATA, declared: fc.constantFrom('more' as const, 'fewer' as const) }),
    fc.record({
      kind: fc.constant('chunked' as const),
      te: fc.constantFrom('chunked', ...ODD_TE),
      chunks: CHUNKS,
      size: fc.constantFrom('hex' as const, 'not-hex' as const, 'overflow' as const, 'short' as const),
      last: fc.boolean()
    }),
    fc.record({ kind: fc.constant('smuggle' as const), variant: fc.constantFrom('cl-te' as const, 'te-cl' as const, 'two-lengths' as const, 'te-obfuscated' as const), te: fc.constantFrom('chunked', ...ODD_TE) })
  )
)

const ending: fc.Arbitrary<Ending> = fc.oneof(
  { arbitrary: fc.constant<Ending>({ kind: 'graceful' }), weight: 4 },
  { arbitrary: fc.constant<Ending>({ kind: 'half-close' }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('reset' as const), after: fc.constantFrom('send' as const, 'first-byte' as const) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('cut' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), then: fc.constantFrom('reset' as const, 'half-close' as const) }), weight: 2 }
)

export const clientCases: fc.Arbitrary<ClientCase> = fc.record({
  method: mostly(fc.constantFrom(...METHODS), fc.constantFrom(...ODD_METHODS)),
  target: mostly(
    fc.tuple(fc.constantFrom(...CLEAN_BASES), fc.array(fc.constantFrom(...CLEAN_PIECES), { maxLength: 3 })),
    fc.tuple(fc.constantFrom(...ODD_BASES), fc.array(fc.constantFrom(...ODD_PIECES), { maxLength: 4 }))
  ).map(([base, pieces]) => base + pieces.join('')),
  version: mostly(fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0'), fc.constantFrom(...ODD_VERSIONS)),
  headers: fc.tuple(mostly(fc.constantFrom(...HOSTS), fc.constantFrom(...ODD_HOSTS)), fc.array(header, { maxLength: 4 })).map(([host, more]) => [...host, ...more]),
  body,
  lineEnd: mostly(fc.constant('\r\n' as const), fc.constant('\n' as const)),
  tail: mostly(fc.constant('none' as const), fc.constantFrom('pipelined' as const, 'garbage' as const)),
  ending
})

function chunkSize (size: number, spelling: Extract<Body, { kind: 'chunked' }>['size']): string {
  switch (spelling) {
    case 'hex': return size.toString(16)
    case 'upper': return size.toString(16).toUpperCase()
    case 'extension': return `${size.toString(16)};name=value`
    case 'not-hex': return `z${size}`
    case 'overflow': return `1${'0'.repeat(20)}`
    case 'short': return Math.max(0, size - 1).toString(16)
  }
}

/** Framing headers and body bytes; `incomplete` when the server is left waiting for more of the body. */
function frame (plan: Body): { headers: Array<[string, string]>, payload: string, incomplete: boolean } {
  switch (plan.kind) {
    case 'none':
      return { headers: [], payload: '', incomplete: false }
    case 'length': {
      const declared = plan.declared === 'exact' ? plan.data.length : plan.declared === 'more' ? plan.data.length + 10 : Math.floor(plan.data.length / 2)
      // The bytes past a shorter length are a request of their own, plainly pipelined: keep the mark out of them.
      const data = plan.declared === 'fewer' ? plan.data.slice(0, declared) + PIPELINED : plan.data
      return { headers: [['Content-Length', String(declared)]], payload: data, incomplete: plan.declared === 'more' }
    }
    case 'chunked': {
      const chunks = plan.chunks.map((chunk) => `${chunkSize(chunk.length, plan.size)}\r\n${chunk}\r\n`).join('')
      return { headers: [['Transfer-Encoding', plan.te]], payload: chunks + (plan.last ? '0\r\n\r\n' : ''), incomplete: !plan.last }
    }
    case 'smuggle':
      switch (plan.variant) {
        // Read by Transfer-Encoding, the body ends at once and the smuggled request follows.
        case 'cl-te': {
          const payload = `0\r\n\r\n${SMUGGLED}`
          return { headers: [['Content-Length', String(payload.length)], ['Transfer-Encoding', plan.te]], payload, incomplete: false }
        }
        // Read by Content-Length, the body is the chunk-size line and the smuggled request follows.
        case 'te-cl': {
          const size = `${SMUGGLED.length.toString(16)}\r\n`
          return { headers: [['Transfer-Encoding', plan.te], ['Content-Length', String(size.length)]], payload: `${size}${SMUGGLED}\r\n0\r\n\r\n`, incomplete: false }
        }
        // Read by the first length, the body is five bytes and the smuggled request follows.
        case 'two-lengths': {
          const payload = `hello${SMUGGLED}`
          return { headers: [['Content-Length', '5'], ['Content-Length', String(payload.length)]], payload, incomplete: false }
        }
        // A spelling of chunked next to a length that covers everything.
        case 'te-obfuscated': {
          const payload = `0\r\n\r\n${SMUGGLED}`
          return { headers: [['Transfer-Encoding', plan.te], ['Content-Length', String(payload.length)]], payload, incomplete: false }
        }
      }
  }
}

export function serialise (c: ClientCase): SerialisedCase {
  const { headers: framing, payload, incomplete } = frame(c.body)
  const line = c.version === null ? `${c.method} ${c.target}` : `${c.method} ${c.target} ${c.version}`
  const head = [line, ...[...c.headers, ...framing].map(([name, value]) => `${name}: ${value}`)].join(c.lineEnd) + c.lineEnd + c.lineEnd
  let tail = ''
  if (c.tail === 'pipelined') tail = PIPELINED
  else if (c.tail === 'garbage') tail = '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\xff\r\n\r\n'
  const methods = [c.method]
  if (c.body.kind === 'length' && c.body.declared === 'fewer') methods.push('GET')
  if (c.tail === 'pipelined') methods.push('GET')
  return { bytes: Buffer.from(head + payload + tail, 'latin1'), methods, incomplete }
}
