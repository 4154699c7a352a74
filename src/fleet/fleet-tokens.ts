// One token for the fleet (SPEC §12): stored sealed in Redis, one login at a time under a lock, the others adopt it.
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { Clock, TimerHandle } from '../clock.js'
import type { LoginResult } from '../token/login.js'
import type { AdoptedToken, FleetCredentials, FleetOutcome, FleetRequest, TokenFleet } from '../token/token-fleet.js'
import { usableSpanMs } from '../token/plan.js'
import { tokenKeys } from './keys.js'
import type { TokenKeys } from './keys.js'
import type { FleetLink, RedisClient } from './link.js'
import { ignoreRedisFailure } from './link.js'
import { tokenSeal } from './seal.js'
import type { TokenSeal } from './seal.js'

/** A replica waiting for another's login reads the key this often, in case the message was lost. */
export const WAIT_POLL_MS = 250

/** Deletes the key only while it holds the value given: a lock released by its holder only, a refused token only if still stored. */
const COMPARE_AND_DELETE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"

export interface FleetTokensOptions {
  readonly link: FleetLink
  readonly prefix: string
  /** LOGIN_TIMEOUT_MS: the longest a replica waits for another's login, and the lock's life beyond it. */
  readonly loginTimeoutMs: number
  readonly clock: Clock
  readonly log: Logger
}

/** One token's fleet: a replica serves several at once with profiles (one per distinct token tuple). */
interface Fleet {
  readonly keys: TokenKeys
  readonly seal: TokenSeal
  /** The sealed form of the token this replica last stored or adopted in this fleet: what a 401 deletes. */
  sealedOf: { token: string, sealed: string } | undefined
}

/** A stored token, as read: what it is, and its sealed form (the 401's compare-and-delete matches that). */
interface Found {
  readonly adopted: AdoptedToken
  readonly sealed: string
}

interface Hint { readonly promise: Promise<void>, readonly resolve: () => void }

// Promise.withResolvers() arrives with Node 22; engines admits Node 20.
function newHint (): Hint {
  let settle!: () => void
  const promise = new Promise<void>((resolve) => { settle = resolve })
  return { promise, resolve: settle }
}

