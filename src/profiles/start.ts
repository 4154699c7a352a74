// Profiles' entry (SPEC §13), imported only when PROXY_PROFILES_FILE is set: the file read against the environment,
// the selector, the policy verdict, and one token lifecycle per distinct tuple behind the registry.
import type { Config } from '../config.js'
import type { LimiterStatus } from '../limits/limiter.js'
import type { LoginOutcome } from '../token/login.js'
import type { TokenManager } from '../token/token-manager.js'
import type { TokenSource } from '../token/token-source.js'
import { loadProfiles } from './file.js'
import type { Profile, ProfilesDescription, ProfilesEnvironment, TokenTuple } from './file.js'
import { ProfileRegistry } from './registry.js'
import { createSelector } from './select.js'
import { verdict } from './policy.js'

export { createSelector, verdict }
export { createProfileLimiters } from './limits.js'
export { watchProfiles } from './reload.js'

/** The environment the profiles are checked against: Config's `''` credentials are "not set". */
export function profilesEnvironment (config: Config): ProfilesEnvironment {
  return {
    ...config,
    clientId: config.clientId === '' ? undefined : config.clientId,
    apiKey: config.apiKey === '' ? undefined : config.apiKey
  }
}

/** Reads PROXY_PROFILES_FILE as at start; throws one ConfigError listing every problem (exit 78). */
export function loadProfilesFor (config: Config): ProfilesDescription {
  return loadProfiles(config.profilesFile as string, profilesEnvironment(config))
}

/** The label of a token's metrics and log lines: the names of the profiles using it, in file order. */
export function tokenLabel (tuple: TokenTuple): string {
  return tuple.profiles.join(',')
}

/** Builds the token manager of one tuple, not started; `onToken` is to be called each time it obtains a new token. */
export type TokenManagerFactory = (tuple: TokenTuple, onToken: () => void) => TokenManager

/** What /-/status shows of one profile: never a key, a digest or a credential. */
export interface ProfileStatus {
  readonly name: string
  readonly ready: boolean
  readonly keys: number
  readonly keyless: boolean
  /** The profiles that share its token (itself included), in file order. */
  readonly tokenSharedBy: readonly string[]
  readonly maxInFlight: number
  readonly rateLimit: number
  readonly rateBurst: number
}

/**
 * Every profile's tokens, seen as one TokenManager by the rest of the server (start, stop, SIGHUP,
 * rotated environment secrets, readiness, status), and each profile's own token source for its requests.
 */
export interface ProfileTokens extends TokenManager {
  /** Applies a new description, whole (a reload): lifecycles kept, started and retired as the registry says. */
  readonly apply: (description: ProfilesDescription) => void
  readonly registry: ProfileRegistry
  /** The token source of the request's profile: its tuple's lifecycle (or, during a handover, the one it replaces). */
  readonly sourceOf: (profile: Profile) => TokenSource
  /** The token managers of the applied tuples, in file order. */
  readonly managers: () => Array<{ tuple: TokenTuple, manager: TokenManager }>
  /** The names of the profiles without a usable token, in file order. */
  readonly unready: () => string[]
  /** Whether the named profile has a usable token; undefined for a name no profile has. */
  readonly readyFor: (name: string) => boolean | undefined
}

