// Forwarding through @fastify/http-proxy, as a Fastify plugin: token injection, header rewrite, 401 replay, error mapping.
// First: @fastify/reply-from then loads the parts of undici in ../undici.ts, not undici's entry point.
import '../undici.js'
import httpProxy from '@fastify/http-proxy'
import type { FastifyReplyFromHooks } from '@fastify/reply-from'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { EventEmitter } from 'node:events'
import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { Config } from '../config.js'
import { sendProxyError } from '../errors.js'
import type { ProxyErrorCode } from '../errors.js'
import type { TokenSource } from '../token/token-source.js'
import { hasBody, stripRequestHeaders } from './headers.js'
import { FORWARDED_METHODS, pathOf, splitTarget } from './target.js'

/** Passed from our request-header rewrite to the dispatcher wrapper, inside the copied headers. */
const kSignal = Symbol('roecny.signal')

/**
 * A forwarded request's abort signal, as undici accepts one: an emitter of 'abort' with an
 * `aborted` flag. Made for every request, so it is an EventEmitter, far cheaper to make and to
 * listen on than an AbortController's EventTarget; Fastify's onRequestAbort hook fires it.
 */
export class ClientGone extends EventEmitter {
  aborted = false

  abort (): void {
    this.aborted = true
    this.emit('abort')
  }
}

/** Response headers that belong to one connection only (RFC 9110 §7.6.1). */
const HOP_BY_HOP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'])

/** Answers that never carry a body (RFC 9110 §15.3.5, §15.4.5), whatever their Content-Length says. */
const BODILESS = new Set([204, 304])

/** Upstream failures that mean Roecny did not answer in time. */
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT'])

export interface ForwardOptions {
  config: Config
  tokens: TokenSource
  dispatcher: Dispatcher
  /** Told the PROXY_* code of every upstream failure (metrics). */
  onUpstreamError: (code: ProxyErrorCode) => void
  /** Runs on forwarded requests before the token is attached: the upstream limits' wait, when configured. */
  beforeToken?: (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The token this request was sent with; `''` before forwarding. */
    roecnyToken: string
    /** `performance.now()` when the upstream request was started, 0 if never. */
    upstreamStart: number
    /** Milliseconds until the upstream's response headers, -1 if none came. */
    upstreamMs: number
    /** The request was already replayed after an upstream 401. */
    replayed: boolean
    /** Aborted when the client goes away before its response is complete; null until forwarding. */
    clientGone: ClientGone | null
  }
}

function ignoreBodyError (): void {}

/**
 * Which PROXY_* answer an upstream failure gets, and the lowest-level error code behind it
 * (reply-from wraps undici's errors in its own FST_* errors; the cause says what happened).
 * Timeouts are 504; refused, reset, DNS and TLS failures and anything else 502.
 */
export function classifyUpstreamError (error: unknown): { proxyCode: ProxyErrorCode, cause: string | undefined } {
  let current: unknown = error
  while (current instanceof Error) {
    const code = (current as NodeJS.ErrnoException).code
    // Some causes carry numeric codes (DOMException's AbortError is 20): only string codes name a failure.
    if (typeof code === 'string' && !code.startsWith('FST_')) {
      return { proxyCode: TIMEOUT_CODES.has(code) ? 'PROXY_UPSTREAM_TIMEOUT' : 'PROXY_UPSTREAM_UNREACHABLE', cause: code }
    }
    current = current.cause
  }
  return { proxyCode: 'PROXY_UPSTREAM_UNREACHABLE', cause: undefined }
}

/**
 * Roecny's answer broke after its head and before the first byte of its body went to the client (a
 * bad chunk size, a reset): the client gets the proxy's own 502 or 504, without any of Roecny's
 * headers, which were already copied onto the reply.
 */
export function failUpstreamBody (reply: FastifyReply, error: Error, onUpstreamError: (code: ProxyErrorCode) => void): FastifyReply {
  const { proxyCode, cause } = classifyUpstreamError(error)
  // undici's parser errors carry no code: their name says what went wrong.
  reply.request.log.warn({ upstreamError: cause ?? (error as Error).name, proxyCode }, 'upstream answer unusable')
  onUpstreamError(proxyCode)
  for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name)
  return sendProxyError(reply, proxyCode)
}

