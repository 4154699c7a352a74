// CORS: the preflight answered by the proxy, and the response headers that let a listed origin read an answer.
import type { FastifyReply, FastifyRequest, onSendHookHandler } from 'fastify'
import { ERROR_HEADER, sendProxyError } from '../errors.js'
import { NEVER_FORWARDED } from './target.js'

const CORS_EXPOSED = `${ERROR_HEADER}, retry-after`
const PREFLIGHT_MAX_AGE = '600'

/**
 * Answers a preflight from a listed origin: 204 naming the method, or 405 for a method never
 * forwarded or outside PROXY_ALLOW_METHODS (`methods`, with `allowHeader` its Allow line).
 */
export function answerPreflight (request: FastifyRequest, reply: FastifyReply, origin: string, method: string, methods: ReadonlySet<string> | undefined, allowHeader: string | undefined): void {
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

/** The onSend hook that sets the CORS response headers; undefined without origins, so it costs nothing then. */
export function corsHeadersHook (origins: ReadonlySet<string>): onSendHookHandler | undefined {
  if (origins.size === 0) return undefined
  return function corsHeaders (request, reply, payload, done) {
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
}
