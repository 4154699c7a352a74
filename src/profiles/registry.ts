// One token lifecycle per distinct token tuple, created and retired as profile descriptions are applied, and each profile's token source.
import type { TokenSource } from '../token/token-source.js'
import type { ProfilesDescription, TokenTuple } from './file.js'

/** A token lifecycle the registry can start and stop (the token manager is one). */
export interface ManagedTokenSource extends TokenSource {
  start: () => void
  /** Final; resolves once nothing of it is left running. */
  stop: () => Promise<void>
}

/**
 * Builds the token lifecycle of one tuple, not yet started. `onToken` is to be called each time it
 * obtains a new token (a login, or one adopted from the fleet): a profile moving to it then stops
 * using its previous token.
 */
export type TokenSourceFactory = (tuple: TokenTuple, onToken: () => void) => ManagedTokenSource

/** The words of a scope; undefined for no scope, which holds every right of the account. */
function scopeWords (scope: string | undefined): Set<string> | undefined {
  return scope === undefined ? undefined : new Set(scope.split(/\s+/).filter((word) => word !== ''))
}

/**
 * True when a token of `after` may do less than one of `before` (SPEC §13): login-as changed, or the
 * new scope, read as a set of words, lacks a word of the old one. No scope means every right, so
 * gaining a scope takes rights away and losing one does not. Then the old token stops serving at once.
 */
export function rightsTakenAway (before: Pick<TokenTuple, 'scope' | 'loginAs'>, after: Pick<TokenTuple, 'scope' | 'loginAs'>): boolean {
  if (before.loginAs !== after.loginAs) return true
  const old = scopeWords(before.scope)
  const next = scopeWords(after.scope)
  if (next === undefined) return false
  if (old === undefined) return true
  for (const word of old) if (!next.has(word)) return true
  return false
}

interface Lifecycle {
  tuple: TokenTuple
  readonly source: ManagedTokenSource
}

/** What serves one profile: its tuple's lifecycle, and while that has no token yet, the one it replaces. */
interface Binding {
  readonly next: Lifecycle
  readonly previous: Lifecycle | undefined
  readonly source: TokenSource
}

export class ProfileRegistry {
  readonly #factory: TokenSourceFactory
  /** The lifecycles of the applied description's tuples, by tuple key, in its order. */
  #lifecycles = new Map<string, Lifecycle>()
  #bindings = new Map<string, Binding>()
  readonly #stopping = new Set<Promise<void>>()
  #stopped = false

  constructor (factory: TokenSourceFactory) {
    this.#factory = factory
  }

  /** The token source of a profile of the applied description; undefined for a name it does not hold. */
  sourceFor (name: string): TokenSource | undefined {
    return this.#bindings.get(name)?.source
  }

