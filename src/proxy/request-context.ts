// The request's context: every field the request path keeps per request, typed and given its start value here, decorated once.
import { EventEmitter } from 'node:events'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Passage } from '../limits/shaping.js'
import type { Profile } from '../profiles/file.js'

/**
 * One forwarded request's call to Roecny. Undici takes it as the call's abort signal (an emitter
 * of 'abort' with an `aborted` flag: far cheaper to make and to listen on than an
 * AbortController's EventTarget) and hands it back with the call's outcome, so no closure is made
 * per request. A 401 replay reuses it.
 */
export class UpstreamCall extends EventEmitter {
  aborted = false
  /** reply-from's callback for the call in progress: it passes Roecny's answer on. */
  answered: ((err: Error | null, data: unknown) => void) | undefined = undefined
  readonly reply: FastifyReply

  constructor (reply: FastifyReply) {
    super()
    this.reply = reply
  }

  /** The client went away: undici cancels the call, also before Roecny's response headers. */
  abort (): void {
    this.aborted = true
    this.emit('abort')
  }
}

/**
 * For an onRequestAbort hook: true when the client's connection is gone. Fastify runs those hooks
 * whenever the request stream is destroyed before its end, which also happens with the connection
 * still open: undici destroys a request body it could not send (and leaves the socket alone), and
 * the proxy then still answers that request with its own 502 or 504.
 */
export function clientLeft (request: FastifyRequest): boolean {
  const socket = request.raw.socket as FastifyRequest['raw']['socket'] | null
  return socket !== null && socket.destroyed
}

/**
 * The fields, one Fastify decoration each: they live on the request object itself, so a request
 * costs no context object of its own. A field a new feature needs per request goes here (e.g. the
 * caller's profile, chosen in onRequest).
 */
export interface RequestContext {
  /** The token this request was sent with; `''` before forwarding. */
  roecnyToken: string
  /** `performance.now()` when the upstream request was started, 0 if never. */
  upstreamStart: number
  /** Milliseconds until the upstream's response headers, -1 if none came. */
  upstreamMs: number
  /** The request was already replayed after an upstream 401. */
  replayed: boolean
  /** The call to Roecny; null until the request is forwarded. */
  upstreamCall: UpstreamCall | null
  /** The chunked body went over PROXY_MAX_BODY_BYTES and was cut off (the upstream request then failed). */
  bodyTooLarge: boolean
  /** The request's passage through the upstream limits; null when it is not limited (not forwarded, or no limits). */
  upstreamPassage: Passage | null
  /**
   * The caller's profile (SPEC §13), chosen by the onRequest guard from `x-proxy-key`; null before
   * it is chosen or when none is. Decorated only with PROXY_PROFILES_FILE: without it, nothing reads it.
   */
  proxyProfile: Profile | null
}

declare module 'fastify' {
  interface FastifyRequest extends RequestContext {}
}

/** Decorates the root instance with the request's context, before any hook or route reads it; `profiles`: PROXY_PROFILES_FILE is set. */
export function decorateRequestContext (app: FastifyInstance, profiles = false): void {
  if (profiles) app.decorateRequest('proxyProfile', null)
  app.decorateRequest('roecnyToken', '')
  app.decorateRequest('upstreamStart', 0)
  app.decorateRequest('upstreamMs', -1)
  app.decorateRequest('replayed', false)
  app.decorateRequest('upstreamCall', null)
  app.decorateRequest('bodyTooLarge', false)
  app.decorateRequest('upstreamPassage', null)
}
