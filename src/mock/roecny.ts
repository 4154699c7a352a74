// The mock Roecny API: a real HTTP server with the vendor's login endpoint, a few protected
// routes and switches that make it fail in each way the proxy must handle. Each token it issues is
// bound to its login's account, scope and login-as, and a scope covers only its paths (scopeCovers).
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import { createServer } from '../node-http.js'
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { LOGIN_PATH, splitTarget } from '../proxy/target.js'
import { FAULTS, rawAnswer, writeRaw } from './faults.js'
import type { RawAnswer, RawEnd } from './faults.js'
import type { Clock } from '../clock.js'

export const DEMO_CLIENT_ID = 'demo-client'
export const DEMO_API_KEY = 'demo-key'
export { LOGIN_PATH }

/** How the next login answers; every field is optional and falls back to a good login. */
export interface LoginBehaviour {
  /** Answer with this status and `body` (or a Roecny-style error) instead of a token. */
  status?: number
  headers?: Record<string, string>
  /** Raw response body, sent as is (malformed answers). */
  body?: string
  /** Never answer. */
  hang?: boolean
  /** Answer only once the test calls `releaseLogins()`. */
  held?: boolean
  /** Issue this token string instead of a fresh JWT (it is then not accepted by the API). */
  token?: unknown
  /** `expires_at` as sent; `null` leaves the field out. */
  expiresAt?: string | null
  /** Lifetime of this token in seconds. */
  lifetimeSeconds?: number
  /** Leave the `Date` header out. */
  omitDate?: boolean
}

/** How the next API request answers, whatever its path and token (e.g. Roecny's 429 when over its limits). */
export interface ApiBehaviour {
  status: number
  headers?: Record<string, string>
  /** Raw response body; default a Roecny-style JSON error. */
  body?: string
  /** Answer after this many ms on the mock's timer (so several requests can be in flight, then answered together). */
  delayMs?: number
}

export interface MockOptions {
  clientId?: string
  apiKey?: string
  /** Token lifetime in seconds (the vendor grants about 30 minutes). */
  tokenLifetimeSeconds?: number
  /** Serve everything under this path prefix (e.g. `/roecny`), as a gateway in front of Roecny would. */
  pathPrefix?: string
  /** Wall clock of the mock, in ms since the epoch; used for `Date`, `iat`, `exp` and expiry checks. */
  now?: () => number
  /** Serve HTTPS with this PEM key and certificate (the URL is then `https://`). */
  tls?: { key: string, cert: string }
  /**
   * Serve the fault routes under `/api/v1/test/` (hang, held, reset, reset-mid-body, bytes/N,
   * status/NNN, slow/MS, and the raw-socket answers of fault/NAME), which only tests use. Off by
   * default: `demo` and `mock` serve the API alone.
   */
  faultRoutes?: boolean
  /** Keep the method and target of every request received in `targets`, without bound. Off by default. */
  recordTargets?: boolean
  /** Timers of `/api/v1/test/slow/{ms}` (default real ones), so tests can drive them by hand. */
  setTimer?: Clock['setTimer']
}

export interface RecordedRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
  /** The request's body was read to its end (false while it streams, and for good when it was cut off). */
  complete: boolean
  /** The mock's wall clock (`now`) when the request arrived. */
  arrivedAt: number
  /** API requests: what the token they carried was issued for; undefined when it was unknown, expired or revoked (or none was sent). */
  grant?: Grant
}

/** What a token was issued for: the login's account, its `scope` header and its `x-login-as` header. */
export interface Grant {
  readonly clientId: string
  /** Undefined when the login sent no scope (or an empty one): the token has every right of the account. */
  readonly scope: string | undefined
  readonly loginAs: string | undefined
}

/** `r:<area>:<resource>_<action>` reads, `w:<area>:<resource>_<action>` writes: e.g. `r:awx_action:balances_view`. */
const SCOPE_WORD = /^([rw]):[^:\s]+:([a-z0-9_]+)_[a-z0-9]+$/
const READ_METHODS = new Set(['GET', 'HEAD'])

