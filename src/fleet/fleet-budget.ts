// One budget for the fleet (SPEC §12): §11's limits and Roecny's 429 pauses counted in Redis for every replica, atomically.
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { Clock, TimerHandle } from '../clock.js'
import type { Budget, Lease, Limits, Pause, PauseChange, Take, UpstreamLimiter } from '../limits/limiter.js'
import { MemoryBudget } from '../limits/memory-limiter.js'
import { QueuedLimiter } from '../limits/queue.js'
import type { BudgetKeys } from './keys.js'
import type { FleetLink, RedisClient } from './link.js'
import { ignoreRedisFailure } from './link.js'

/** An in-flight slot lapses this long after its replica last renewed it: a replica that dies frees its slots within seconds. */
export const LEASE_MS = 5000
/** Each replica renews the slots it holds this often. */
export const RENEW_MS = 1000
/** At the fleet's in-flight limit, a release by another replica is not heard: the head of the queue asks again this often. */
export const RECHECK_MS = 25

/**
 * One start, atomically, on Redis' own clock: the fleet's pause, then its in-flight leases (lapsed ones
 * dropped), then its token bucket. Returns 0 when the start is counted, -1 when the in-flight limit is
 * reached, or the milliseconds until a start may be possible.
 * KEYS: leases, bucket, pause. ARGV: lease id, max in flight, rate, burst, lease ms.
 */
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local paused = redis.call('PTTL', KEYS[3])
if paused > 0 then return paused end
local maxInFlight = tonumber(ARGV[2])
if maxInFlight > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('ZCARD', KEYS[1]) >= maxInFlight then return -1 end
end
local rate = tonumber(ARGV[3])
if rate > 0 then
  local burst = tonumber(ARGV[4])
  local bucket = redis.call('HMGET', KEYS[2], 'tokens', 'at')
  local tokens = tonumber(bucket[1]) or burst
  local at = tonumber(bucket[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
  if tokens < 1 - 1e-9 then
    return math.max(1, math.ceil((1 - tokens) * 1000 / rate))
  end
  redis.call('HSET', KEYS[2], 'tokens', tostring(tokens - 1), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[2], math.ceil(burst * 1000 / rate) + 1000)
end
if maxInFlight > 0 then redis.call('ZADD', KEYS[1], now + tonumber(ARGV[5]), ARGV[1]) end
return 0
`

/** Pushes the lapse of this replica's leases further (ones already dropped stay dropped). KEYS: leases. ARGV: lease ms, ids. */
const RENEW = `
local t = redis.call('TIME')
local lapse = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', lapse, ARGV[i]) end
return 0
`

/** Lengthens the fleet's pause to `ms` unless it is already as long. KEYS: pause. ARGV: ms. */
const PAUSE = `
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 0
`

interface FleetLease extends Lease {
  /** Granted by the fleet's budget in Redis; false for one of the local budget (Redis away). */
  readonly shared?: boolean
  /** The in-flight slot it holds in Redis; none without an in-flight limit. */
  readonly id?: string
}

export interface FleetBudgetDeps {
  readonly link: FleetLink
  readonly keys: BudgetKeys
  readonly clock: Clock
}

/**
 * The fleet's budget while Redis answers; the replica's own (a MemoryBudget with the same limits)
 * while it does not. The pause and the 429s in a row are also kept locally, so that status and the
 * queue see them at once; the fleet's pause reaches the other replicas through their take().
 */
export class FleetBudget implements Budget {
  readonly #limits: Limits
  readonly #local: MemoryBudget
  readonly #link: FleetLink
  readonly #keys: BudgetKeys
  readonly #clock: Clock
  /** The ids of the leases this replica holds in Redis: renewed until released. */
  readonly #held = new Set<string>()
  #renewal: TimerHandle | undefined
  /** This replica's requests in flight on leases of the fleet's budget. */
  #sharedInFlight = 0

  constructor (limits: Limits, deps: FleetBudgetDeps) {
    this.#limits = limits
    this.#local = new MemoryBudget(limits, deps.clock)
    this.#link = deps.link
    this.#keys = deps.keys
    this.#clock = deps.clock
  }

  take (): Take | Promise<Take> {
    if (this.#link.state() !== 'joined') return this.#local.take()
    return this.#takeShared()
  }

  async #takeShared (): Promise<Take> {
    const { maxInFlight, rateLimit, rateBurst } = this.#limits
    const id = randomUUID()
    let answer: number
    try {
      answer = await this.#link.run(async (client: RedisClient) => Number(await client.eval(TAKE, {
        keys: [this.#keys.leases, this.#keys.bucket, this.#keys.pause],
        arguments: [id, String(maxInFlight), String(rateLimit), String(rateBurst), String(LEASE_MS)]
      })))
    } catch {
      // Redis away: this replica goes on with its own limits.
      return this.#local.take()
    }
    if (answer === -1) return RECHECK_MS
    if (answer > 0) return answer
    this.#sharedInFlight++
    if (maxInFlight === 0) {
      const lease: FleetLease = { episode: this.#local.episode(), shared: true }
      return lease
    }
    this.#held.add(id)
    this.#renewal ??= this.#clock.setTimer(() => this.#renew(), RENEW_MS)
    const lease: FleetLease = { episode: this.#local.episode(), shared: true, id }
    return lease
  }

  #renew (): void {
    this.#renewal = undefined
    if (this.#held.size === 0) return
    this.#link.run(async (client: RedisClient) => await client.eval(RENEW, { keys: [this.#keys.leases], arguments: [String(LEASE_MS), ...this.#held] }))
      .catch(ignoreRedisFailure) // Redis away: the leases lapse there; this replica's own budget serves meanwhile.
    this.#renewal = this.#clock.setTimer(() => this.#renew(), RENEW_MS)
  }

  release (lease: FleetLease): void {
    if (lease.shared !== true) {
      this.#local.release(lease)
      return
    }
    this.#sharedInFlight--
    const id = lease.id
    if (id === undefined) return
    this.#held.delete(id)
    this.#link.run(async (client: RedisClient) => await client.zRem(this.#keys.leases, id)).catch(ignoreRedisFailure) // It lapses by itself.
  }

  throttled (lease: Lease, retryAfterMs: number | undefined): PauseChange | undefined {
    const change = this.#local.throttled(lease, retryAfterMs)
    if (change !== undefined && this.#link.state() === 'joined') {
      const ms = Math.ceil(change.pause.untilMs - this.#clock.monotonic())
      this.#link.run(async (client: RedisClient) => await client.eval(PAUSE, { keys: [this.#keys.pause], arguments: [String(ms)] })).catch(ignoreRedisFailure)
    }
    return change
  }

  answered (lease: Lease): void {
    this.#local.answered(lease)
  }

  inFlight (): number {
    return this.#local.inFlight() + this.#sharedInFlight
  }

  pause (): Pause | undefined {
    return this.#local.pause()
  }
}

/** The limits for a replica of the fleet: the usual queue in front of the fleet's budget. */
export function createFleetLimiter (limits: Limits, deps: FleetBudgetDeps & { log: Logger }): UpstreamLimiter {
  return new QueuedLimiter(new FleetBudget(limits, deps), limits, deps)
}
