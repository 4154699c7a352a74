// Request guards: Host, browser origin and CORS, access key, request target, method and path policy, body size.
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { isIP } from 'node:net'
import type { Duplex } from 'node:stream'
import { Transform } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest, onSendHookHandler, preParsingHookHandler } from 'fastify'
import type { Config } from '../config.js'
import { ERROR_HEADER, rawProxyError, sendProxyError } from '../errors.js'
import { LOOPBACK_NAMES } from '../hosts.js'
import { AccessKeys } from './access-keys.js'

export interface Guards {
  /**
   * Answers the request itself when it must not go on (an error, or a CORS preflight) and returns
   * true; returns false to let it through. Own probe routes (`/-/healthz`, `/-/readyz`, `/-/metrics`)
   * pass untouched: they hold no secret, and probes address the pod by IP.
   */
  check: (request: FastifyRequest, reply: FastifyReply) => boolean
  /** Counts chunked request bodies against PROXY_MAX_BODY_BYTES; undefined without a limit. */
  limitBody: preParsingHookHandler | undefined
  /** Sets the CORS response headers; undefined without PROXY_CORS_ORIGINS. */
  corsHeaders: onSendHookHandler | undefined
}

const SLASH = 0x2f
const DASH = 0x2d
const DOT = 0x2e
const PERCENT = 0x25
const BACKSLASH = 0x5c
const HASH = 0x23
const LEFT_BRACKET = 0x5b

const PROBE_PATHS = new Set(['/-/healthz', '/-/readyz', '/-/metrics'])
/** Methods that are never forwarded, so a preflight never announces them. */
const NEVER_FORWARDED = new Set(['CONNECT', 'TRACE'])
/** After percent-decoding: control characters, a backslash, a `.` or `..` segment, or `//` at the start. */
const BAD_DECODED_PATH = /[\x00-\x1f\x7f\\]|(?:^|\/)\.\.?(?:\/|$)|^\/\// // eslint-disable-line no-control-regex -- finding them is the point
const PORT_SUFFIX = /^(?::\d{1,5})?$/
const REPEATED_SLASHES = /\/{2,}/g
/** Matrix parameters (`;jsessionid=...`), which servlet containers cut from a segment before routing. */
const SEGMENT_PARAMETERS = /;[^/]*/g
const CORS_EXPOSED = `${ERROR_HEADER}, retry-after`
const PREFLIGHT_MAX_AGE = '600'

const kTooLarge = Symbol('roecny.bodyTooLarge')
const CLOSE = { connection: 'close' }

/** Set on the counting stream once a chunked body went over the limit. */
class BodyTooLargeError extends Error {
  readonly code = 'PROXY_BODY_TOO_LARGE'
}

/** True when the request's body was cut off for being too large (the upstream request then failed). */
export function bodyWasTooLarge (request: FastifyRequest): boolean {
  return (request.body as { [kTooLarge]?: boolean } | undefined)?.[kTooLarge] === true
}

/** `[v6]:port`, `[v6]`, `name:port`, `name` or a bare IPv6 address: the name part, or undefined when the port is not a number. */
function hostName (host: string): string | undefined {
  let end: number
  if (host.charCodeAt(0) === LEFT_BRACKET) {
    end = host.indexOf(']') + 1
    if (end === 0) return undefined
  } else {
    end = host.indexOf(':')
    // No colon: no port. Two colons or more: a bare IPv6 address, which cannot carry one.
    if (end === -1 || host.indexOf(':', end + 1) !== -1) return host
  }
  return PORT_SUFFIX.test(host.slice(end)) ? host.slice(0, end) : undefined
}

/**
 * True when the request has more than one Host line, which RFC 9112 §3.2 refuses with 400 (Node
 * keeps the first and drops the others, so the check would see one and the sender meant another).
 * A scan of the raw names by length: about 20 ns for a usual request.
 */
function repeatedHost (rawHeaders: string[]): boolean {
  let seen = false
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string
    if (name.length === 4 && (name === 'Host' || name.toLowerCase() === 'host')) {
      if (seen) return true
      seen = true
    }
  }
  return false
}

/** Both spellings of an IPv6 address (`::1`, `[::1]`), as Host carries it bracketed. */
function spellings (host: string): string[] {
  const name = host.toLowerCase()
  return isIP(name) === 6 ? [name, `[${name}]`] : [name]
}

