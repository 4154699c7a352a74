// What every listener gets: bounds on slow and idle clients, and answers for the connections Node's HTTP parser refuses or hands over.
import type { Server, ServerOptions } from 'node:http'
import type { FastifyInstance } from 'fastify'
import { rejectConnect, rejectMalformedRequest } from './proxy/guards.js'

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