/** The registry over token managers; nothing runs before start(), which applies the description. */
export function createProfileTokens (description: ProfilesDescription, factory: TokenManagerFactory): ProfileTokens {
  const managers = new Map<string, TokenManager>()
  const registry = new ProfileRegistry(function build (tuple, onToken) {
    const manager = factory(tuple, onToken)
    managers.set(tuple.key, manager)
    return {
      ...manager,
      // A retired lifecycle leaves the map as it stops, so the map holds the live ones only.
      stop: async () => {
        managers.delete(tuple.key)
        await manager.stop()
      }
    }
  })
  let current = description
  /** Which of each tuple's credentials are the environment's: a rotated ROECNY_*_FILE is theirs alone. */
  let environmentCredentials = new Map<string, { clientId: boolean, apiKey: boolean }>()

  function describe (next: ProfilesDescription): void {
    current = next
    environmentCredentials = new Map()
    for (const profile of next.profiles.values()) {
      environmentCredentials.set(profile.tuple, { clientId: !profile.clientId.own, apiKey: !profile.apiKey.own })
    }
  }
  describe(description)

  function live (): Array<{ tuple: TokenTuple, manager: TokenManager }> {
    return registry.tokens().map(({ tuple }) => ({ tuple, manager: managers.get(tuple.key) as TokenManager }))
  }

  function sourceOf (profile: Profile): TokenSource {
    return registry.sourceFor(profile.name) as TokenSource
  }

  function readyFor (name: string): boolean | undefined {
    return registry.sourceFor(name)?.isReady()
  }

  function unready (): string[] {
    return [...current.profiles.keys()].filter((name) => readyFor(name) !== true)
  }

  function status (): { profiles: Array<ProfileStatus & object> } {
    const byKey = new Map(current.tuples.map((tuple) => [tuple.key, tuple]))
    return {
      profiles: [...current.profiles.values()].map((profile) => ({
        name: profile.name,
        keys: profile.digests.size,
        keyless: profile.keyless,
        tokenSharedBy: (byKey.get(profile.tuple) as TokenTuple).profiles,
        maxInFlight: profile.maxInFlight,
        rateLimit: profile.rateLimit,
        rateBurst: profile.rateBurst,
        ...(sourceOf(profile).status() as { ready: boolean })
      }))
    }
  }

  /** The earliest of the tokens' times (0 when a profile has none): what an operator watches. */
  function earliest (read: (manager: TokenManager) => number): number {
    return Math.min(...live().map(({ manager }) => read(manager)))
  }

  return {
    apply (next) {
      registry.apply(next)
      describe(next)
    },
    registry,
    sourceOf,
    managers: live,
    unready,
    readyFor,
    start: () => registry.apply(current),
    stop: async () => await registry.stop(),
    setCredentials (credentials) {
      let changed = false
      for (const { tuple, manager } of live()) {
        const uses = environmentCredentials.get(tuple.key) as { clientId: boolean, apiKey: boolean }
        const theirs = { clientId: uses.clientId ? credentials.clientId : undefined, apiKey: uses.apiKey ? credentials.apiKey : undefined }
        if ((theirs.clientId !== undefined || theirs.apiKey !== undefined) && manager.setCredentials(theirs)) changed = true
      }
      return changed
    },
    retryNow () {
      const outcomes = live().map(({ manager }) => manager.retryNow())
      return outcomes.includes('started') ? 'started' : outcomes[0] ?? 'not-running'
    },
    // No token is "the" token with profiles: requests take their profile's (sourceOf).
    current: () => undefined,
    async acquire () {
      const tokens = await Promise.all(live().map(async ({ manager }) => await manager.acquire()))
      return tokens.includes(undefined) ? undefined : tokens[0]
    },
    invalidate: () => {},
    retryAfterSeconds: () => Math.max(...live().map(({ manager }) => manager.retryAfterSeconds())),
    isReady: () => unready().length === 0,
    // /-/status spreads this into its answer: with profiles, one entry per profile instead of one token's fields.
    status: status as unknown as TokenManager['status'],
    loginInFlight: () => live().some(({ manager }) => manager.loginInFlight()),
    expiresAtWallMs: () => earliest((manager) => manager.expiresAtWallMs()),
    refreshAtWallMs: () => earliest((manager) => manager.refreshAtWallMs())
  }
}

/** A token manager's login hook, labelled for its tuple (metrics). */
export function profileLoginHook (tuple: TokenTuple, count: (profile: string, result: LoginOutcome, durationMs: number) => void) {
  const label = tokenLabel(tuple)
  return function loginResult (result: LoginOutcome, durationMs: number): void {
    count(label, result, durationMs)
  }
}

/** A profiles status whose entries also show each profile's queue and caps (`queue` null: it waits for nothing). */
export function withQueues (status: TokenManager['status'], queues: () => Record<string, LimiterStatus>): TokenManager['status'] {
  return function statusWithQueues () {
    const own = queues()
    const { profiles } = status() as unknown as { profiles: ProfileStatus[] }
    return { profiles: profiles.map((entry) => ({ ...entry, queue: own[entry.name] ?? null })) }
  } as unknown as TokenManager['status']
}
