// One budget for the fleet (SPEC §12): §11's limits and Roecny's 429 pauses counted in Redis for every replica, atomically.
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { Clock, TimerHandle } from '../clock.js'
import { isLease } from '../limits/limiter.js'
import type { Budget, Lease, Limits, Pause, PauseChange, Take, UpstreamLimiter } from '../limits/limiter.js'
import { MemoryBudget } from '../limits/memory-limiter.js'
import { QueuedLimiter } from '../limits/queue.js'
import type { BudgetKeys } from './keys.js'
import type { FleetLink, RedisClient } from './link.js'
import { ignoreRedisFailure } from './link.js'

/** At the fleet's in-flight limit, a release by another replica is not heard: the head of the queue asks again this often. */
export const RECHECK_MS = 25

/**
 * One start, atomically, on Redis' own clock: the fleet's pause, then its in-flight leases (lapsed ones
 * dropped), then its token bucket. Returns 0 when the start is counted, -1 when the in-flight limit is
 * reached, or the milliseconds until a start may be possible. Every key it writes gets an expiry, the
 * leases' set included (at least one lease lifetime: no lease in it lapses later).
 * KEYS: leases, bucket, pause. ARGV: lease id, max in flight, rate, burst, lease ms.
 */
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local leaseMs = tonumber(ARGV[5])
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
if maxInFlight > 0 then
  redis.call('ZADD', KEYS[1], now + leaseMs, ARGV[1])
  if redis.call('PTTL', KEYS[1]) < leaseMs then redis.call('PEXPIRE', KEYS[1], leaseMs) end
end
return 0
`

/**
 * Pushes the lapse of every lease this replica holds further, adding those Redis does not hold (granted
 * while it was away, or lapsed during a stall): they are in flight, so they count. KEYS: leases. ARGV: lease ms, ids.
 */
const RENEW = `
local t = redis.call('TIME')
local leaseMs = tonumber(ARGV[1])
local lapse = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + leaseMs
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], lapse, ARGV[i]) end
if redis.call('PTTL', KEYS[1]) < leaseMs then redis.call('PEXPIRE', KEYS[1], leaseMs) end
return 0
`

/**
 * Gives back a start that never happened (another budget it was composed with said no): its lease, and
 * its token to the bucket (at most the burst). KEYS: leases, bucket. ARGV: lease id ('' for none), rate, burst.
 */
const UNTAKE = `
if ARGV[1] ~= '' then redis.call('ZREM', KEYS[1], ARGV[1]) end
if tonumber(ARGV[2]) > 0 then
  local tokens = tonumber(redis.call('HGET', KEYS[2], 'tokens'))
  if tokens then redis.call('HSET', KEYS[2], 'tokens', tostring(math.min(tonumber(ARGV[3]), tokens + 1))) end