/**
 * Wraps the pool so each upstream request carries an abort signal tied to its client:
 * a client that goes away cancels its upstream request, also before response headers.
 */
export function abortableDispatcher (pool: Dispatcher): Pick<Dispatcher, 'request'> {
  return {
    request (options: Dispatcher.RequestOptions & { headers: Record<string | symbol, unknown> }, callback: unknown) {
      options.signal = options.headers[kSignal] as ClientGone
      return (pool.request as (o: unknown, c: unknown) => unknown)(options, callback)
    }
  } as unknown as Pick<Dispatcher, 'request'> // reply-from only calls request(options, callback)
}

/**
 * Fastify routes the common methods; the WebDAV and other extension methods Node parses are added.
 * Called before any route is declared, so that the proxy's own catch-all for /-/ takes them too
 * (added later, they reached only the forwarding route, and /-/ paths were forwarded).
 */
export function addForwardedMethods (app: FastifyInstance): void {
  for (const method of FORWARDED_METHODS) {
    if (!app.supportedMethods.includes(method)) app.addHttpMethod(method, { hasBody: true })
  }
}

/**
 * Routes every forwarded method on every origin-form path to Roecny. Wrapped with fastify-plugin,
 * so its request decorations and its abort hook reach the app's own hooks (the access log reads
 * `upstreamMs` for every request).
 */