function escapeRegExp (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** `**` any number of whole segments; `*` alone one segment; `*` inside a segment any characters but `/`. */
function patternSource (pattern: string): string {
  if (pattern === '/') return '/'
  const segments = pattern.slice(1).split('/')
  let source = ''
  for (const [index, segment] of segments.entries()) {
    if (segment === '**') source += index === segments.length - 1 ? '(?:/.*)?' : '(?:/[^/]+)*'
    else if (segment === '*') source += '/[^/]+'
    else source += `/${segment.split('*').map(escapeRegExp).join('[^/]*')}`
  }
  return source
}

/** One RegExp for a whole list; case-insensitive, because a deny rule must hold whatever case the upstream ignores. */
export function compilePathPatterns (patterns: readonly string[] | undefined): RegExp | undefined {
  if (patterns === undefined || patterns.length === 0) return undefined
  return new RegExp(`^(?:${patterns.map(patternSource).join('|')})$`, 'i')
}

const TARGET_BAD = -1
const HAS_PERCENT = 1

/**
 * One pass over the raw target, allocating nothing: visible ASCII only, no `\` or `#` anywhere (a
 * URL parser would turn them into `/` or cut the path), no `.` or `..` segment in the path, no `//`
 * at its start. Returns TARGET_BAD, or flags saying whether the path needs decoding.
 */
function scanTarget (url: string, pathEnd: number): number {
  if (url.charCodeAt(1) === SLASH) return TARGET_BAD
  let flags = 0
  let segmentStart = 1
  for (let i = 1; i <= pathEnd; i++) {
    const c = i < pathEnd ? url.charCodeAt(i) : SLASH
    if (c === SLASH) {
      const length = i - segmentStart
      if ((length === 1 || length === 2) && url.charCodeAt(segmentStart) === DOT && url.charCodeAt(i - 1) === DOT) return TARGET_BAD
      segmentStart = i + 1
    } else if (c === PERCENT) {
      flags |= HAS_PERCENT
    } else if (c <= 0x20 || c >= 0x7f || c === BACKSLASH || c === HASH) {
      return TARGET_BAD
    }
  }
  for (let i = pathEnd; i < url.length; i++) {
    const c = url.charCodeAt(i)
    if (c <= 0x20 || c >= 0x7f || c === HASH) return TARGET_BAD
  }
  return flags
}

/** The decoded path, or undefined when an escape is malformed or decodes to something that is refused. */
function decodePath (path: string): string | undefined {
  let decoded: string
  try {
    decoded = decodeURIComponent(path)
  } catch {
    return undefined
  }
  return BAD_DECODED_PATH.test(decoded) ? undefined : decoded
}

/** What the path policy matches: decoded, matrix parameters cut, repeated and trailing slashes dropped. */
function normalisePath (path: string): string {
  let normal = path
  if (normal.includes(';')) normal = normal.replace(SEGMENT_PARAMETERS, '')
  if (normal.includes('//')) normal = normal.replace(REPEATED_SLASHES, '/')
  if (normal.length > 1 && normal.charCodeAt(normal.length - 1) === SLASH) normal = normal.slice(0, -1)
  return normal
}

/** A chunked body passes through this counter; past the limit it fails, which aborts the upstream request. */
function countBody (source: IncomingMessage | NodeJS.ReadableStream, limit: number): Transform {
  let seen = 0
  const counter = new Transform({
    transform (chunk: Buffer, _encoding, callback) {
      seen += chunk.length
      if (seen > limit) {
        (counter as Transform & { [kTooLarge]?: boolean })[kTooLarge] = true
        callback(new BodyTooLargeError('request body over PROXY_MAX_BODY_BYTES'))
        return
      }
      callback(null, chunk)
    }
  })
  // The upstream request reports the failure; a body nobody reads (a GET's) must not crash the process.
  counter.on('error', function ignore () {})
  source.on('error', (err: Error) => counter.destroy(err))
  source.pipe(counter)
  return counter
}

/** `accessKeys`: the keys callers may present, replaceable at run time (default: the configured ones, fixed). */
export function createGuards (config: Config, accessKeys = new AccessKeys(config.accessKeys)): Guards {
  const hostCheck = config.proxySocket === undefined && !config.allowedHosts.includes('*')
  const hosts = new Set([...LOOPBACK_NAMES, ...spellings(config.proxyHost), ...config.allowedHosts.flatMap(spellings)])
  const origins = new Set(config.corsOrigins)
  // Decided once: a file of keys can be rotated, but never emptied (an empty file is ignored).
  const keyCheck = accessKeys.required
  const methods = config.allowMethods === undefined ? undefined : new Set(config.allowMethods)
  const allowHeader = config.allowMethods?.join(', ')
  const allowPaths = compilePathPatterns(config.allowPaths)
  const denyPaths = compilePathPatterns(config.denyPaths)
  const pathPolicy = allowPaths !== undefined || denyPaths !== undefined
  const maxBody = config.maxBodyBytes
  // Clients send the same Host on every request: one string comparison instead of a parse.
  let lastAcceptedHost: string | undefined

  function acceptedHost (host: string | undefined): boolean {
    if (host === undefined) return false
    if (host === lastAcceptedHost) return true
    const name = hostName(host)
    if (name === undefined || !hosts.has(name.toLowerCase())) return false
    lastAcceptedHost = host
    return true
  }

  function preflight (request: FastifyRequest, reply: FastifyReply, origin: string, method: string): void {
    if (NEVER_FORWARDED.has(method) || (methods !== undefined && !methods.has(method))) {
      sendProxyError(reply, 'PROXY_METHOD_NOT_ALLOWED', allowHeader === undefined ? undefined : { allow: allowHeader })
      return
    }
    reply.code(204)
    reply.header('access-control-allow-origin', origin)
    reply.header('access-control-allow-methods', method)
    const requested = request.headers['access-control-request-headers']
    if (requested !== undefined) reply.header('access-control-allow-headers', requested)
    reply.header('access-control-max-age', PREFLIGHT_MAX_AGE)
    reply.header('vary', 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers')
    reply.send()
  }

  /** Host, browser origin and access key: who is calling. True when the request was answered. */
  function checkCaller (request: FastifyRequest, reply: FastifyReply): boolean {
    const headers = request.headers
    if (repeatedHost(request.raw.rawHeaders)) {
      sendProxyError(reply, 'PROXY_BAD_REQUEST')
      return true
    }
    if (hostCheck && !acceptedHost(headers.host)) {
      sendProxyError(reply, 'PROXY_FORBIDDEN_HOST')
      return true
    }
    const origin = headers.origin
    if (origin !== undefined) {
      // `Origin: null` (sandboxed frames, file: pages, some redirects) is never in the set.
      if (!origins.has(origin)) {
        sendProxyError(reply, 'PROXY_FORBIDDEN_ORIGIN')
        return true
      }
      const requestedMethod = headers['access-control-request-method']
      if (request.method === 'OPTIONS' && requestedMethod !== undefined) {
        // A preflight carries no credentials, so it is answered here, before the access key is asked for.
        preflight(request, reply, origin, requestedMethod)
        return true
      }
    } else {
      // Without Origin, a browser still says where a request came from: a cross-site <img> or form GET.
      const site = headers['sec-fetch-site']
      if (site === 'cross-site' || site === 'same-site') {
        sendProxyError(reply, 'PROXY_FORBIDDEN_ORIGIN')
        return true
      }
    }
    if (keyCheck && !accessKeys.accepts(headers['x-proxy-key'])) {
      sendProxyError(reply, 'PROXY_ACCESS_DENIED')
      return true
    }
    return false
  }

  /** Request target, method and path policy, body size: what is asked for. True when the request was answered. */
  function checkRequest (request: FastifyRequest, reply: FastifyReply): boolean {
    const url = request.url
    const query = url.indexOf('?')
    const pathEnd = query === -1 ? url.length : query
    const flags = scanTarget(url, pathEnd)
    if (flags === TARGET_BAD) {
      sendProxyError(reply, 'PROXY_BAD_REQUEST')
      return true
    }
    let path: string | undefined
    if ((flags & HAS_PERCENT) !== 0) {
      path = decodePath(url.slice(0, pathEnd))
      if (path === undefined) {
        sendProxyError(reply, 'PROXY_BAD_REQUEST')
        return true
      }
    }
    if (methods !== undefined && !methods.has(request.method)) {
      sendProxyError(reply, 'PROXY_METHOD_NOT_ALLOWED', { allow: allowHeader as string })
      return true
    }
    if (pathPolicy) {
      const normal = normalisePath(path ?? url.slice(0, pathEnd))
      if (denyPaths?.test(normal) === true || allowPaths?.test(normal) === false) {
        sendProxyError(reply, 'PROXY_PATH_NOT_ALLOWED')
        return true
      }
    }
    const coding = request.headers['transfer-encoding']
    // Node decodes chunked alone and passes a body sent with other codings ("gzip, chunked") on still
    // coded: forwarded without the header that says so, it would reach Roecny as other content.
    if (coding !== undefined && coding.toLowerCase() !== 'chunked') {
      sendProxyError(reply, 'PROXY_BAD_REQUEST', CLOSE)
      return true
    }
    if (maxBody !== undefined) {
      const length = request.headers['content-length']
      // Refused before a byte is read; the connection closes, so the rest of the body is never read either.
      if (length !== undefined && Number(length) > maxBody) {
        sendProxyError(reply, 'PROXY_BODY_TOO_LARGE', CLOSE)
        return true
      }
    }
    return false
  }

  function check (request: FastifyRequest, reply: FastifyReply): boolean {
    // Node reads a request line without a version as HTTP/0.9 and the next line as a header, so a
    // CR/LF in the target would smuggle a header in: only HTTP/1.x is served.
    if (request.raw.httpVersionMajor !== 1) {
      sendProxyError(reply, 'PROXY_BAD_REQUEST')
      return true
    }
    const url = request.url
    if (url.charCodeAt(1) === DASH && url.charCodeAt(2) === SLASH) {
      const query = url.indexOf('?')
      if (PROBE_PATHS.has(query === -1 ? url : url.slice(0, query))) return false
      // `/-/status` and whatever else is under /-/: the caller checks apply, the forwarding policy does not.
      return checkCaller(request, reply)
    }
    return checkCaller(request, reply) || checkRequest(request, reply)
  }

  const limitBody: preParsingHookHandler | undefined = maxBody === undefined
    ? undefined
    : function limitBody (request, _reply, payload, done) {
      // A body with a Content-Length was checked in onRequest, and Node reads no more than it declares.
      if (request.headers['transfer-encoding'] === undefined || request.url.startsWith('/-/')) {
        done(null, payload)
        return
      }
      done(null, countBody(payload, maxBody))
    }

  const corsHeaders: onSendHookHandler | undefined = origins.size === 0
    ? undefined
    : function corsHeaders (request, reply, payload, done) {
      const origin = request.headers.origin
      if (origin !== undefined && origins.has(origin)) {
        // The proxy decides who may read the answer: the upstream's own Allow-Origin is overridden.
        reply.header('access-control-allow-origin', origin)
        if (reply.hasHeader(ERROR_HEADER)) reply.header('access-control-expose-headers', CORS_EXPOSED)
      }
      const vary = reply.getHeader('vary')
      if (vary === undefined) reply.header('vary', 'Origin')
      else if (!/\borigin\b/i.test(String(vary))) reply.header('vary', `${String(vary)}, Origin`)
      done(null, payload)
    }

  return { check, limitBody, corsHeaders }
}

/** The response a connection still owes its client, if any (Node's own clientError answer looks at the same). */
function owedResponse (socket: Duplex): ServerResponse | null | undefined {
  return (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage
}

/** A socket the proxy holds by hand may still fail (a reset, a write after the end): that ends this connection only. */
function ignoreSocketError (): void {}

/**
 * Requests Node's parser refused (control characters or spaces in the target, a malformed request
 * line or header) get the proxy's own 400 instead of a bare one. Nothing of the request is logged:
 * the parser's error carries the raw bytes, headers (and so credentials) included.
 * Node has already given the socket an error listener of its own, so a reset after this ends only it.
 */
export function rejectMalformedRequest (this: FastifyInstance, error: Error & { code?: string, rawPacket?: unknown }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  this.log.debug({ parserError: error.code }, 'malformed request refused')
  let answer: string
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') answer = 'HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n'
  else if (error.code === 'HPE_HEADER_OVERFLOW') answer = 'HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n'
  else answer = rawProxyError('PROXY_BAD_REQUEST')
  // The answer to HEAD has no body, or the client would read the body as the next answer. The bytes
  // refused say whether it was one, when the parser gives them (not when the client cut the request).
  const refused = error.rawPacket
  if (Buffer.isBuffer(refused) && refused.toString('latin1', 0, 5) === 'HEAD ') answer = answer.slice(0, answer.indexOf('\r\n\r\n') + 4)
  // Written into an answer already on its way, the 400 would corrupt it: the connection is only cut then.
  if (socket.writable && owedResponse(socket)?.headersSent !== true) socket.write(answer)
  socket.destroy()
}

/**
 * CONNECT (an authority-form target) asks for a tunnel; Node hands the bare socket over, without an
 * error listener, and would drop the connection without a word. It gets a 400 and is closed: read to
 * its end meanwhile (the tunnel's first bytes are dropped, the client's close is seen), and destroyed
 * after the header timeout if the client never closes its side, so it cannot hold a shutdown up.
 */
export function rejectConnect (this: Server, _request: IncomingMessage, socket: Duplex): void {
  socket.on('error', ignoreSocketError)
  // An earlier request on this connection still waits for its answer: a 400 now would be read as that answer.
  if (owedResponse(socket) != null) {
    socket.destroy()
    return
  }
  socket.resume()
  socket.end(rawProxyError('PROXY_BAD_REQUEST'))
  const linger = setTimeout(() => socket.destroy(), this.headersTimeout)
  socket.once('close', () => clearTimeout(linger))
}
