// Profiles' entry (SPEC §13), imported only when PROXY_PROFILES_FILE is set: the file read against the environment,
// the selector, the policy verdict, and one token lifecycle per distinct tuple behind the registry.
import type { Config } from '../config.js'
import type { TokenManager } from '../token/token-manager.js'
import type { TokenSource } from '../token/token-source.js'
import { loadProfiles } from './file.js'
import type { Profile, ProfilesDescription, ProfilesEnvironment, TokenTuple } from './file.js'
import { ProfileRegistry } from './registry.js'
import { createSelector } from './select.js'
import type { SelectProfile } from './select.js'
import { verdict } from './policy.js'

export { verdict }

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

/** Builds the token manager of one tuple, not started; `onToken` is called each time it obtains a new token. */
export type TokenManagerFactory = (tuple: TokenTuple, onToken: () => void) => TokenManager

export interface ProfileTokens {
  readonly registry: ProfileRegistry
  /** The token source of the request's profile: its tuple's lifecycle (or, during a handover, the one it replaces). */
  readonly sourceOf: (profile: Profile) => TokenSource
  /** The token managers of the applied tuples, in file order, with the names of the profiles using each. */
  readonly managers: () => Array<{ tuple: TokenTuple, manager: TokenManager }>
  /** Waits until every tuple's first login has settled: a token each, or undefined where none came. */
  readonly acquireAll: () => Promise<Array<string | undefined>>
  /** True when every profile has a usable token. */
  readonly allReady: () => boolean
  /** New environment credentials (a rotated ROECNY_*_FILE): told to every lifecycle of a profile that uses them. */
  readonly setEnvironmentCredentials: (credentials: { clientId?: string, apiKey?: string }) => boolean
  /** SIGHUP: each lifecycle with no usable token tries a login at once. */
  readonly retryNow: () => void
}

/** The registry over token managers, the description applied (every lifecycle started). */
export function startProfileTokens (description: ProfilesDescription, factory: TokenManagerFactory): ProfileTokens {
  const managers = new Map<string, TokenManager>()
  const registry = new ProfileRegistry(function build (tuple, onToken) {
    const manager = factory(tuple, onToken)
    managers.set(tuple.key, manager)
    // A retired lifecycle leaves the map when it stops, so the map holds the live ones only.
    return {
      ...manager,
      stop: async () => {
        managers.delete(tuple.key)
        await manager.stop()
      }
    }
  })
  registry.apply(description)
  /** Which of each tuple's credentials are the environment's: a rotated ROECNY_*_FILE is theirs alone. */
  const environmentCredentials = new Map<string, { clientId: boolean, apiKey: boolean }>()
  for (const profile of description.profiles.values()) {
    environmentCredentials.set(profile.tuple, { clientId: !profile.clientId.own, apiKey: !profile.apiKey.own })
  }

  function live (): Array<{ tuple: TokenTuple, manager: TokenManager }> {
    return registry.tokens().map(({ tuple }) => ({ tuple, manager: managers.get(tuple.key) as TokenManager }))
  }

  return {
    registry,
    sourceOf: (profile) => registry.sourceFor(profile.name) as TokenSource,
    managers: live,
    acquireAll: async () => await Promise.all(live().map(async ({ manager }) => await manager.acquire())),
    allReady: () => [...description.profiles.keys()].every((name) => registry.sourceFor(name)?.isReady() === true),
    setEnvironmentCredentials (credentials) {
      let changed = false
      for (const { tuple, manager } of live()) {
        const uses = environmentCredentials.get(tuple.key) as { clientId: boolean, apiKey: boolean }
        const theirs = { clientId: uses.clientId ? credentials.clientId : undefined, apiKey: uses.apiKey ? credentials.apiKey : undefined }
        if ((theirs.clientId !== undefined || theirs.apiKey !== undefined) && manager.setCredentials(theirs)) changed = true
      }
      return changed
    },
    retryNow () {
      for (const { manager } of live()) manager.retryNow()
    }
  }
}

export { createSelector }
export type { SelectProfile }