export function createFleetTokens (options: FleetTokensOptions): TokenFleet {
  const { link, clock, log, loginTimeoutMs } = options
  /** Every fleet this replica took part in, by its keys' id: one per token tuple. */
  const fleets = new Map<string, Fleet>()
  /** Per channel: settles at its next message ("a token was stored"), then is replaced, so a waiting replica reads the key at once. */
  const hints = new Map<string, Hint>()

  function fleetOf (credentials: FleetCredentials): Fleet {
    // The keys' id covers the API key (through its tag), so two tuples that differ only by it are two fleets.
    const keys = tokenKeys(options.prefix, credentials)
    const known = fleets.get(keys.id)
    if (known !== undefined) return known
    const fleet: Fleet = { keys, seal: tokenSeal(credentials.apiKey, keys.token), sealedOf: undefined }
    fleets.set(keys.id, fleet)
    if (!hints.has(keys.channel)) {
      hints.set(keys.channel, newHint())
      link.listen(keys.channel, function hinted () {
        (hints.get(keys.channel) as Hint).resolve()
        hints.set(keys.channel, newHint())
      })
    }
    return fleet
  }

  /** The stored token if it is one this replica should take up: sealed with its API key, neither the one held nor a refused one. */
  async function read (fleet: Fleet, request: FleetRequest): Promise<Found | undefined> {
    const [sealed, remainingMs] = await link.run(async (client: RedisClient) => await client.multi().get(fleet.keys.token).pTTL(fleet.keys.token).exec()) as unknown as [string | null, number]
    if (sealed === null || remainingMs <= 0) return undefined
    // Under a rotated API key an old entry does not open: it is ignored, never trusted, and replaced by the next login.
    const stored = fleet.seal.open(sealed)
    if (stored === undefined || stored.token === request.held || stored.token === request.refused) return undefined
    // The store keeps Roecny's own times; each replica plans its use of them (src/token/plan.ts).
    const ageMs = Math.max(0, usableSpanMs(stored.lifetimeMs) - remainingMs)
    return { adopted: { token: stored.token, lifetimeMs: stored.lifetimeMs, ageMs }, sealed }
  }

  function adopt (fleet: Fleet, found: Found): FleetOutcome {
    fleet.sealedOf = { token: found.adopted.token, sealed: found.sealed }
    return { adopted: found.adopted }
  }

  async function store (fleet: Fleet, result: LoginResult, sentAt: number): Promise<void> {
    if (!result.ok) return
    // At least 1 ms: Redis refuses an expiry of 0, and a token that short-lived expires there at once anyway.
    const usableMs = Math.max(1, Math.floor(usableSpanMs(result.lifetimeMs) - (clock.monotonic() - sentAt)))
    const sealed = fleet.seal.seal({ token: result.token, lifetimeMs: result.lifetimeMs })
    fleet.sealedOf = { token: result.token, sealed }
    await link.run(async (client: RedisClient) => {
      await client.set(fleet.keys.token, sealed, { expiration: { type: 'PX', value: usableMs } })
      await client.publish(fleet.keys.channel, 'stored')
    })
  }

  /** Logs in for the fleet while holding its lock; the lock is released by compare-and-delete whatever happens. */
  async function loginHolding (fleet: Fleet, request: FleetRequest, lock: string): Promise<FleetOutcome> {
    try {
      // Another replica may have stored a token, and released the lock, between this replica's read and its lock.
      const found = await read(fleet, request)
      /* c8 ignore next -- a race between two replicas' steps, which no test can order from outside */
      if (found !== undefined) return adopt(fleet, found)
      const sentAt = clock.monotonic()
      const result = await request.login()
      await store(fleet, result, sentAt).catch(ignoreRedisFailure) // Redis away: the token serves this replica; it was logged.
      return { login: result }
    } finally {
      link.run(async (client: RedisClient) => await client.eval(COMPARE_AND_DELETE, { keys: [fleet.keys.lock], arguments: [lock] })).catch(ignoreRedisFailure)
    }
  }

  /** Resolves on the next message of the channel, after `ms`, or when `signal` aborts, whichever comes first. */
  function waitForHint (hint: Promise<void>, ms: number, signal: AbortSignal): Promise<void> {
    let timer: TimerHandle | undefined
    let onAbort: (() => void) | undefined
    const timeout = new Promise<void>((resolve) => {
      timer = clock.setTimer(resolve, ms)
      onAbort = resolve
      signal.addEventListener('abort', onAbort, { once: true })
    })
    return Promise.race([hint, timeout]).finally(() => {
      (timer as TimerHandle).cancel()
      signal.removeEventListener('abort', onAbort as () => void)
    })
  }

  async function obtainShared (fleet: Fleet, request: FleetRequest): Promise<FleetOutcome> {
    const deadline = clock.monotonic() + loginTimeoutMs
    const lock = randomUUID()
    for (;;) {
      // Taken before the read: a message that comes between the read and the wait still wakes it.
      const next = (hints.get(fleet.keys.channel) as Hint).promise
      const found = await read(fleet, request)
      if (found !== undefined) return adopt(fleet, found)
      // The lock outlives one login: a replica that dies holding it blocks the fleet no longer than that.
      const taken = await link.run(async (client: RedisClient) => await client.set(fleet.keys.lock, lock, { condition: 'NX', expiration: { type: 'PX', value: loginTimeoutMs + 1000 } }))
      if (taken !== null) return await loginHolding(fleet, request, lock)
      const left = deadline - clock.monotonic()
      if (left <= 0 || request.signal.aborted) {
        // Aborted: the token manager ignores this answer (it stopped, or new credentials took over).
        return { login: { ok: false, kind: 'error', status: undefined, code: undefined, message: 'the fleet\'s login did not finish within LOGIN_TIMEOUT_MS', retryAfterMs: undefined } }
      }
      await waitForHint(next, Math.min(WAIT_POLL_MS, left), request.signal)
    }
  }

  async function obtain (request: FleetRequest): Promise<FleetOutcome> {
    const fleet = fleetOf(request.credentials)
    try {
      return await obtainShared(fleet, request)
    } catch {
      // Only Redis steps throw here (FleetUnavailable; a login reports its failure as a result):
      // Redis cannot be used, so this replica logs in alone, as without fleet mode.
      return { login: await request.login() }
    }
  }

  function refused (token: string, credentials: FleetCredentials): void {
    const fleet = fleetOf(credentials)
    const known = fleet.sealedOf
    if (known?.token !== token) return
    log.debug('fleet: removing the refused token from the store, if still there')
    link.run(async (client: RedisClient) => await client.eval(COMPARE_AND_DELETE, { keys: [fleet.keys.token], arguments: [known.sealed] })).catch(ignoreRedisFailure)
  }

  return { obtain, refused }
}
