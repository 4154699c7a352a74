// Forwarding through @fastify/http-proxy, as a Fastify plugin: token injection, header rewrite, 401 replay, error mapping.
import httpProxy from '@fastify/http-proxy'
import type { FastifyReplyFromHooks } from '@fastify/reply-from'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { Config } from '../config.js'
import { sendProxyError } from '../errors.js'
import type { ProxyErrorCode } from '../errors.js'
import { registerShaping } from '../limits/shaping.js'
import type { ShapingOptions } from '../limits/shaping.js'
import type { TokenSource } from '../token/token-source.js'
import { hasBody, stripRequestHeaders } from './headers.js'
import { clientLeft, UpstreamCall } from './request-context.js'
import { FORWARDED_METHODS, pathOf, splitTarget } from './target.js'

/**
 * Carries a request's UpstreamCall from the request-header rewrite to the dispatcher, inside the
 * headers object. Neither reply-from nor undici offers a per-request channel from a Fastify request
 * to the dispatcher it calls (reply-from cancels nothing before Roecny's headers arrive, and passes
 * the dispatcher only the method, path, headers, body and timeouts), and AsyncLocalStorage costs
 * allocations on every request. This relies on reply-from copying the rewritten headers with
 * Object.assign, which keeps symbol keys, and on undici sending string keys only; the client-abort
 * tests fail if either changes (the call would not be cancelled, or no request would be sent).
 */
const kCall = Symbol('roecny.upstreamCall')

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
  /** The upstream limits, when configured: the plugin then registers their hooks on its routes. */
  limits?: ShapingOptions
  /** With PROXY_PROFILES_FILE: the token source of the request's profile, which then replaces `tokens`. */
  tokensOf?: (request: FastifyRequest) => TokenSource
}

function ignoreBodyError (): void {}

/**
 * Which PROXY_* answer an upstream failure gets, and the lowest-level error code behind it
 * (reply-from and undici wrap errors in others; the cause says what happened).
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

/** Roecny answered with a status over 599, which RFC 9110 does not define and Fastify cannot send. */
class InvalidStatusError extends Error {
  readonly code = 'UPSTREAM_INVALID_STATUS'
}

/**
 * The dispatcher reply-from calls (its `undici` option takes any object with `request`): each call
 * carries its UpstreamCall as abort signal and as undici's `opaque`, which comes back with the
 * outcome. reply-from is handed Roecny's usable answers only; a failed call is answered here and
 * logged once, as reply-from would log every failure at warn with its stack before calling its
 * `onError`, and cannot be told not to. A call cancelled because its client went away is no
 * failure at all: nobody is left to answer, and the abort hooks already logged and counted it.
 */
export function upstreamDispatcher (pool: Dispatcher, failed: (reply: FastifyReply, error: Error) => void): Pick<Dispatcher, 'request'> {
  function settled (err: Error | null, data: Dispatcher.ResponseData<UpstreamCall>): void {
    const call = data.opaque
    if (err !== null) {
      if (!call.aborted) failed(call.reply, err)
      return
    }
    if (data.statusCode > 599) {
      data.body.destroy()
      failed(call.reply, new InvalidStatusError(`Roecny answered with status ${data.statusCode}`))
      return
    }
    (call.answered as (err: null, data: unknown) => void)(null, data)
  }
  return {
    request (options: Dispatcher.RequestOptions<UpstreamCall> & { headers: Record<string | symbol, unknown> }, callback: (err: Error | null, data: unknown) => void) {
      const call = options.headers[kCall] as UpstreamCall
      call.answered = callback
      options.signal = call
      options.opaque = call
      return (pool.request as (o: unknown, c: unknown) => unknown)(options, settled)
    }
  } as unknown as Pick<Dispatcher, 'request'> // reply-from only calls request(options, callback)
}

/** Fastify routes the common methods; the WebDAV and other extension methods Node parses are added. */
export function addForwardedMethods (app: FastifyInstance): void {
  for (const method of FORWARDED_METHODS) {
    if (!app.supportedMethods.includes(method)) app.addHttpMethod(method, { hasBody: true })
  }
}

/**
 * Routes every forwarded method on every origin-form path to Roecny. An encapsulated plugin: its
 * hooks (the token, the upstream limits, cancelling a call whose client left) run on its routes
 * only, never on the proxy's own. The request context it fills is decorated on the root
 * (./request-context.ts), so the app's access log and metrics read it on every request.
 */
