// The connection to the fleet's Redis: a command client and a subscriber, every command bounded, and the joined/degraded state.
import { rootCertificates } from 'node:tls'
import { createClient } from '@redis/client'
import type { Logger } from 'pino'
import type { Clock, TimerHandle } from '../clock.js'

/** joining: the first connection is being made; joined: Redis answers; degraded: it does not, each replica goes on alone. */

/**
 * For a Redis call whose failure is already handled elsewhere (the client's 'error' event reports
 * it and the link degrades) or costs nothing (a lease or a lock lapses by itself): one named
 * handler for every such place.
 */
export function ignoreRedisFailure (): void {}

export type FleetState = 'joining' | 'joined' | 'degraded'

/**
 * Longest wait for one Redis command: a healthy Redis answers within milliseconds; this leaves room for
 * a replica whose own event loop is busy (many processes starting on few cores) not to call Redis slow.
 */
export const COMMAND_TIMEOUT_MS = 2000
/**
 * How often the link asks Redis, with a bounded PING, whether it answers: while joined, so that a Redis
 * that stalls shows as degraded within seconds even on a replica that sends it nothing else (no limits);
 * while degraded, whether it is back on a connection that stayed up (Redis slow, not gone).
 */
export const PROBE_MS = 1000
/** The first reconnection delay; each next one doubles, up to the cap, with jitter. */
export const RECONNECT_BASE_MS = 100
/** The longest delay between two reconnection attempts: a Redis that stays away costs each replica a few attempts a minute. */
export const RECONNECT_CAP_MS = 30_000

/** Redis could not be used for this step: the caller goes on alone. Its message names no secret. */
export class FleetUnavailable extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'FleetUnavailable'
  }
}

export type RedisClient = ReturnType<typeof createClient>

export interface FleetLinkOptions {
  /** REDIS_URL: may hold a password, which no log line or error carries. */
  readonly url: string
  /** REDIS_CA_FILE's certificates, trusted besides the system roots for rediss://. */
  readonly ca: string | undefined
  /** No command waits longer than this. */
  readonly commandTimeoutMs: number
  /** The first connection may take this long (LOGIN_TIMEOUT_MS: the first login waits for it) before the link is degraded. */
  readonly joinTimeoutMs: number
  readonly clock: Clock
  readonly log: Logger
  /** Told of each change of state (metrics). */
  readonly onState?: (state: FleetState) => void
  /** How often the link asks Redis whether it answers (PROBE_MS; tests shorten it). */
  readonly probeMs: number
  /** The longest delay between two reconnection attempts (RECONNECT_CAP_MS; tests shorten it). */
  readonly reconnectCapMs: number
}

/** The message of a Redis error with any credential of `url` taken out. */
export function redact (message: string, url: string): string {
  let text = message.split(url).join('redis-url')
  // The configuration checked that the URL parses.
  const { password, username } = new URL(url)
  for (const secret of [password, decodeURIComponent(password), username, decodeURIComponent(username)]) {
    if (secret.length > 0) text = text.split(secret).join('***')
  }
  return text
}

/**
 * The delay before reconnection attempt `retries` + 1: doubling from RECONNECT_BASE_MS up to `capMs`, of
 * which the upper half is drawn at random (`random` in [0, 1)). At least half the step, so the delays
 * grow whatever the draw; the rest at random, so replicas that lost Redis together do not return together.
 */
export function reconnectDelay (retries: number, capMs: number, random: number): number {
  const step = Math.min(capMs, RECONNECT_BASE_MS * 2 ** Math.min(retries, 30))
  return Math.round(step / 2 + random * step / 2)
}