  /** Every tuple of the applied description with its lifecycle, in the description's order (for status, metrics, check). */
  tokens (): Array<{ tuple: TokenTuple, source: ManagedTokenSource }> {
    return [...this.#lifecycles.values()].map(({ tuple, source }) => ({ tuple, source }))
  }

  /**
   * Applies a new description, whole: tuples that remain keep their lifecycle, new ones start, a
   * profile whose tuple changed moves to the new one (keeping its old token until the new one has a
   * token, unless the change takes rights away), and lifecycles nobody uses any more are stopped.
   */
  apply (description: ProfilesDescription): void {
    if (this.#stopped) throw new Error('the profile registry is stopped')
    const lifecycles = new Map<string, Lifecycle>()
    const started: Lifecycle[] = []
    for (const tuple of description.tuples) {
      const kept = this.#lifecycles.get(tuple.key)
      if (kept !== undefined) {
        kept.tuple = tuple
        lifecycles.set(tuple.key, kept)
        continue
      }
      const lifecycle: Lifecycle = { tuple, source: this.#factory(tuple, () => this.#tokenArrived(lifecycle)) }
      lifecycles.set(tuple.key, lifecycle)
      started.push(lifecycle)
    }
    const bindings = new Map<string, Binding>()
    for (const profile of description.profiles.values()) {
      const target = lifecycles.get(profile.tuple) as Lifecycle
      bindings.set(profile.name, this.#bind(profile.name, target, this.#bindings.get(profile.name)))
    }
    const before = this.#inUse()
    this.#lifecycles = lifecycles
    this.#bindings = bindings
    for (const lifecycle of started) lifecycle.source.start()
    this.#retireUnused(before)
  }

  #bind (name: string, target: Lifecycle, old: Binding | undefined): Binding {
    if (old === undefined) return this.#direct(target)
    if (old.next === target) return old
    // The lifecycle whose token serves the profile now.
    const serving = old.previous !== undefined && old.next.source.current() === undefined ? old.previous : old.next
    if (target.source.current() !== undefined || serving.source.current() === undefined || rightsTakenAway(serving.tuple, target.tuple)) {
      return this.#direct(target)
    }
    return this.#handover(name, target, serving)
  }

  #direct (lifecycle: Lifecycle): Binding {
    return { next: lifecycle, previous: undefined, source: lifecycle.source }
  }

  /** The new lifecycle's token once it has one, the previous token until then. */
  #handover (name: string, next: Lifecycle, previous: Lifecycle): Binding {
    const registry = this
    const source: TokenSource = {
      current: () => next.source.current() ?? previous.source.current(),
      async acquire () {
        return next.source.current() ?? previous.source.current() ?? await next.source.acquire()
      },
      invalidate (token) {
        // Roecny refused the old token: stop using it rather than let its lifecycle log in again for nothing.
        if (token === previous.source.current()) registry.#settle(name, binding)
        else next.source.invalidate(token)
      },
      retryAfterSeconds: () => next.source.retryAfterSeconds(),
      isReady: () => next.source.isReady() || previous.source.isReady(),
      // The new lifecycle's login as it goes, and the profile's own readiness (/-/readyz's): the previous token serves it.
      status: () => ({ ...next.source.status(), ready: source.isReady(), previousTokenServing: previous.source.current() !== undefined })
    }
    const binding: Binding = { next, previous, source }
    return binding
  }

  /** A lifecycle obtained a token: every profile waiting for it leaves its previous token. */
  #tokenArrived (lifecycle: Lifecycle): void {
    for (const [name, binding] of this.#bindings) {
      if (binding.next === lifecycle && binding.previous !== undefined) this.#settle(name, binding)
    }
  }

  /** The profile uses its new lifecycle alone from now on; the previous one stops when nobody else uses it. */
  #settle (name: string, binding: Binding): void {
    if (this.#bindings.get(name) !== binding) return
    const before = this.#inUse()
    this.#bindings.set(name, this.#direct(binding.next))
    this.#retireUnused(before)
  }

  #inUse (): Set<Lifecycle> {
    const used = new Set(this.#lifecycles.values())
    for (const binding of this.#bindings.values()) if (binding.previous !== undefined) used.add(binding.previous)
    return used
  }

  #retireUnused (before: Set<Lifecycle>): void {
    const now = this.#inUse()
    for (const lifecycle of before) if (!now.has(lifecycle)) this.#retire(lifecycle)
  }

  #retire (lifecycle: Lifecycle): void {
    const stopping = lifecycle.source.stop()
    this.#stopping.add(stopping)
    const done = (): void => { this.#stopping.delete(stopping) }
    // A failed stop is seen by whoever awaits settled() or stop(); this chain only keeps the set small.
    stopping.then(done, done)
  }

  /** Resolves once every lifecycle retired so far has stopped. */
  async settled (): Promise<void> {
    await Promise.all([...this.#stopping])
  }

  /** Stops every lifecycle; final. */
  async stop (): Promise<void> {
    this.#stopped = true
    const before = this.#inUse()
    this.#lifecycles = new Map()
    this.#bindings = new Map()
    this.#retireUnused(before)
    await this.settled()
  }
}