const forwardingPlugin: FastifyPluginAsync<ForwardOptions> = async function forwarding (app, options) {
  const { config, tokens } = options
  const prefix = config.upstreamPathPrefix
  const stripCors = config.corsOrigins.length === 0

  addForwardedMethods(app)
  app.decorateRequest('roecnyToken', '')
  app.decorateRequest('upstreamStart', 0)
  app.decorateRequest('upstreamMs', -1)
  app.decorateRequest('replayed', false)
  app.decorateRequest('clientGone', null)

  function rewriteRequestHeaders (request: FastifyRequest, headers: IncomingHttpHeaders): IncomingHttpHeaders {
    stripRequestHeaders(headers)
    headers.authorization = `Bearer ${request.roecnyToken}`
    // Rides along in the copied headers to the dispatcher wrapper, which takes it out again.
    ;(headers as { [kSignal]?: ClientGone | null })[kSignal] = request.clientGone
    request.upstreamStart = performance.now()
    return headers
  }

  function rewriteHeaders (headers: IncomingHttpHeaders): IncomingHttpHeaders {
    const connection = headers.connection
    if (connection !== undefined) {
      for (const name of String(connection).toLowerCase().split(',')) delete headers[name.trim()]
    }
    for (const name of Object.keys(headers)) {
      // Without PROXY_CORS_ORIGINS no browser may read an answer cross-origin, whatever Roecny allows.
      if (HOP_BY_HOP_RESPONSE.has(name) || (stripCors && name.startsWith('access-control-'))) delete headers[name]
    }
    return headers
  }

  function onError (reply: FastifyReply, { error }: { error: Error }): void {
    // The guard's body counter failed the upstream request on purpose: the client's body was too large.
    if (reply.request.bodyTooLarge) {
      reply.request.log.info({ maxBodyBytes: config.maxBodyBytes }, 'request body too large; upstream request aborted')
      sendProxyError(reply, 'PROXY_BODY_TOO_LARGE', { connection: 'close' })
      return
    }
    const { proxyCode, cause } = classifyUpstreamError(error)
    reply.request.log.warn({ upstreamError: cause, proxyCode }, 'upstream request failed')
    options.onUpstreamError(proxyCode)
    sendProxyError(reply, proxyCode)
  }

  function onResponse (request: FastifyRequest, reply: FastifyReply, res: { statusCode: number, headers: IncomingHttpHeaders, stream: Readable }): void {
    request.upstreamMs = performance.now() - request.upstreamStart
    if (res.statusCode === 401) {
      tokens.invalidate(request.roecnyToken)
      if (!request.replayed && !hasBody(request.headers)) {
        replayAfter401(request, reply, res).catch(/* c8 ignore next -- replay never rejects; kept so a bug cannot crash the process */ (err: unknown) => reply.send(err))
        return
      }
    }
    if (BODILESS.has(res.statusCode)) {
      // undici fails a 304 that states the length of the body it did not send, which RFC 9110 allows
      // (it would become a 500): there is no body to pass on, so its stream is only drained.
      res.stream.on('error', ignoreBodyError)
      res.stream.resume()
      reply.send()
      return
    }
    reply.send(res.stream)
  }

  async function replayAfter401 (request: FastifyRequest, reply: FastifyReply, res: { headers: IncomingHttpHeaders, stream: Readable }): Promise<void> {
    res.stream.resume()
    // The 401's headers were already copied onto the reply; none of them belongs to the answer the client gets.
    for (const name of Object.keys(res.headers)) reply.removeHeader(name)
    const token = await tokens.acquire()
    if (token === undefined) {
      sendProxyError(reply, 'PROXY_TOKEN_UNAVAILABLE', { 'retry-after': String(tokens.retryAfterSeconds()) })
      return
    }
    request.roecnyToken = token
    request.replayed = true
    forward(request, reply)
  }

  const replyHooks = {
    rewriteRequestHeaders,
    rewriteHeaders,
    onResponse,
    onError,
    // reply-from retries GETs that got a 503 up to ten times by default; a transparent proxy never does.
    retryDelay: () => null,
    // The query goes to Roecny byte for byte, not re-encoded by the URL parser.
    queryString: (_search: string | undefined, rawUrl: string) => splitTarget(rawUrl).query
  }
  // reply-from types its hooks for HTTP/2 servers as well, and `res` as a ServerResponse; on this
  // HTTP/1 server `res` is what onResponse declares ({ statusCode, headers, stream }).
  const replyOptions = replyHooks as unknown as FastifyReplyFromHooks

  function forward (request: FastifyRequest, reply: FastifyReply): FastifyReply {
    return reply.from(prefix + pathOf(request.url), replyOptions)
  }

  function useToken (request: FastifyRequest, token: string): void {
    request.roecnyToken = token
    request.clientGone = new ClientGone()
  }

  // Fastify runs this when the connection closes before the answer is complete (its one 'close'
  // listener per request is there anyway, for the access log's abort line).
  app.addHook('onRequestAbort', function cancelUpstream (request, done) {
    // Null when the client left before forwarding began (e.g. while a login was awaited).
    if (request.clientGone !== null) request.clientGone.abort()
    done()
  })

  // A callback hook, not an async one: with a token at hand (nearly always) no promise and no
  // microtask turn are spent per request.
  function attachToken (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
    const token = tokens.current()
    if (token !== undefined) {
      useToken(request, token)
      done()
      return
    }
    tokens.acquire().then(function acquired (waited) {
      if (waited === undefined) {
        sendProxyError(reply, 'PROXY_TOKEN_UNAVAILABLE', { 'retry-after': String(tokens.retryAfterSeconds()) })
        return
      }
      useToken(request, waited)
      done()
    }, done)
  }

  await app.register(httpProxy, {
    upstream: config.upstreamOrigin,
    undici: abortableDispatcher(options.dispatcher),
    disableRequestLogging: true,
    internalRewriteLocationHeader: false,
    httpMethods: [...FORWARDED_METHODS],
    // The plugin's route handler would parse and re-serialise every query before calling `forward`,
    // which sends the raw query anyway (replyOptions.queryString): it is given the path alone.
    preRewrite: pathOf,
    // Fastify runs an array of route hooks in order; the plugin's type names a single one.
    preHandler: (options.beforeToken === undefined ? attachToken : [options.beforeToken, attachToken]) as never,
    replyOptions,
    handler: forward
  })
}

export const forwarding = fp(forwardingPlugin, { name: 'roecny-forwarding', fastify: '5.x' })
