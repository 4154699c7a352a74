// The proxy's own routes under /-/: liveness, readiness, status, metrics; and the admin listener's app. Never forwarded.
import Fastify, { LogController } from 'fastify'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { sendProxyError } from './errors.js'
import { guardConnections, listenerOptions } from './listener.js'
import type { ListenerLimits } from './listener.js'
import { OWN_PATHS, pathOf, PROBE_PATHS } from './proxy/target.js'
import type { UpstreamLimiter } from './limits/limiter.js'
import type { ProxyMetrics } from './metrics.js'
import type { TokenSource } from './token/token-source.js'
import { VERSION } from './version.js'

export interface AdminState {
  /** SIGTERM received: readiness fails at once so traffic moves away. */
  draining: boolean
}

/** Readiness per profile (SPEC §13), and the limits per account, with PROXY_PROFILES_FILE. */
export interface ProfileReadiness {
  /** The names of the profiles without a usable token, in file order. */
  readonly unready: () => string[]
  /** Whether the named profile has a usable token; undefined for a name no profile has. */
  readonly readyFor: (name: string) => boolean | undefined
  /** /-/status's `limits` with profiles: UPSTREAM_* per account and each account's state. */
  readonly limitsStatus: () => object
}

export interface ProbeOptions {
  tokens: TokenSource
  state: AdminState
  metrics: ProxyMetrics
  /** With profiles: readiness names the profiles without a token, and answers for one with `?profile=NAME`. */
  profiles?: ProfileReadiness
}

export interface AdminOptions extends ProbeOptions {
  /** process.uptime-like seconds since start (injected for tests). */
  uptimeSeconds: () => number
  /** The upstream limits, when configured. */
  limiter?: UpstreamLimiter
  /** The file secrets re-read at run time: per variable, its load time and generation; absent without any. */
  secrets?: { status: () => object }
  /** Fleet mode: `fleet: "joining" | "joined" | "degraded"`; absent without REDIS_URL. */
  fleet?: { status: () => object }
}

const NO_STORE = 'no-store'

// Own routes take no body: whatever a client sends is drained, not parsed, so any method gets its answer.
function drainBodies (app: FastifyInstance): void {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', function drainBody (_request, payload, done) {
    payload.resume()
    payload.once('end', () => done(null))
  })
}

/** Liveness, readiness and metrics: on the proxy's listener and on the admin listener alike. */
function probeRoutes (app: FastifyInstance, options: ProbeOptions): void {
  const { tokens, state, metrics } = options

  // Liveness only says the process serves: it never depends on Roecny (a Roecny outage must not restart pods).
  app.get('/-/healthz', async function healthz (_request, reply) {
    reply.header('cache-control', NO_STORE)
    return { status: 'ok' }
  })

  const profiles = options.profiles
  // Decided once: with profiles, ready means every profile has a usable token, or the one asked for.
  app.get('/-/readyz', profiles === undefined
    ? async function readyz (_request, reply) {
      reply.header('cache-control', NO_STORE)
      if (state.draining) return reply.code(503).send({ ready: false, reason: 'draining' })
      if (!tokens.isReady()) return reply.code(503).send({ ready: false, reason: 'no usable Roecny token' })
      return { ready: true }
    }
    : async function profilesReadyz (request: FastifyRequest, reply: FastifyReply) {
      reply.header('cache-control', NO_STORE)
      if (state.draining) return reply.code(503).send({ ready: false, reason: 'draining' })
      const asked = (request.query as { profile?: string | string[] }).profile
      // A name no profile has is a probe pointed at the wrong place (a typo, a removed profile): 404, not "not ready".
      const one = typeof asked === 'string' ? profiles.readyFor(asked) : undefined
      if (asked !== undefined && one === undefined) return sendProxyError(reply, 'PROXY_NOT_FOUND')
      if (one === false) return reply.code(503).send({ ready: false, reason: 'no usable Roecny token', profiles: [asked] })
      const unready = one === true ? [] : profiles.unready()
      if (unready.length > 0) return reply.code(503).send({ ready: false, reason: 'no usable Roecny token', profiles: unready })
      return { ready: true }
    })

  // Gauges are read here, at scrape time; the request path only bumps counters.
  app.get('/-/metrics', async function metricsText (_request, reply) {
    reply.header('cache-control', NO_STORE)
    reply.type(metrics.contentType)
    return await metrics.render()
  })
}

export async function adminRoutes (app: FastifyInstance, options: AdminOptions): Promise<void> {
  const { tokens, state } = options
  drainBodies(app)
  probeRoutes(app, options)

  app.get('/-/status', async function status (_request, reply) {
    reply.header('cache-control', NO_STORE)
    return {
      ready: tokens.isReady() && !state.draining,
      draining: state.draining,
      version: VERSION,
      uptimeSeconds: Math.round(options.uptimeSeconds()),
      ...tokens.status(),
      limits: options.profiles?.limitsStatus() ?? options.limiter?.status() ?? { enabled: false },
      ...(options.secrets === undefined ? {} : { secrets: options.secrets.status() }),
      ...options.fleet?.status()
    }
  })

  // Anything else under /-/ belongs to the proxy too: answered here, never sent to Roecny.
  app.all('/-/*', async function unknownOwnRoute (request, reply) {
    return sendProxyError(reply, OWN_PATHS.includes(pathOf(request.url)) ? 'PROXY_METHOD_NOT_ALLOWED' : 'PROXY_NOT_FOUND')
  })
}

export interface AdminAppDeps extends ProbeOptions {
  logger: Logger
  /** The same bounds on slow and idle clients as the proxy's listener. */
  limits: ListenerLimits
}

/**
 * The admin listener's app: only GET /-/healthz, /-/readyz and /-/metrics, so probes and Prometheus
 * can reach the pod IP while the proxy itself stays on loopback. It forwards nothing and shows no status.
 */
export async function buildAdminApp (deps: AdminAppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger, // pino's Logger is a FastifyBaseLogger, as in app.ts
    logController: new LogController({ disableRequestLogging: true }),
    ...listenerOptions(deps.limits),
    frameworkErrors: function frameworkError (_error: unknown, _request: FastifyRequest, reply: FastifyReply) {
      return sendProxyError(reply, 'PROXY_BAD_REQUEST')
    }
  })
  guardConnections(app, deps.limits)
  // What the admin listener serves is PROBE_PATHS: what kubelet probes and Prometheus need, nothing else.
  // Probes arrive every few seconds: one debug line each, like the proxy's own routes on its listener.
  app.addHook('onResponse', function accessLog (request, reply, done) {
    request.log.debug({ method: request.method, path: pathOf(request.url), status: reply.statusCode, admin: true }, 'request')
    done()
  })
  drainBodies(app)
  probeRoutes(app, deps)
  app.setNotFoundHandler(function notServed (request, reply) {
    return sendProxyError(reply, PROBE_PATHS.includes(pathOf(request.url)) ? 'PROXY_METHOD_NOT_ALLOWED' : 'PROXY_NOT_FOUND')
  })
  return app
}
