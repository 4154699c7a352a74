// Fleet mode's entry (SPEC §12), imported only when REDIS_URL is set: the connection, the shared token, the status and metric.
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { Budget, Limits, UpstreamLimiter } from '../limits/limiter.js'
import type { TokenFleet } from '../token/token-fleet.js'
import { createFleetTokens } from './fleet-tokens.js'
import { budgetKeys } from './keys.js'
import type { AccountIdentity } from './keys.js'
import { COMMAND_TIMEOUT_MS, FleetLink, PROBE_MS, RECONNECT_CAP_MS } from './link.js'
import type { FleetState } from './link.js'

/** An in-flight slot lapses this long after its replica last renewed it: a replica that dies frees its slots within seconds. */
export const LEASE_MS = 5000
/** Each replica renews the slots it holds this often. */
export const RENEW_MS = 1000

/**
 * The fleet's periods. Not configuration an operator needs: tests shorten them, so that a lease lasts
 * about a second there; those given replace the defaults (FLEET_TIMINGS).
 */
export interface FleetTimings {
  /** An in-flight slot lapses this long after its replica last renewed it. */
  readonly leaseMs?: number
  /** Each replica renews the slots it holds this often. */
  readonly renewMs?: number
  /** The link's bounded PING: while joined, to notice a stall; while degraded, to notice a return. */
  readonly probeMs?: number
  /** The longest delay between two reconnection attempts. */
  readonly reconnectCapMs?: number
}

export const FLEET_TIMINGS: Required<FleetTimings> = Object.freeze({ leaseMs: LEASE_MS, renewMs: RENEW_MS, probeMs: PROBE_MS, reconnectCapMs: RECONNECT_CAP_MS })

export interface FleetDeps {
  readonly clock: Clock
  readonly log: Logger
  /** Told of each change of state (the metric). */
  readonly onState?: (state: FleetState) => void
  readonly timings?: FleetTimings
}

export interface Fleet {
  readonly tokens: TokenFleet
  readonly link: FleetLink
  /**
   * §11's limits for the whole fleet. The budget is the account's (base URL and configured client ID),
   * shared by every fleet of it whatever their scope, login-as or API key: Roecny's limits are per
   * account, and a rotated client ID is a rotation of the same account's credentials.
   * Its module loads only here: a replica without limits never loads it.
   */
  limiter: (limits: Limits, log: Logger) => Promise<UpstreamLimiter>
  /**
   * With profiles (SPEC §13): makes the fleet's budget of an account (`profile` undefined) or of a
   * profile's cap within it, keyed by the account and the profile's name. Loads the budget's module.
   */
  budgets: () => Promise<(account: AccountIdentity, profile: string | undefined, limits: Limits) => Budget>
  /** What /-/status shows: the state only, never the URL. */
  status: () => { fleet: FleetState }
  /** Closes the connections. Final. */
  close: () => void
}

/** Connects to the fleet's Redis (in the background: nothing waits for it here) and shares the token through it. */
export function startFleet (config: Pick<Config, 'redisUrl' | 'redisCa' | 'redisKeyPrefix' | 'loginTimeoutMs' | 'baseUrl' | 'clientId'>, deps: FleetDeps): Fleet {
  const timings = { ...FLEET_TIMINGS, ...deps.timings }
  const link = new FleetLink({
    url: config.redisUrl as string,
    ca: config.redisCa,
    // A replica never waits on Redis longer than it would on a login.
    commandTimeoutMs: Math.min(COMMAND_TIMEOUT_MS, config.loginTimeoutMs),
    joinTimeoutMs: config.loginTimeoutMs,
    clock: deps.clock,
    log: deps.log,
    onState: deps.onState,
    probeMs: timings.probeMs,
    reconnectCapMs: timings.reconnectCapMs
  })
  const tokens = createFleetTokens({ link, prefix: config.redisKeyPrefix, loginTimeoutMs: config.loginTimeoutMs, clock: deps.clock, log: deps.log })
  return {
    tokens,
    link,
    limiter: async (limits, log) => {
      const { createFleetLimiter } = await import('./fleet-budget.js')
      return createFleetLimiter(limits, { link, keys: budgetKeys(config.redisKeyPrefix, config), clock: deps.clock, log, leaseMs: timings.leaseMs, renewMs: timings.renewMs })
    },
    budgets: async () => {
      const { FleetBudget } = await import('./fleet-budget.js')
      return function fleetBudget (account, profile, limits) {
        return new FleetBudget(limits, { link, keys: budgetKeys(config.redisKeyPrefix, account, profile), clock: deps.clock, leaseMs: timings.leaseMs, renewMs: timings.renewMs })
      }
    },
    status: () => ({ fleet: link.state() }),
    close: () => link.close()
  }
}
