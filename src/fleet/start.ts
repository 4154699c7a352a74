// Fleet mode's entry (SPEC §12), imported only when REDIS_URL is set: the connection, the shared token, the status and metric.
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { TokenFleet } from '../token/token-fleet.js'
import { createFleetTokens } from './fleet-tokens.js'
import { COMMAND_TIMEOUT_MS, FleetLink } from './link.js'
import type { FleetState } from './link.js'

export interface FleetDeps {
  readonly clock: Clock
  readonly log: Logger
  /** Told of each change of state (the metric). */
  readonly onState?: (state: FleetState) => void
}

export interface Fleet {
  readonly tokens: TokenFleet
  readonly link: FleetLink
  /** What /-/status shows: the state only, never the URL. */
  status: () => { fleet: FleetState }
  /** Closes the connections. Final. */
  close: () => void
}

/** Connects to the fleet's Redis (in the background: nothing waits for it here) and shares the token through it. */
export function startFleet (config: Pick<Config, 'redisUrl' | 'redisCa' | 'redisKeyPrefix' | 'loginTimeoutMs'>, deps: FleetDeps): Fleet {
  const link = new FleetLink({
    url: config.redisUrl as string,
    ca: config.redisCa,
    // A replica never waits on Redis longer than it would on a login.
    commandTimeoutMs: Math.min(COMMAND_TIMEOUT_MS, config.loginTimeoutMs),
    joinTimeoutMs: config.loginTimeoutMs,
    clock: deps.clock,
    log: deps.log,
    onState: deps.onState
  })
  const tokens = createFleetTokens({ link, prefix: config.redisKeyPrefix, loginTimeoutMs: config.loginTimeoutMs, clock: deps.clock, log: deps.log })
  return {
    tokens,
    link,
    status: () => ({ fleet: link.state() }),
    close: () => link.close()
  }
}