/**
 * The mock's scope rule, a small model of Roecny's: a login without a scope gets every right of its
 * account. Otherwise the scope is a list of words separated by spaces, and a request is covered when
 * one word covers it: `r:<area>:<resource>_<action>` covers GET and HEAD on `/api/v1/<resource>` and
 * below, `w:<area>:<resource>_<action>` every method there (`r:awx_action:balances_view` reads
 * balances, `w:awx_action:transfers_create` creates transfers). Any other word covers nothing.
 */
export function scopeCovers (scope: string | undefined, method: string, path: string): boolean {
  if (scope === undefined) return true
  for (const word of scope.split(/\s+/)) {
    const parsed = SCOPE_WORD.exec(word)
    if (parsed === null) continue
    const [, access, resource] = parsed as unknown as [string, string, string]
    const base = `/api/v1/${resource}`
    const under = path === base || path.startsWith(`${base}/`)
    if (under && (access === 'w' || READ_METHODS.has(method))) return true
  }
  return false
}

export interface MockRoecny {
  readonly server: Server
  /** `http://host:port` (or `https://` with `tls`) of the running mock. */
  readonly url: string
  /** Logins that reached the mock (whatever their answer). */
  readonly logins: RecordedRequest[]
  /** API requests that reached the mock (login excluded), newest last, at most 1,000 kept. */
  readonly requests: RecordedRequest[]
  /** Behaviours the next logins take, first in first out. */
  readonly loginQueue: LoginBehaviour[]
  /** Behaviour of every login once the queue is empty. */
  defaultLogin: LoginBehaviour
  /** Answers the next API requests take (login excluded), first in first out, before any other check. */
  readonly apiQueue: ApiBehaviour[]
  /** API requests (login excluded) being answered right now: from arrival until the answer is sent or the connection closes. */
  readonly inFlight: number
  /** The highest `inFlight` seen; a test may set it back to 0. */
  peakInFlight: number
  /**
   * The client ID and API key pairs a login is accepted with (at first the one from the options).
   * Replace it to rotate: e.g. both the old and the new key during a roll-over, then the new one only.
   */
  acceptedCredentials: Array<{ clientId: string, apiKey: string }>
  /** Every token issued so far, oldest first. */
  readonly issuedTokens: string[]
  /** What a token issued by this mock was issued for; undefined for a token it never issued. */
  grantOf: (token: string) => Grant | undefined
  /** Requests to `/api/v1/test/held` waiting for `releaseHeld()`; each entry resolves when its client went away. */
  readonly held: Array<{ closed: Promise<void> }>
  /** Answers every held request with 200 `{"released":true}`. */
  releaseHeld: () => void
  /** Lets every held login answer. */
  releaseLogins: () => void
  /** Makes every token issued so far unknown to the API (answers 401). */
  revokeAll: () => void
  /** With `recordTargets`: every request received (logins included), oldest first, target as on the wire. */
  readonly targets: Array<{ method: string, url: string }>
  /**
   * With `faultRoutes`: the next request to the returned target is answered with exactly `bytes`,
   * past the HTTP server, and its connection then ends as `end` says (default: closed).
   */
  rawAnswer: (bytes: Buffer | string, end?: RawEnd) => string
  close: () => Promise<void>
}

interface TokenRecord {
  expiresAtMs: number
  revoked: boolean
  grant: Grant
}

const KEEP_REQUESTS = 1000
/** Where the fault routes live, served only with `faultRoutes`. */
const FAULT_PREFIX = '/api/v1/test/'
const PATTERN = Buffer.alloc(64 * 1024, 'roecny-mock-data-')

function base64url (input: Buffer | string): string {
  return Buffer.from(input).toString('base64url')
}

/** `2025-04-25T07:27:04+0000`, the form of the vendor's example. */
export function formatExpiresAt (ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+0000')
}

function record (req: IncomingMessage, arrivedAt: number): RecordedRequest {
  // A server-side IncomingMessage always has a method and a url.
  const recorded = { method: String(req.method), url: String(req.url), headers: req.headers, complete: false, arrivedAt }
  req.once('end', () => { recorded.complete = true })
  return recorded
}

