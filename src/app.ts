// Builds the Fastify instance: request guards, the proxy's own routes, forwarding. Never listens.
import Fastify, { LogController } from 'fastify'
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import type { Dispatcher } from 'undici'
import { adminRoutes } from './admin.js'
import type { AdminState } from './admin.js'
import type { Config } from './config.js'
import { sendProxyError, writeProxyError } from './errors.js'
import type { UpstreamLimiter } from './limits/limiter.js'
import { guardConnections, listenerOptions } from './listener.js'
import { createMetrics } from './metrics.js'
import type { ProxyMetrics } from './metrics.js'
import { handleExpectations } from './proxy/expect.js'
import { addForwardedMethods, failUpstreamBody, forwarding } from './proxy/forward.js'
import { createGuards } from './proxy/guards.js'
import type { ProfileGuard } from './proxy/guards.js'
import type { Profile } from './profiles/file.js'
import { clientLeft, decorateRequestContext } from './proxy/request-context.js'
import { isOwnTarget, pathOf } from './proxy/target.js'
import type { AccessKeys } from './proxy/access-keys.js'
import type { TokenSource } from './token/token-source.js'

export interface AppDeps {
  logger: Logger
  tokens: TokenSource
  /** Keep-alive pool to the Roecny origin (TLS verified). */
  dispatcher: Dispatcher
  state: AppState
  uptimeSeconds?: () => number
  /** Prometheus instruments; startProxy also wires logins and the token gauges into them. Default: fresh ones. */
  metrics?: ProxyMetrics
  /** The upstream limits; undefined when none is configured, and then no hook of theirs is registered. */
  limiter?: UpstreamLimiter
  /** The access keys, when a rotated PROXY_ACCESS_KEY_FILE may replace them; default: the configured ones, fixed. */
  accessKeys?: AccessKeys
  /** The file secrets re-read at run time, for /-/status. */
  secrets?: { status: () => object }
  /** Fleet mode, for /-/status: its state, never its URL. */
  fleet?: { status: () => object }
  /** With PROXY_PROFILES_FILE (SPEC §13): undefined without it, and then nothing of profiles is on the request path. */
  profiles?: AppProfiles
}

/** What the app needs of profiles: the caller's profile, its token, its limits, readiness per profile. */
export interface AppProfiles {
  readonly guard: ProfileGuard
  readonly sourceOf: (profile: Profile) => TokenSource
  /** The limiter a profile's requests wait for (undefined: none); with it, the shaping hooks are registered (`limiter` is not used). */
  readonly limiterOf?: (name: string) => UpstreamLimiter | undefined
  /** /-/status's `limits`: UPSTREAM_* per account and each account's state (ProfileLimiters.accountsStatus). */
  readonly limitsStatus: () => object
  /** The names of the profiles without a usable token. */
  readonly unready: () => string[]
  /** Whether the named profile has a usable token; undefined for an unknown name. */
  readonly readyFor: (name: string) => boolean | undefined
}

export interface AppState extends AdminState {
  /** Past the shutdown delay: requests still arriving on open connections are refused. */
  closing: boolean
}

