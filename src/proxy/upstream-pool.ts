// The keep-alive pool to Roecny, and a dispatcher that swaps in a new pool when ROECNY_CA_FILE changes.
import { rootCertificates } from 'node:tls'
import type { Dispatcher as Undici } from 'undici'
import { Dispatcher, Pool } from '../undici.js'
import type { Config } from '../config.js'

/**
 * The keep-alive pool to Roecny, for forwarding and login alike; upstream TLS is always verified
 * (reply-from would otherwise not verify). A CA bundle adds to the built-in roots, not replaces them.
 */
export function createUpstreamPool (config: Pick<Config, 'upstreamOrigin' | 'upstreamTimeoutMs' | 'upstreamCa'>, upstreamCa = config.upstreamCa): Pool {
  const ca = upstreamCa === undefined ? undefined : [...rootCertificates, upstreamCa]
  return new Pool(config.upstreamOrigin, {
    connections: 128,
    headersTimeout: config.upstreamTimeoutMs,
    keepAliveTimeout: 30_000,
    connect: ca === undefined ? { rejectUnauthorized: true } : { rejectUnauthorized: true, ca }
  })
}

/**
 * Dispatches to the pool of the current CA bundle. A new bundle gets a new pool, used by every
 * request from then on (forwarded or login); the old pool is closed, which lets the requests on
 * its connections finish and then closes them. Used only with ROECNY_CA_FILE, so a proxy without
 * one dispatches straight to its Pool.
 */
export class RotatingPool extends Dispatcher {
  readonly #make: (ca: string) => Pool
  #ca: string
  #pool: Pool
  /** Old pools still finishing their requests. */
  readonly #retiring = new Set<Pool>()

  constructor (ca: string, make: (ca: string) => Pool) {
    super()
    this.#make = make
    this.#ca = ca
    this.#pool = make(ca)
  }

  /** Swaps in a pool trusting `ca`; false (and nothing done) when it is the bundle in use. */
  replaceCa (ca: string): boolean {
    if (ca === this.#ca) return false
    const old = this.#pool
    this.#ca = ca
    this.#pool = this.#make(ca)
    this.#retiring.add(old)
    old.close().then(() => this.#retiring.delete(old))
    return true
  }

  /** Pools still finishing requests under an older bundle. */
  get retiring (): number {
    return this.#retiring.size
  }

  override dispatch (options: Undici.DispatchOptions, handler: Undici.DispatchHandler): boolean {
    return this.#pool.dispatch(options, handler)
  }

  #all (): Pool[] {
    return [this.#pool, ...this.#retiring]
  }

  override close (): Promise<void>
  override close (callback: () => void): void
  override close (callback?: () => void): Promise<void> | void {
    // Closing a pool twice is safe in undici: the second call waits for the first.
    const closed = Promise.all(this.#all().map((pool) => pool.close())).then(() => {})
    if (callback === undefined) return closed
    closed.then(callback)
  }

  override destroy (): Promise<void>
  override destroy (err: Error | null): Promise<void>
  override destroy (callback: () => void): void
  override destroy (err: Error | null, callback: () => void): void
  override destroy (errOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
    const err = typeof errOrCallback === 'function' ? null : errOrCallback ?? null
    const done = typeof errOrCallback === 'function' ? errOrCallback : callback
    const destroyed = Promise.all(this.#all().map((pool) => pool.destroy(err))).then(() => {})
    if (done === undefined) return destroyed
    destroyed.then(done)
  }
}

/** A plain Pool, or with ROECNY_CA_FILE (which may change) a RotatingPool: decided once, at start. */
export function createUpstreamDispatcher (config: Pick<Config, 'upstreamOrigin' | 'upstreamTimeoutMs' | 'upstreamCa' | 'secretFiles'>): Pool | RotatingPool {
  if (config.secretFiles.ROECNY_CA_FILE === undefined) return createUpstreamPool(config)
  return new RotatingPool(config.upstreamCa as string, (ca) => createUpstreamPool(config, ca))
}
