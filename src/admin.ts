// The proxy's own routes under /-/: liveness, readiness and status. They are never forwarded.
import type { FastifyInstance } from 'fastify'
import { sendProxyError } from './errors.js'
import type { TokenSource } from './token/token-source.js'
import { VERSION } from './version.js'

export interface AdminState {
  /** SIGTERM received: readiness fails at once so traffic moves away. */
  draining: boolean
}

export interface AdminOptions {
  tokens: TokenSource
  state: AdminState
  /** process.uptime-like seconds since start (injected for tests). */
  uptimeSeconds: () => number
}

const NO_STORE = 'no-store'

export async function adminRoutes (app: FastifyInstance, options: AdminOptions): Promise<void> {
  const { tokens, state } = options
  // Own routes take no body: whatever a client sends is drained, not parsed, so any method gets its answer.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', function drainBody (_request, payload, done) {
    payload.resume()
    payload.once('end', () => done(null))
  })

  // Liveness only says the process serves: it never depends on Roecny (a Roecny outage must not restart pods).
  app.get('/-/healthz', async function healthz (_request, reply) {
    reply.header('cache-control', NO_STORE)
    return { status: 'ok' }
  })

  app.get('/-/readyz', async function readyz (_request, reply) {
    reply.header('cache-control', NO_STORE)
    if (state.draining) return reply.code(503).send({ ready: false, reason: 'draining' })
    if (!tokens.isReady()) return reply.code(503).send({ ready: false, reason: 'no usable Roecny token' })
    return { ready: true }
  })

  app.get('/-/status', async function status (_request, reply) {
    reply.header('cache-control', NO_STORE)
    return {
      ready: tokens.isReady() && !state.draining,
      draining: state.draining,
      version: VERSION,
      uptimeSeconds: Math.round(options.uptimeSeconds()),
      ...tokens.status()
    }
  })

  // Anything else under /-/ belongs to the proxy too: answered here, never sent to Roecny.
  app.all('/-/*', async function unknownOwnRoute (request, reply) {
    const path = request.url.split('?', 1)[0]
    const known = path === '/-/healthz' || path === '/-/readyz' || path === '/-/status'
    return sendProxyError(reply, known ? 'PROXY_METHOD_NOT_ALLOWED' : 'PROXY_NOT_FOUND')
  })
}