end
return 0
`

/** Lengthens the fleet's pause to \`ms\` unless it is already as long. KEYS: pause. ARGV: ms. */
const PAUSE = `
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 0
`

interface FleetLease extends Lease {
  /** The in-flight slot it holds, in Redis or to be registered there; none without an in-flight limit. */
  readonly id?: string
  /** Granted by the fleet's script (its rate token taken in Redis), not by the replica's own budget. */
  readonly shared?: boolean
}

export interface FleetBudgetDeps {
  readonly link: FleetLink
  readonly keys: BudgetKeys
  readonly clock: Clock
  /** An in-flight slot lapses this long after its replica last renewed it (LEASE_MS). */
  readonly leaseMs: number
  /** Each replica renews the slots it holds this often (RENEW_MS). */
  readonly renewMs: number
}

/**
 * The fleet's budget while Redis answers; the replica's own (a MemoryBudget with the same limits) while
 * it does not. Whichever grants a lease, the replica's one count of what it has in flight holds it, and
 * no start is asked for while that count is at UPSTREAM_MAX_IN_FLIGHT: a replica never runs more than
 * its limit, so while Redis is away the fleet never runs more than replicas x limit. Every lease has an
 * id; those granted while Redis was away are registered in the fleet's set when it is back, so they
 * count against the fleet's limit for as long as they run. The pause and the 429s in a row are also
 * kept locally, so that status and the queue see them at once; the fleet's pause reaches the other
 * replicas through their take(). take() never rejects: any failure of Redis falls back to local state.
 */
export class FleetBudget implements Budget {
  readonly #limits: Limits
  readonly #local: MemoryBudget
  readonly #link: FleetLink
  readonly #keys: BudgetKeys
  readonly #clock: Clock
  readonly #leaseMs: number
  readonly #renewMs: number
  /** The ids of every lease this replica holds (whichever budget granted it): renewed until released. */
  readonly #held = new Set<string>()
  /**
   * Those of them sent to Redis in a take or a renewal: only these may need taking back on release. A
   * lease granted and released while Redis is away costs nothing there, and sends nothing to a
   * connection that may be stalled (where every command would wait, in memory, for Redis to resume).
   */
  readonly #sent = new Set<string>()
  #renewal: TimerHandle | undefined
  readonly #leaveJoins: () => void

  constructor (limits: Limits, deps: FleetBudgetDeps) {
    this.#limits = limits
    this.#local = new MemoryBudget(limits, deps.clock)
    this.#link = deps.link
    this.#keys = deps.keys
    this.#clock = deps.clock
    this.#leaseMs = deps.leaseMs
    this.#renewMs = deps.renewMs
    // Back in the fleet: what this replica still runs counts there at once, not at the next renewal.
    this.#leaveJoins = deps.link.onJoin(() => this.#renew())
  }

  /** A budget no longer used (a profile's cap replaced by a reload, once nothing of it runs): no renewal, no listener left behind. */
  close (): void {
    this.#leaveJoins()
    this.#renewal?.cancel()
    this.#renewal = undefined
  }

  take (): Take | Promise<Take> {
    const { maxInFlight } = this.#limits
    // The replica's own limit, whoever would grant: only a release of its own frees a place.
    if (maxInFlight > 0 && this.#local.inFlight() >= maxInFlight) return Infinity
    if (this.#link.state() !== 'joined') return this.#takeLocal()
    return this.#takeShared()
  }

  #takeLocal (): Take {
    const took = this.#local.take()
    if (!isLease(took)) return took
    return this.#granted(took)
  }

  async #takeShared (): Promise<Take> {
    const { maxInFlight, rateLimit, rateBurst } = this.#limits
    const id = randomUUID()
    let answer: number
    try {
      answer = await this.#link.run(async (client: RedisClient) => Number(await client.eval(TAKE, {
        keys: [this.#keys.leases, this.#keys.bucket, this.#keys.pause],
        arguments: [id, String(maxInFlight), String(rateLimit), String(rateBurst), String(this.#leaseMs)]
      })))
    } catch {
      // No answer in time: should Redis still run the script later, the lease it makes is taken back
      // right after it, on the same connection.
      this.#link.send(async (client: RedisClient) => await client.zRem(this.#keys.leases, id))
      return this.#takeLocal()
    }
    if (answer === -1) return RECHECK_MS
    if (answer > 0) return answer
    this.#local.count()
    this.#sent.add(id)
    return this.#granted({ episode: this.#local.episode() }, id)
  }

  /** A lease granted (and counted) by either budget: held, and renewed, until released. */
  #granted (lease: Lease, id: string | undefined = undefined): FleetLease {
    const shared = id !== undefined
    if (this.#limits.maxInFlight === 0) return { episode: lease.episode, shared }
    const leaseId = id ?? randomUUID()
    this.#held.add(leaseId)
    this.#renewal ??= this.#clock.setTimer(() => this.#renewNow(), this.#renewMs)
    return { episode: lease.episode, id: leaseId, shared }
  }

  #renewNow (): void {
    this.#renewal = undefined
    this.#renew()
  }

  /** Renews (or registers) every held lease; again every renewal period while any is held. */
  #renew (): void {
    if (this.#held.size === 0) return
    this.#link.run(async (client: RedisClient) => {
      // Read when the step runs, not when it was asked for: a lease released while the link was still
      // joining must not be registered after its release (nothing would take it back).
      const ids = [...this.#held]
      for (const id of ids) this.#sent.add(id)
      return await client.eval(RENEW, { keys: [this.#keys.leases], arguments: [String(this.#leaseMs), ...ids] })
    })
      .catch(ignoreRedisFailure) // Redis away: registered on its return.
    this.#renewal?.cancel()
    this.#renewal = this.#clock.setTimer(() => this.#renewNow(), this.#renewMs)
  }

  release (lease: FleetLease): void {
    this.#local.release(lease)
    if (this.#forget(lease)) this.#link.send(async (client: RedisClient) => await client.zRem(this.#keys.leases, lease.id as string))
  }

  /**
   * A start that never happened (a profile's cap granted it, its account's budget said no): the slot
   * and the rate's token go back where they were taken, so a capped profile waiting on a full account
   * does not spend its rate on refusals.
   */
  untake (lease: FleetLease): void {
    if (lease.shared !== true) {
      this.#local.untake(lease)
      this.#forget(lease)
      return
    }
    this.#local.release(lease)
    this.#forget(lease)
    // A shared lease has an id exactly when the budget has an in-flight limit.
    const { rateLimit, rateBurst } = this.#limits
    this.#link.send(async (client: RedisClient) => await client.eval(UNTAKE, { keys: [this.#keys.leases, this.#keys.bucket], arguments: [lease.id ?? '', String(rateLimit), String(rateBurst)] }))
  }

  /**
   * The lease is no longer held: not renewed any more. True when its id went to Redis (in a take or a
   * renewal) and needs taking back there; whatever the state, that runs on the connection after any late
   * command that registered it, else it lapses by itself.
   */
  #forget (lease: FleetLease): boolean {
    const id = lease.id
    if (id === undefined) return false
    this.#held.delete(id)
    if (this.#held.size === 0) {
      this.#renewal?.cancel()
      this.#renewal = undefined
    }
    return this.#sent.delete(id)
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
    return this.#local.inFlight()
  }

  pause (): Pause | undefined {
    return this.#local.pause()
  }
}

/** The limits for a replica of the fleet: the usual queue in front of the fleet's budget. */
export function createFleetLimiter (limits: Limits, deps: FleetBudgetDeps & { log: Logger }): UpstreamLimiter {
  return new QueuedLimiter(new FleetBudget(limits, deps), limits, deps)
}