export const forwarding: FastifyPluginAsync<ForwardOptions> = async function forwarding (app, options) {
  const { config, tokens, tokensOf } = options

  /** The source the request's token comes from: only a 401's rare path asks, so the branch costs nothing per request. */
  function sourceOf (request: FastifyRequest): TokenSource {
    return tokensOf === undefined ? tokens : tokensOf(request)
  }
  const stripCors = config.corsOrigins.length === 0

  function rewriteRequestHeaders (request: FastifyRequest, headers: IncomingHttpHeaders): IncomingHttpHeaders {
    stripRequestHeaders(headers)
    headers.authorization = `Bearer ${request.roecnyToken}`
    ;(headers as { [kCall]?: UpstreamCall | null })[kCall] = request.upstreamCall
    request.upstreamStart = performance.now()
    return headers
  }

  /**
   * Roecny's headers for the client, in a new object: the hop-by-hop ones, the names its Connection
   * lists and, without PROXY_CORS_ORIGINS, Access-Control-* left out. Deleting them from undici's
   * object instead would turn it into a slow dictionary that reply-from then copies onto the reply
   * (measured: several microseconds a request). `keep-alive` and `close`, nearly every Connection
   * Roecny sends, name no header of their own to drop.
   */
  function rewriteHeaders (headers: IncomingHttpHeaders): IncomingHttpHeaders {
    const connection = headers.connection
    const listed = connection === undefined || connection === 'keep-alive' || connection === 'close'
      ? undefined
      : String(connection).toLowerCase().split(',').map((name) => name.trim())
    const kept: IncomingHttpHeaders = {}
    for (const name in headers) {
      // Without PROXY_CORS_ORIGINS no browser may read an answer cross-origin, whatever Roecny allows.
      if (HOP_BY_HOP_RESPONSE.has(name) || (stripCors && name.startsWith('access-control-')) || listed?.includes(name) === true) continue
      kept[name] = headers[name]
    }
    return kept
  }

  /** An upstream call failed: one warning line, one count, the proxy's own 502 or 504. */
  function failed (reply: FastifyReply, error: Error): void {
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
      // The token of this request's profile is retired, never another profile's.
      sourceOf(request).invalidate(request.roecnyToken)
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
    const source = sourceOf(request)
    const token = await source.acquire()
    if (token === undefined) {
      sendProxyError(reply, 'PROXY_TOKEN_UNAVAILABLE', { 'retry-after': String(source.retryAfterSeconds()) })
      return
    }
    request.roecnyToken = token
    request.replayed = true
    // The same destination as the first call: http-proxy's handler computed it from the path alone.
    reply.from(config.upstreamPathPrefix + pathOf(request.url), replyOptions)
  }

  // reply-from types its hooks for HTTP/2 servers as well, and `res` as a ServerResponse; on this
  // HTTP/1 server `res` is what onResponse declares ({ statusCode, headers, stream }).
  const replyOptions = {
    rewriteRequestHeaders,
    rewriteHeaders,
    onResponse,
    // reply-from retries GETs that got a 503 up to ten times by default; a transparent proxy never does.
    retryDelay: () => null,
    // The query goes to Roecny byte for byte, not re-encoded by the URL parser.
    queryString: (_search: string | undefined, rawUrl: string) => splitTarget(rawUrl).query
  } as unknown as FastifyReplyFromHooks

  function useToken (request: FastifyRequest, reply: FastifyReply, token: string): void {
    request.roecnyToken = token
    request.upstreamCall = new UpstreamCall(reply)
  }

  // Registered first, so a request waits for the limits before it takes its token.
  if (options.limits !== undefined) registerShaping(app, options.limits)

  // A callback hook, not an async one: with a token at hand (nearly always) no promise and no
  // microtask turn are spent per request.
  function waitForToken (source: TokenSource, request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
    source.acquire().then(function acquired (waited) {
      if (waited === undefined) {
        sendProxyError(reply, 'PROXY_TOKEN_UNAVAILABLE', { 'retry-after': String(source.retryAfterSeconds()) })
        return
      }
      useToken(request, reply, waited)
      done()
    }, done)
  }

  // Decided once: with profiles, the token of the request's profile (a lookup per request), else the one source.
  app.addHook('preHandler', tokensOf === undefined
    ? function attachToken (request, reply, done) {
      const token = tokens.current()
      if (token !== undefined) {
        useToken(request, reply, token)
        done()
        return
      }
      waitForToken(tokens, request, reply, done)
    }
    : function attachProfileToken (request, reply, done) {
      const source = tokensOf(request)
      const token = source.current()
      if (token !== undefined) {
        useToken(request, reply, token)
        done()
        return
      }
      waitForToken(source, request, reply, done)
    })

  // Fastify runs this when the connection closes before the answer is complete (its one 'close'
  // listener per request is there anyway, for the access log's abort line).
  app.addHook('onRequestAbort', function cancelUpstream (request, done) {
    // Null when the client left before forwarding began (e.g. while a login was awaited).
    if (request.upstreamCall !== null && clientLeft(request)) request.upstreamCall.abort()
    done()
  })

  await app.register(httpProxy, {
    upstream: config.upstreamOrigin,
    // http-proxy's handler gives reply-from this prefix and the request's path as `dest`.
    rewritePrefix: config.upstreamPathPrefix,
    undici: upstreamDispatcher(options.dispatcher, failed),
    disableRequestLogging: true,
    internalRewriteLocationHeader: false,
    httpMethods: [...FORWARDED_METHODS],
    // The query is left out of `dest` (replyOptions.queryString sends the raw one): otherwise the
    // plugin would parse and re-serialise every query for nothing.
    preRewrite: pathOf,
    replyOptions,
    // http-proxy's own options wrap rewriteHeaders with a Location rewrite (off here) and a regex pass
    // over every response header value, which costs microseconds per answer and removes nothing:
    // undici's parser already refuses the characters it strips. So `dest` is used with our options.
    handler: function forward (_request: FastifyRequest, reply: FastifyReply, dest: string) {
      return reply.from(dest, replyOptions)
    }
  })
}
