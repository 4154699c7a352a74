// The one onRequest hook that runs every check before forwarding, cheapest first; the CORS and body-limit hooks; the server-level refusals.
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest, onSendHookHandler, preParsingHookHandler } from 'fastify'
import type { Config } from '../config.js'
import { rawProxyError, sendProxyError } from '../errors.js'
import { bodyLimitHook } from './body-limit.js'
import { AccessKeys } from './access-keys.js'
import { createCallerCheck } from './caller-checks.js'
import { corsHeadersHook } from './cors.js'
import { createTargetCheck } from './target-checks.js'
import { isOwnTarget, pathOf, PROBE_PATHS } from './target.js'

export interface Guards {
  /**
   * Answers the request itself when it must not go on (draining, an error, or a CORS preflight) and
   * returns true; returns false to let it through. Own probe routes (`/-/healthz`, `/-/readyz`,
   * `/-/metrics`) pass the caller checks untouched: they hold no secret, and probes address the pod by IP.
   */
  refused: (request: FastifyRequest, reply: FastifyReply) => boolean
  /** Counts chunked request bodies against PROXY_MAX_BODY_BYTES; undefined without a limit. */
  limitBody: preParsingHookHandler | undefined
  /** Sets the CORS response headers; undefined without PROXY_CORS_ORIGINS. */
  corsHeaders: onSendHookHandler | undefined
}

const SLASH = 0x2f

/** What the guards read of the app's state: past the shutdown delay, every request is refused. */
export interface GuardState {
  readonly closing: boolean
}

/** `accessKeys`: the keys callers may present, replaceable at run time (default: the configured ones, fixed). */
export function createGuards (config: Config, state: GuardState, accessKeys = new AccessKeys(config.accessKeys)): Guards {
  const checkCaller = createCallerCheck(config, accessKeys)
  const checkRequest = createTargetCheck(config)

  function refused (request: FastifyRequest, reply: FastifyReply): boolean {
    if (state.closing) {
      reply.header('connection', 'close')
      sendProxyError(reply, 'PROXY_DRAINING', { 'retry-after': '1' })
      return true
    }
    const url = request.url
    // Only origin-form targets ("/path?query") are forwarded: absolute-form, authority-form and "*" are not.
    if (url.charCodeAt(0) !== SLASH) {
      sendProxyError(reply, 'PROXY_BAD_REQUEST')
      return true
    }
    // Node reads a request line without a version as HTTP/0.9 and the next line as a header, so a
    // CR/LF in the target would smuggle a header in: only HTTP/1.x is served.
    if (request.raw.httpVersionMajor !== 1) {
      sendProxyError(reply, 'PROXY_BAD_REQUEST')
      return true
    }
    if (isOwnTarget(url)) {
      if (PROBE_PATHS.includes(pathOf(url))) return false
      // `/-/status` and whatever else is under /-/: the caller checks apply, the forwarding policy does not.
      return checkCaller(request, reply)
    }
    return checkCaller(request, reply) || checkRequest(request, reply)
  }

  return { refused, limitBody: bodyLimitHook(config.maxBodyBytes), corsHeaders: corsHeadersHook(new Set(config.corsOrigins)) }
}

/**
 * Requests Node's parser refused (control characters or spaces in the target, a malformed request
 * line or header) get the proxy's own 400 instead of a bare one. Nothing of the request is logged:
 * the parser's error carries the raw bytes, headers (and so credentials) included.
 */
export function rejectMalformedRequest (this: FastifyInstance, error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  this.log.debug({ parserError: error.code }, 'malformed request refused')
  let answer: string
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') answer = 'HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n'
  else if (error.code === 'HPE_HEADER_OVERFLOW') answer = 'HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n'
  else answer = rawProxyError('PROXY_BAD_REQUEST')
  if (socket.writable) socket.write(answer)
  socket.destroy()
}

/** CONNECT (an authority-form target) asks for a tunnel; Node would drop the connection without a word. */
export function rejectConnect (_request: IncomingMessage, socket: Duplex): void {
  socket.end(rawProxyError('PROXY_BAD_REQUEST'))
}