export class FleetLink {
  readonly #options: FleetLinkOptions
  #url: string
  #ca: string | undefined
  #client!: RedisClient
  #subscriber!: RedisClient
  #state: FleetState = 'joining'
  /** Degraded since the link was last joined: the next join is a return, however it comes (reconnection, probe, new URL or CA). */
  #away = false
  /** Settles when the first connection is made or has failed: the first step waits for it, bounded. */
  #settled!: Promise<void>
  #settle: (() => void) | undefined
  #probe: TimerHandle | undefined
  #probing = false
  readonly #channels = new Map<string, () => void>()
  readonly #joinListeners = new Set<() => void>()
  #closed = false

  constructor (options: FleetLinkOptions) {
    this.#options = options
    this.#url = options.url
    this.#ca = options.ca
    this.#connect()
    this.#scheduleProbe()
  }

  state (): FleetState {
    return this.#state
  }

  /**
   * Runs one step against Redis. Throws FleetUnavailable at once while degraded (no replica waits on a
   * Redis known to be away), or when the step fails or outlasts the command timeout; the link is then degraded.
   */
  async run<T> (step: (client: RedisClient) => Promise<T>): Promise<T> {
    if (this.#state === 'joining') await this.#settled
    if (this.#state !== 'joined') throw new FleetUnavailable('Redis is unavailable')
    try {
      return await this.#bounded(step(this.#client))
    } catch (err) {
      this.#degrade(err)
      throw new FleetUnavailable('Redis is unavailable')
    }
  }

  /**
   * Sends one step on the connection as it is, whatever the state, and forgets it. On a connection that
   * is up but stalled, it is queued behind every command still waiting there, so Redis runs it after
   * them: what undoes a late command's effect is sent this way. On a connection that is down it fails at once.
   */
  send (step: (client: RedisClient) => Promise<unknown>): void {
    step(this.#client).catch(ignoreRedisFailure)
  }

  /** Calls `listener` each time the link joins (the first time and every return), until the returned function is called. */
  onJoin (listener: () => void): () => void {
    this.#joinListeners.add(listener)
    return () => { this.#joinListeners.delete(listener) }
  }

  /** Calls `listener` on every message of `channel` (a hint: messages may be lost); kept across reconnections. */
  listen (channel: string, listener: () => void): void {
    this.#channels.set(channel, listener)
    this.#subscriber.subscribe(channel, listener).catch(ignoreRedisFailure) // The subscriber's own 'error' event reports it.
  }

  /** A rotated REDIS_URL_FILE: connects anew. False when it is the URL in use. */
  replaceUrl (url: string): boolean {
    if (url === this.#url) return false
    this.#url = url
    this.#reconnect()
    return true
  }

  /** A rotated REDIS_CA_FILE: connects anew, trusting the new bundle. False when it is the bundle in use. */
  replaceCa (ca: string): boolean {
    if (ca === this.#ca) return false
    this.#ca = ca
    this.#reconnect()
    return true
  }

  /** Closes both connections. Final. */
  close (): void {
    this.#closed = true
    this.#probe?.cancel()
    this.#probe = undefined
    this.#disconnect()
  }

  /**
   * The client's own command timeout covers only the wait to be sent: a command already written waits for
   * its reply for ever. This bound covers the whole round trip; the reply, if it ever comes, is dropped.
   */
  async #bounded<T> (pending: Promise<T>): Promise<T> {
    const ms = this.#options.commandTimeoutMs
    let timer: TimerHandle | undefined
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = this.#options.clock.setTimer(() => reject(new Error(`no answer within ${ms} ms`)), ms)
    })
    try {
      return await Promise.race([pending, timedOut])
    } finally {
      (timer as TimerHandle).cancel()
    }
  }

  #create (connection: 'commands' | 'subscriber'): RedisClient {
    const { commandTimeoutMs, clock, log } = this.#options
    const capMs = this.#options.reconnectCapMs
    const tls = this.#url.toLowerCase().startsWith('rediss:')
    return createClient({
      url: this.#url,
      // A command while the connection is down fails at once rather than waiting in a queue.
      disableOfflineQueue: true,
      commandOptions: { timeout: commandTimeoutMs },
      socket: {
        connectTimeout: this.#options.joinTimeoutMs,
        reconnectStrategy (retries: number): number {
          const delayMs = reconnectDelay(retries, capMs, clock.random())
          log.debug({ connection, attempt: retries + 1, delayMs }, 'fleet: connecting to Redis again after a delay')
          return delayMs
        },
        // TLS is always verified: against the system roots, plus REDIS_CA_FILE's certificates when given.
        ...(tls && this.#ca !== undefined ? { tls: true, ca: [...rootCertificates, this.#ca] } : {})
      }
    })
  }

  #connect (): void {
    const client = this.#create('commands')
    const subscriber = this.#create('subscriber')
    this.#client = client
    this.#subscriber = subscriber
    this.#settled = new Promise((resolve) => { this.#settle = resolve })
    const timer = this.#options.clock.setTimer(() => {
      if (this.#client === client && this.#state === 'joining') this.#degrade(new Error(`no connection within ${this.#options.joinTimeoutMs} ms`))
    }, this.#options.joinTimeoutMs)
    client.on('ready', () => {
      timer.cancel()
      if (this.#client === client) this.#join()
    })
    client.on('error', (err: unknown) => {
      if (this.#client === client) this.#degrade(err)
    })
    // The subscriber's failures show on the command client too (same Redis): it only needs a listener.
    subscriber.on('error', ignoreRedisFailure)
    client.connect().catch(ignoreRedisFailure) // Reported by the 'error' event; the client keeps reconnecting.
    subscriber.connect().then(() => {
      for (const [channel, listener] of this.#channels) subscriber.subscribe(channel, listener).catch(ignoreRedisFailure)
    }, ignoreRedisFailure)
  }

  #disconnect (): void {
    for (const client of [this.#client, this.#subscriber]) {
      // destroy(), not close(): nothing is waited for, and a Redis that is away cannot hold shutdown up.
      if (client.isOpen) client.destroy()
    }
  }

  #reconnect (): void {
    this.#disconnect()
    this.#setState('joining')
    this.#connect()
  }

  #join (): void {
    this.#settle?.()
    this.#setState('joined')
    if (this.#away) this.#options.log.info('fleet: Redis answers again; rejoined the fleet')
    this.#away = false
    for (const listener of this.#joinListeners) listener()
  }

  #degrade (err: unknown): void {
    this.#settle?.()
    if (this.#closed || this.#state === 'degraded') return
    this.#setState('degraded')
    this.#away = true
    // The client and the bound reject with Errors only.
    const reason = redact((err as Error).message, this.#url)
    this.#options.log.warn({ reason }, 'fleet: Redis is unavailable; this replica goes on alone (own login, local limits) until it is back')
  }

  #scheduleProbe (): void {
    this.#probe = this.#options.clock.setTimer(() => { this.#runProbe() }, this.#options.probeMs)
  }

  /**
   * One bounded PING, at most one at a time: joined, a PING that fails degrades the link (a stalled Redis
   * hears no other command from a replica without limits); degraded, one that succeeds joins it again (a
   * Redis that was slow, not gone, gives its connection no 'ready' to hear).
   */
  #runProbe (): void {
    this.#scheduleProbe()
    if (this.#probing || this.#state === 'joining') return
    this.#probing = true
    const client = this.#client
    const ping = client.ping()
    // The next PING waits for this one's answer, not its bound: a stalled connection holds one, not one per period.
    ping.catch(ignoreRedisFailure).finally(() => { this.#probing = false })
    this.#bounded(ping).then(() => {
      if (this.#client === client && this.#state === 'degraded') this.#join()
    }, (err: unknown) => {
      if (this.#client === client && this.#state === 'joined') this.#degrade(err)
    })
  }

  #setState (state: FleetState): void {
    if (state === this.#state) return
    this.#state = state
    this.#options.onState?.(state)
  }
}
