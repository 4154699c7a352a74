// What every listener gets: bounds on slow and idle clients, and answers for the connections Node's HTTP parser refuses or hands over.
import type { IncomingMessage, Server, ServerOptions } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { rawProxyError } from './errors.js'
import { owedResponse, parsedRequest } from './node-internals.js'

export interface ListenerLimits {
  /** From a request's first byte (or the connection's) to the end of its headers. */
  readonly headersTimeoutMs: number
  /** From a request's first byte to the end of its body; 0: no limit. */
  readonly requestTimeoutMs: number
  /** Idle time between requests on a kept-alive connection. */
  readonly keepAliveTimeoutMs: number
  /** Connections open at once on this listener; more are closed as they arrive. */
  readonly maxConnections: number
}

/** Request line and headers together; Node's default, set here so that the limit is the proxy's and the same on every listener. */
export const MAX_HEADER_BYTES = 16 * 1024
/** Node looks for requests past their header or request deadline on a timer; this often, at most. */
const MAX_CHECKING_INTERVAL_MS = 1000

export interface ListenerOptions {
  http: ServerOptions
  requestTimeout: number
  keepAliveTimeout: number
  clientErrorHandler: typeof rejectMalformedRequest
}

/** The Fastify options that set a listener's limits; the clientError handler answers what the parser refused. */
export function listenerOptions (limits: ListenerLimits): ListenerOptions {
  return {
    http: {
      headersTimeout: limits.headersTimeoutMs,
      // Given at creation too, or Node would compare the headers timeout with its own 300 s default.
      requestTimeout: limits.requestTimeoutMs,
      maxHeaderSize: MAX_HEADER_BYTES,
      // Node's default of 30 s would let a trickling client hold its connection up to 30 s past the deadline.
      connectionsCheckingInterval: Math.min(MAX_CHECKING_INTERVAL_MS, Math.ceil(limits.headersTimeoutMs / 4))
    },
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    clientErrorHandler: rejectMalformedRequest
  }
}

/**
 * What listenerOptions cannot say: the connection cap, and CONNECT, which Node hands over as a bare
 * socket (it would otherwise drop the connection without a word). No 'upgrade' listener is added on
 * purpose: without one, Node serves a request with Upgrade as a plain request, through the guards
 * (Upgrade is hop-by-hop and never forwarded), and no socket leaves Node's hands.
 */
export function guardConnections (app: FastifyInstance, limits: ListenerLimits): void {
  const server: Server = app.server
  server.maxConnections = limits.maxConnections
  server.on('connect', rejectConnect)
}

/**
 * The request whose answer a raw error written now would be read as, or undefined when writing one
 * would be read as another answer (or inside one) and the connection must only be cut.
 * - The parser failed in a request's body (a bad chunk, a client that stopped short): that request
 *   reached the app. Only its own answer, not yet begun, may be replaced; answered already, or
 *   behind an earlier answer still owed, the error would be a second answer.
 * - The parser failed in a new request's head: answerable when no earlier answer is still owed.
 */
function unansweredRequest (socket: Duplex): IncomingMessage | 'head' | undefined {
  const owed = owedResponse(socket)
  const incoming = parsedRequest(socket)
  if (incoming != null && !incoming.complete) return owed != null && owed.req === incoming && !owed.headersSent ? incoming : undefined
  return owed == null ? 'head' : undefined
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
  const request = unansweredRequest(socket)
  if (request !== undefined && socket.writable) {
    // The answer to HEAD has no body, or the client would read the body as the next answer. For a new
    // request the refused bytes say whether it was one, when the parser gives them (not for a cut head).
    const refused = error.rawPacket
    const head = request === 'head' ? Buffer.isBuffer(refused) && refused.toString('latin1', 0, 5) === 'HEAD ' : request.method === 'HEAD'
    socket.write(head ? answer.slice(0, answer.indexOf('\r\n\r\n') + 4) : answer)
  }
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
