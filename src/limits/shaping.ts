// The limits on the request path: a forwarded request waits for its start, holds it until its exchange ends, and tells the limiter what Roecny answered.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { sendProxyError } from '../errors.js'
import type { Lease, Refusal, Ticket, UpstreamLimiter, Waiter } from './limiter.js'

export interface ShapingOptions {
  /** Every request's limiter; unused (and absent) with `limiterOf`. */
  limiter?: UpstreamLimiter
  /** With profiles: the limiter of the request's profile (undefined: that request waits for none), instead of `limiter`. */
  limiterOf?: (request: FastifyRequest) => UpstreamLimiter | undefined
  /** Told how long each forwarded request waited for its start, 0 when it started at once (metrics). */
  onWaited: (waitedMs: number, request: FastifyRequest) => void
}

/**
 * One forwarded request's passage through the limits: the one object it costs. Its lease is
 * released exactly once, whichever way the exchange ends: the answer finished (body included),
 * an upstream error or timeout answered by the proxy, or the client gone. A 401 replay runs
 * inside the same request and so keeps the same lease.
 */
export class Passage implements Waiter {
  lease: Lease | undefined = undefined
  ticket: Ticket | undefined = undefined
  readonly #reply: FastifyReply
  readonly #done: (err?: Error) => void
  readonly #options: ShapingOptions
  /** The limiter it waits for and gives its lease back to. */
  readonly limiter: UpstreamLimiter

  constructor (reply: FastifyReply, done: (err?: Error) => void, options: ShapingOptions, limiter = options.limiter as UpstreamLimiter) {
    this.#reply = reply
    this.#done = done
    this.#options = options
    this.limiter = limiter
  }

  granted (lease: Lease, waitedMs: number): void {
    this.lease = lease
    this.ticket = undefined
    this.#options.onWaited(waitedMs, this.#reply.request)
    this.#done()
  }

  refused (_reason: Refusal, retryAfterSeconds: number): void {
    this.ticket = undefined
    sendProxyError(this.#reply, 'PROXY_RATE_LIMITED', { 'retry-after': String(retryAfterSeconds) })
  }

  /** The exchange is over (or never began): leave the queue or give the lease back. Idempotent. */
  end (): void {
    if (this.ticket !== undefined) {
      this.ticket.leave()
      this.ticket = undefined
    }
    if (this.lease !== undefined) {
      this.limiter.release(this.lease)
      this.lease = undefined
    }
  }
}

function header (reply: FastifyReply, name: string): string | undefined {
  const value = reply.getHeader(name)
  // A repeated Retry-After or Date is ambiguous; treat it as absent.
  return typeof value === 'string' ? value : undefined
}

/**
 * Registers the upstream limits' hooks on `app`, the forwarding plugin's own scope: the preHandler
 * that makes a forwarded request wait for its start (registered before the token is attached, so a
 * request that waited is sent with the freshest one), and the hooks that read Roecny's answers and
 * end a passage. Called only when limits are configured: without them none of this is on the
 * request path.
 */
export function registerShaping (app: FastifyInstance, options: ShapingOptions): void {
  const { limiterOf } = options
  const limiter = options.limiter as UpstreamLimiter

  // Decided once: with profiles, the limiter of the request's profile, if it has one.
  app.addHook('preHandler', limiterOf === undefined
    ? function waitForLimits (request, reply, done) {
      const passage = new Passage(reply, done, options)
      request.upstreamPassage = passage
      passage.ticket = limiter.admit(passage)
    }
    : function waitForProfileLimits (request, reply, done) {
      const own = limiterOf(request)
      if (own === undefined) {
        done()
        return
      }
      const passage = new Passage(reply, done, options, own)
      request.upstreamPassage = passage
      passage.ticket = own.admit(passage)
    })

  // Before the answer's headers go out: a 429 pauses the queue at once, not when its body is done.
  app.addHook('onSend', function readRoecnyAnswer (request, reply, payload, done) {
    const passage = request.upstreamPassage
    const lease = passage?.lease
    // upstreamMs is set once Roecny's headers arrived: the proxy's own answers (PROXY_*) are not Roecny's.
    if (lease !== undefined && request.upstreamMs >= 0) {
      const own = (passage as Passage).limiter
      if (reply.statusCode === 429) own.throttled(lease, header(reply, 'retry-after'), header(reply, 'date'))
      else own.answered(lease)
    }
    done(null, payload)
  })

  app.addHook('onResponse', function releaseWhenAnswered (request, _reply, done) {
    request.upstreamPassage?.end()
    done()
  })

  // Fastify runs this when the connection closes before the answer is complete: a waiting client
  // leaves the queue at once, a forwarded one gives its lease back (its upstream request is cancelled).
  app.addHook('onRequestAbort', function releaseWhenGone (request, done) {
    request.upstreamPassage?.end()
    done()
  })
}