export async function buildApp (config: Config, deps: AppDeps): Promise<FastifyInstance> {
  const { state } = deps
  const metrics = deps.metrics ?? createMetrics()
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger, // pino's Logger is a FastifyBaseLogger; the generic would leak into every type
    // Fastify's two lines per request are replaced by our one access-log line.
    logController: new LogController({ disableRequestLogging: true }),
    // Draining is ours: requests arriving after the delay get PROXY_DRAINING, not Fastify's plain 503.
    return503OnClosing: false,
    // Header and request deadlines, keep-alive, header size; what Node's parser refuses gets our 400.
    ...listenerOptions(config),
    // A URL the router cannot decode (FST_ERR_BAD_URL) or an over-long parameter: the request is at fault.
    frameworkErrors: function frameworkError (_error: FastifyError, _request: FastifyRequest, reply: FastifyReply) {
      return sendProxyError(reply, 'PROXY_BAD_REQUEST')
    }
  })
  guardConnections(app, config)
  // An unmet expectation is answered before Fastify sees the request: logged and counted here.
  handleExpectations(app.server, function expectationFailed (req, res) {
    writeProxyError(res, 'PROXY_EXPECTATION_FAILED')
    const method = req.method as string
    const path = pathOf(req.url as string)
    app.log.info({ method, path, status: res.statusCode }, 'request')
    if (!isOwnTarget(path)) metrics.request(method, res.statusCode, 0, -1)
  })
  const { profiles } = deps
  const guards = createGuards(config, state, deps.accessKeys, profiles?.guard)
  decorateRequestContext(app, profiles !== undefined)

  // Draining, target form, host, origin, access key, target hygiene, method and path policy, body size, login path: cheapest first.
  app.addHook('onRequest', function guard (request, reply, done) {
    if (guards.refused(request, reply)) return
    done()
  })
  // Registered only when configured: without a body limit or CORS origins they cost nothing per request.
  if (guards.limitBody !== undefined) app.addHook('preParsing', guards.limitBody)
  if (guards.corsHeaders !== undefined) app.addHook('onSend', guards.corsHeaders)

  // While closing, answers in flight tell their clients not to reuse the connection, so the listener can close.
  app.addHook('onSend', function closeWhenDraining (_request, reply, payload, done) {
    if (state.closing) reply.header('connection', 'close')
    done(null, payload)
  })

  // One line per request; probes of the proxy's own routes log at debug so they do not drown the rest.
  // With profiles the line names the request's profile ('' when refused before one was chosen); decided once.
  const lineOf = profiles === undefined
    ? function line (request: FastifyRequest, reply: FastifyReply, path: string): object {
      return {
        method: request.method,
        path,
        status: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 100) / 100,
        upstreamMs: request.upstreamMs < 0 ? undefined : Math.round(request.upstreamMs * 100) / 100
      }
    }
    : function profileLine (request: FastifyRequest, reply: FastifyReply, path: string): object {
      return {
        method: request.method,
        path,
        profile: request.proxyProfile?.name ?? '',
        status: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 100) / 100,
        upstreamMs: request.upstreamMs < 0 ? undefined : Math.round(request.upstreamMs * 100) / 100
      }
    }
  // The request path's whole metrics cost: a cached counter child and one or two histogram observations.
  const count = profiles === undefined
    ? function countRequest (request: FastifyRequest, reply: FastifyReply): void {
      metrics.request(request.method, reply.statusCode, reply.elapsedTime, request.upstreamMs)
    }
    : function countProfileRequest (request: FastifyRequest, reply: FastifyReply): void {
      metrics.profileRequest(request.proxyProfile?.name ?? '', request.method, reply.statusCode, reply.elapsedTime, request.upstreamMs)
    }
  // One hook for the line and the count: each onResponse hook costs Fastify a turn of its runner.
  app.addHook('onResponse', function logAndCount (request, reply, done) {
    const path = pathOf(request.url)
    const line = lineOf(request, reply, path)
    if (isOwnTarget(path)) {
      request.log.debug(line, 'request')
    } else {
      request.log.info(line, 'request')
      count(request, reply)
    }
    // A connection that just finished its last answer is idle now; closing it lets shutdown complete.
    if (state.closing) setImmediate(() => app.server.closeIdleConnections())
    done()
  })

  // A client that leaves before its answer is complete is its own outcome, never an upstream failure:
  // this line and this count, nothing else (forwarding cancels its upstream call without a word).
  app.addHook('onRequestAbort', function abortLog (request, done) {
    if (!clientLeft(request)) {
      done()
      return
    }
    request.log.info({ method: request.method, path: pathOf(request.url), aborted: true }, 'client went away')
    metrics.clientAbort()
    done()
  })

  app.setErrorHandler(function onError (error: FastifyError, request, reply) {
    // A Content-Type that is no media type at all ("text", empty) is the request's fault, not ours.
    if (error.statusCode === 400 || error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || error instanceof URIError) {
      return sendProxyError(reply, 'PROXY_BAD_REQUEST')
    }
    // Roecny's head arrived, then its body failed before a byte of it went out: Roecny's fault, not ours.
    if (request.upstreamMs >= 0) return failUpstreamBody(reply, error, metrics.upstreamError)
    request.log.error({ err: { type: error.name, code: error.code, message: error.message } }, 'request failed')
    return sendProxyError(reply, 'PROXY_INTERNAL_ERROR')
  })

  // Every origin-form path of a forwarded method is routed, so what falls through is a method never forwarded.
  app.setNotFoundHandler(function notRouted (_request, reply) {
    return sendProxyError(reply, 'PROXY_METHOD_NOT_ALLOWED')
  })

  // Before any route: the proxy's own catch-all for /-/ takes the extension methods too.
  addForwardedMethods(app)
  await app.register(adminRoutes, {
    tokens: deps.tokens,
    state,
    metrics,
    uptimeSeconds: deps.uptimeSeconds ?? process.uptime,
    limiter: deps.limiter,
    secrets: deps.secrets,
    fleet: deps.fleet,
    profiles
  })
  const limiterOf = profiles?.limiterOf
  await app.register(forwarding, {
    config,
    tokens: deps.tokens,
    dispatcher: deps.dispatcher,
    onUpstreamError: metrics.upstreamError,
    // Decided once, here: without limits none of their hooks is registered and forwarding is untouched.
    limits: limiterOf !== undefined
      ? {
          onWaited: (waitedMs, request) => metrics.profileQueueWait((request.proxyProfile as Profile).name, waitedMs),
          limiterOf: (request) => limiterOf((request.proxyProfile as Profile).name)
        }
      : deps.limiter === undefined ? undefined : { limiter: deps.limiter, onWaited: metrics.queueWait },
    tokensOf: profiles === undefined ? undefined : (request) => profiles.sourceOf(request.proxyProfile as Profile)
  })
  return app
}