function sendJson (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

/** A header the login sent, as one string; an empty one counts as not sent. */
function loginHeader (req: IncomingMessage, name: string): string | undefined {
  // Node joins a repeated header of these names into one string; only set-cookie comes as a list.
  const text = req.headers[name] as string | undefined
  return text === undefined || text.trim() === '' ? undefined : text
}

function sameSecret (given: string | string[] | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

export async function startMockRoecny (options: MockOptions = {}, host = '127.0.0.1', port = 0): Promise<MockRoecny> {
  const apiKey = options.apiKey ?? DEMO_API_KEY
  const lifetime = options.tokenLifetimeSeconds ?? 1800
  const now = options.now ?? Date.now
  const pathPrefix = options.pathPrefix ?? ''
  const setTimer = options.setTimer ?? function realTimer (fn: () => void, ms: number) {
    const timer = setTimeout(fn, ms)
    return { cancel: () => clearTimeout(timer) }
  }
  const signingKey = randomBytes(32)
  const tokens = new Map<string, TokenRecord>()
  const sockets = new Set<Socket>()
  const logins: RecordedRequest[] = []
  const requests: RecordedRequest[] = []
  const loginQueue: LoginBehaviour[] = []
  const issuedTokens: string[] = []
  const apiQueue: ApiBehaviour[] = []
  let inFlight = 0
  const held: Array<{ closed: Promise<void> }> = []
  const heldResponses: ServerResponse[] = []
  const heldLogins: Array<() => void> = []
  const targets: Array<{ method: string, url: string }> = []
  const rawAnswers = new Map<string, RawAnswer>()
  let rawAnswerCount = 0

  function signToken (subject: string, issuedMs: number, expiresMs: number): string {
    const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))
    const payload = base64url(JSON.stringify({
      type: 'client',
      sub: subject,
      jti: randomUUID(),
      iat: Math.floor(issuedMs / 1000),
      exp: Math.floor(expiresMs / 1000)
    }))
    const signature = base64url(createHmac('sha256', signingKey).update(`${header}.${payload}`).digest())
    return `${header}.${payload}.${signature}`
  }

  function login (req: IncomingMessage, res: ServerResponse): void {
    logins.push(record(req, now()))
    const behaviour = loginQueue.shift() ?? mock.defaultLogin
    if (behaviour.hang === true) return
    if (behaviour.held === true) {
      heldLogins.push(() => answerLogin(req, res, behaviour))
      return
    }
    answerLogin(req, res, behaviour)
  }

  function answerLogin (req: IncomingMessage, res: ServerResponse, behaviour: LoginBehaviour): void {
    const nowMs = now()
    const dateHeader: Record<string, string> = behaviour.omitDate === true ? {} : { date: new Date(nowMs).toUTCString() }
    res.sendDate = false
    const headers = { ...dateHeader, ...behaviour.headers }
    if (behaviour.body !== undefined) {
      res.writeHead(behaviour.status ?? 200, { 'content-type': 'application/json', ...headers })
      res.end(behaviour.body)
      return
    }
    if (behaviour.status !== undefined) {
      sendJson(res, behaviour.status, { code: behaviour.status === 429 ? 'too_many_requests' : 'login_failed', message: `mock login answered ${behaviour.status}` }, headers)
      return
    }
    const accepted = mock.acceptedCredentials.some((pair) => sameSecret(req.headers['x-client-id'], pair.clientId) && sameSecret(req.headers['x-api-key'], pair.apiKey))
    if (!accepted) {
      sendJson(res, 401, { code: 'credentials_invalid', message: 'The client ID or API key is not valid' }, headers)
      return
    }
    const expiresMs = nowMs + (behaviour.lifetimeSeconds ?? lifetime) * 1000
    let token: unknown = behaviour.token
    if (token === undefined) {
      // Accepted above, so the login sent a client ID.
      const grant = { clientId: String(req.headers['x-client-id']), scope: loginHeader(req, 'scope'), loginAs: loginHeader(req, 'x-login-as') }
      token = signToken(grant.clientId, nowMs, expiresMs)
      tokens.set(token as string, { expiresAtMs: expiresMs, revoked: false, grant })
    }
    issuedTokens.push(String(token))
    const body: Record<string, unknown> = { token }
    const expiresAt = behaviour.expiresAt === undefined ? formatExpiresAt(expiresMs) : behaviour.expiresAt
    if (expiresAt !== null) body.expires_at = expiresAt
    sendJson(res, 200, body, headers)
  }

  /** What the request's token was issued for; undefined when it carries none that is known, live and not revoked. */
  function authorised (req: IncomingMessage): Grant | undefined {
    const auth = req.headers.authorization
    if (auth === undefined || !auth.startsWith('Bearer ')) return undefined
    const record = tokens.get(auth.slice(7))
    return record !== undefined && !record.revoked && record.expiresAtMs > now() ? record.grant : undefined
  }

  /** A transfer created: the body is read and counted, an id handed back. */
  function createTransfer (req: IncomingMessage, res: ServerResponse): void {
    let bytes = 0
    req.on('data', (chunk: Buffer) => { bytes += chunk.length })
    req.on('end', () => sendJson(res, 201, { id: randomUUID(), status: 'PENDING', bodyBytes: bytes }))
  }

  function echo (req: IncomingMessage, res: ServerResponse, path: string, query: string): void {
    const hash = createHash('sha256')
    let bytes = 0
    req.on('data', (chunk: Buffer) => { bytes += chunk.length; hash.update(chunk) })
    req.on('end', () => {
      sendJson(res, 200, { method: req.method, url: req.url, path, query, headers: req.headers, bodyBytes: bytes, bodySha256: hash.digest('hex') })
    })
  }

  function streamBytes (res: ServerResponse, total: number): void {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total })
    let left = total
    function pump (): void {
      while (left > 0) {
        const chunk = left >= PATTERN.length ? PATTERN : PATTERN.subarray(0, left)
        left -= chunk.length
        if (!res.write(chunk)) {
          res.once('drain', pump)
          return
        }
      }
      res.end()
    }
    pump()
  }

  /** Counts the request in flight until its answer is sent or its connection closes, whichever comes first. */
  function countInFlight (res: ServerResponse): void {
    inFlight++
    if (inFlight > mock.peakInFlight) mock.peakInFlight = inFlight
    res.once('close', () => { inFlight-- })
  }

  /** Answers after `ms` on the mock's timer, unless the client goes away first. */
  function later (res: ServerResponse, ms: number, answer: () => void): void {
    const timer = setTimer(answer, ms)
    res.once('close', () => timer.cancel())
  }

  function answerScripted (res: ServerResponse, scripted: ApiBehaviour): void {
    const body = scripted.body ?? JSON.stringify({ code: scripted.status === 429 ? 'too_many_requests' : 'mock_status', message: `scripted answer ${scripted.status}` })
    res.writeHead(scripted.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...scripted.headers })
    res.end(body)
  }

  /** The routes only tests use, each a way Roecny can fail or be slow; true when `name` is one. */
  function faultRoute (req: IncomingMessage, res: ServerResponse, name: string): boolean {
    if (name.startsWith('fault/')) {
      fault(req, res, name.slice('fault/'.length))
      return true
    }
    const bytes = /^bytes\/(\d+)$/.exec(name)
    if (bytes !== null) {
      req.resume()
      streamBytes(res, Number(bytes[1]))
      return true
    }
    if (name === 'hang') return true
    const slowMs = /^slow\/(\d+)$/.exec(name)
    if (slowMs !== null) {
      req.resume()
      later(res, Number(slowMs[1]), () => sendJson(res, 200, { slowMs: Number(slowMs[1]) }))
      return true
    }
    if (name === 'held') {
      req.resume()
      heldResponses.push(res)
      held.push({ closed: new Promise((resolve) => res.once('close', () => resolve())) })
      return true
    }
    if (name === 'reset') {
      req.socket.destroy()
      return true
    }
    if (name === 'reset-mid-body') {
      req.resume()
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 1000 })
      res.write(PATTERN.subarray(0, 100), () => res.socket?.destroy())
      return true
    }
    const status = /^status\/(\d{3})$/.exec(name)
    if (status !== null) {
      req.resume()
      sendJson(res, Number(status[1]), { code: 'mock_status', message: `status ${status[1]} as asked` }, { location: '/api/v1/balances/current', 'access-control-allow-origin': '*', vary: 'Accept-Encoding' })
      return true
    }
    return false
  }

  function api (req: IncomingMessage, res: ServerResponse, path: string, query: string): void {
    const recorded = record(req, now())
    requests.push(recorded)
    if (requests.length > KEEP_REQUESTS) requests.shift()
    countInFlight(res)
    const scripted = apiQueue.shift()
    if (scripted !== undefined) {
      req.resume()
      if (scripted.delayMs === undefined) answerScripted(res, scripted)
      else later(res, scripted.delayMs, () => answerScripted(res, scripted))
      return
    }
    const grant = authorised(req)
    if (grant === undefined) {
      req.resume()
      sendJson(res, 401, { code: 'unauthorized', message: 'Access token is missing, unknown or expired' }, { 'www-authenticate': 'Bearer' })
      return
    }
    recorded.grant = grant
    if (!scopeCovers(grant.scope, String(req.method), path)) {
      req.resume()
      sendJson(res, 403, { code: 'insufficient_scope', message: 'The access token\'s scope does not cover this request' })
      return
    }
    if (path === '/api/v1/balances/current' && req.method === 'GET') {
      sendJson(res, 200, [
        { currency: 'USD', available_amount: 12500.5, pending_amount: 0, reserved_amount: 0, total_amount: 12500.5 },
        { currency: 'EUR', available_amount: 830, pending_amount: 20, reserved_amount: 0, total_amount: 850 }
      ])
      return
    }
    if (path === '/api/v1/transfers/create' && req.method === 'POST') {
      createTransfer(req, res)
      return
    }
    if (path.startsWith('/api/v1/echo')) {
      echo(req, res, path, query)
      return
    }
    if (options.faultRoutes === true && path.startsWith(FAULT_PREFIX) && faultRoute(req, res, path.slice(FAULT_PREFIX.length))) return
    req.resume()
    sendJson(res, 404, { code: 'not_found', message: 'No such route on the mock Roecny API' })
  }

  function fault (req: IncomingMessage, res: ServerResponse, name: string): void {
    const answer = Object.hasOwn(FAULTS, name) ? FAULTS[name] : rawAnswers.get(name)
    if (answer === undefined) {
      req.resume()
      sendJson(res, 404, { code: 'not_found', message: 'No such fault on the mock Roecny API' })
      return
    }
    rawAnswers.delete(name)
    writeRaw(req, answer)
  }

  function handle (req: IncomingMessage, res: ServerResponse): void {
    const fullUrl = String(req.url)
    if (options.recordTargets === true) targets.push({ method: String(req.method), url: fullUrl })
    if (!fullUrl.startsWith(pathPrefix)) {
      req.resume()
      sendJson(res, 404, { code: 'not_found', message: 'Outside the mock\'s path prefix' })
      return
    }
    const { path, query } = splitTarget(fullUrl.slice(pathPrefix.length))
    if (path === LOGIN_PATH && req.method === 'POST') {
      req.resume()
      login(req, res)
      return
    }
    api(req, res, path, query)
  }

  const server = options.tls === undefined
    ? createServer({ keepAliveTimeout: 60_000 }, handle)
    : createTlsServer({ keepAliveTimeout: 60_000, key: options.tls.key, cert: options.tls.cert }, handle)
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  const address = server.address() as AddressInfo
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address

  const mock: MockRoecny = {
    server,
    url: `${options.tls === undefined ? 'http' : 'https'}://${shownHost}:${address.port}`,
    logins,
    requests,
    loginQueue,
    defaultLogin: {},
    apiQueue,
    get inFlight () { return inFlight },
    peakInFlight: 0,
    acceptedCredentials: [{ clientId: options.clientId ?? DEMO_CLIENT_ID, apiKey }],
    issuedTokens,
    grantOf (token) {
      return tokens.get(token)?.grant
    },
    held,
    releaseLogins () {
      for (const answer of heldLogins.splice(0)) answer()
    },
    releaseHeld () {
      for (const res of heldResponses.splice(0)) sendJson(res, 200, { released: true })
    },
    revokeAll () {
      for (const record of tokens.values()) record.revoked = true
    },
    targets,
    rawAnswer (bytes, end) {
      const name = `raw-${++rawAnswerCount}`
      rawAnswers.set(name, rawAnswer(bytes, end))
      return `${FAULT_PREFIX}fault/${name}`
    },
    async close () {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
  return mock
}
