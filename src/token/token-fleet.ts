// What the token lifecycle asks of fleet mode (SPEC §12): one token for every replica. Types only: without REDIS_URL nothing of the fleet is loaded.
import type { Config } from '../config.js'
import type { LoginResult } from './login.js'

/** What names the fleet and seals its token: the login's credentials and target. */
export type FleetCredentials = Pick<Config, 'baseUrl' | 'clientId' | 'apiKey' | 'scope' | 'loginAs'>

export interface FleetRequest {
  readonly credentials: FleetCredentials
  /** The token this replica holds now (refresh), if any: a stored token that is the same is not news. */
  readonly held: string | undefined
  /** The last token Roecny refused with a 401, if any: never adopted again. */
  readonly refused: string | undefined
  /** One login to Roecny with these credentials, bounded by LOGIN_TIMEOUT_MS. */
  readonly login: () => Promise<LoginResult>
  /** Aborted at shutdown or when new credentials replace these: a wait for another replica's login ends at once. */
  readonly signal: AbortSignal
}

/** A token another replica obtained; its times are relative, measured on this replica's monotonic clock. */
export interface AdoptedToken {
  readonly token: string
  /** What Roecny granted it. */
  readonly lifetimeMs: number
  /** How long ago it was granted. */
  readonly ageMs: number
}

export type FleetOutcome =
  | { readonly adopted: AdoptedToken }
  | { readonly login: LoginResult }

export interface TokenFleet {
  /**
   * A token for the fleet: the stored one when it is news to this replica, else one login under the
   * fleet's lock (or a wait for the replica holding it). Falls back to one login of its own whenever
   * Redis cannot be used; never waits on Redis longer than a login would take.
   */
  obtain: (request: FleetRequest) => Promise<FleetOutcome>
  /** Roecny answered 401 to `token`: removed from the store if it is still the one stored. */
  refused: (token: string, credentials: FleetCredentials) => void
}
