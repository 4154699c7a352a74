// Each profile's upstream limiter: its own queue and cap, drawing on its Roecny account's shared budget (SPEC §13 "Limits").
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import { ComposedBudget } from '../limits/composed-budget.js'
import type { Budget, LimiterStatus, Limits, UpstreamLimiter } from '../limits/limiter.js'
import { MemoryBudget } from '../limits/memory-limiter.js'
import { QueuedLimiter } from '../limits/queue.js'
import type { Account, Profile, ProfilesDescription } from './file.js'

/**
 * Makes a budget: the account's (`profile` undefined; `limits` are UPSTREAM_*, or all 0 when only its
 * profiles have caps, so it only carries Roecny's pauses) or a profile's cap within it. Fleet mode
 * passes one keyed by the account, and by the account and the profile's name for a cap.
 */
export type BudgetFactory = (account: Pick<Account, 'baseUrl' | 'clientId'>, profile: string | undefined, limits: Limits) => Budget

export interface ProfileLimitersDeps {
  readonly clock: Clock
  readonly log: Logger
  /** Default: a MemoryBudget, this process alone. */
  readonly budgetFor?: BudgetFactory
  /**
   * UPSTREAM_QUEUE_TIMEOUT_MS and UPSTREAM_QUEUE_MAX, for profiles with caps when neither account
   * limit is set (`limits` undefined); with `limits`, its own serve. Default: the variables' defaults.
   */
  readonly queue?: Pick<Limits, 'queueTimeoutMs' | 'queueMax'>
}

export interface ProfileLimiters {
  /** The profile's limiter; undefined when neither its account nor the profile has a limit (nothing is queued). */
  forProfile: (name: string) => UpstreamLimiter | undefined
  /** Applies a new description: budgets of accounts and profiles that remain are kept, with their in-flight counts. */
  apply: (description: ProfilesDescription) => void
  /** Per limited profile of the applied description. */
  status: () => Record<string, LimiterStatus>
  /** /-/status's `limits`: the account-wide limits and, per account with a budget, its profiles, in flight and pause (never a client ID). */
  accountsStatus: () => AccountsLimitsStatus
  /** Cancels every timer (at shutdown, once no request is left). */
  close: () => void
}

/** What /-/status shows of the limits with profiles: UPSTREAM_* apply per account (0: not set). */
export interface AccountsLimitsStatus {
  /** Whether any request waits for a limit: UPSTREAM_* set, or a profile with a cap. */
  readonly enabled: boolean
  readonly per: 'account'
  readonly maxInFlight: number
  readonly rateLimit: number
  readonly rateBurst: number
  readonly queueTimeoutMs: number
  readonly queueMax: number
  /** Each account with a budget, named by the profiles that use it (file order). */
  readonly accounts: ReadonlyArray<{ readonly profiles: readonly string[], readonly inFlight: number, readonly pause: LimiterStatus['pause'] }>
}

/** The defaults of UPSTREAM_QUEUE_TIMEOUT_MS and UPSTREAM_QUEUE_MAX. */
const DEFAULT_QUEUE = { queueTimeoutMs: 10_000, queueMax: 1000 }

interface AccountState {
  readonly key: string
  readonly budget: Budget
  /** Its profiles with a limiter in the applied description, in file order. */
  profiles: string[]
  /** The profile queues drawing on it, retired ones included until they are done. */
  readonly queues: ProfileState[]
  /** Which queue is woken first at the next release: it moves on each time, so none is always last. */
  turn: number
  readonly identity: Pick<Account, 'baseUrl' | 'clientId'>
}

interface ProfileState {
  readonly name: string
  readonly account: AccountState
  /** The caps it was made for: a change makes a new limiter. */
  readonly caps: string
  /** The profile's own cap, inside the limiter's composed budget. */
  readonly cap: Budget
  readonly limiter: QueuedLimiter
}

function capsOf (profile: Profile): string {
  return `${profile.maxInFlight}/${profile.rateLimit}/${profile.rateBurst}`
}

function limited (profile: Profile, limits: Limits | undefined): boolean {
  return limits !== undefined || profile.maxInFlight > 0 || profile.rateLimit > 0
}

class Limiters implements ProfileLimiters {
  readonly #limits: Limits | undefined
  /** What an account's budget enforces: UPSTREAM_*, or nothing but Roecny's pauses. */
  readonly #accountLimits: Limits
  readonly #queue: Pick<Limits, 'queueTimeoutMs' | 'queueMax'>
  readonly #deps: ProfileLimitersDeps
  readonly #budgetFor: BudgetFactory
  #accounts = new Map<string, AccountState>()
  #profiles = new Map<string, ProfileState>()
  /** Every limiter not yet closed: those of the applied description, and retired ones still finishing. */
  readonly #live = new Set<ProfileState>()
  /** The retired ones among them: closed once nothing of them runs or waits (their waiters may also time out or leave). */
  readonly #retired = new Set<ProfileState>()

  constructor (limits: Limits | undefined, deps: ProfileLimitersDeps) {
    this.#limits = limits
    const { queueTimeoutMs, queueMax } = limits ?? deps.queue ?? DEFAULT_QUEUE
    this.#queue = { queueTimeoutMs, queueMax }
    this.#accountLimits = limits ?? { maxInFlight: 0, rateLimit: 0, rateBurst: 0, ...this.#queue }
    this.#deps = deps
    this.#budgetFor = deps.budgetFor ?? ((_account, _profile, budgetLimits) => new MemoryBudget(budgetLimits, deps.clock))
  }

  forProfile (name: string): UpstreamLimiter | undefined {
    return this.#profiles.get(name)?.limiter
  }

  apply (description: ProfilesDescription): void {
    const identities = new Map(description.accounts.map((account) => [account.key, account]))
    const accounts = new Map<string, AccountState>()
    const profiles = new Map<string, ProfileState>()
    for (const profile of description.profiles.values()) {
      if (!limited(profile, this.#limits)) continue
      let account = accounts.get(profile.account)
      if (account === undefined) {
        account = this.#accounts.get(profile.account) ?? this.#finishing(profile.account) ?? this.#newAccount(identities.get(profile.account) as Account)
        account.profiles = []
        accounts.set(profile.account, account)
      }
      account.profiles.push(profile.name)
      const kept = this.#profiles.get(profile.name)
      profiles.set(profile.name, kept !== undefined && kept.account === account && kept.caps === capsOf(profile)
        ? kept
        : this.#newProfile(profile, account))
    }
    const before = this.#profiles
    this.#accounts = accounts
    this.#profiles = profiles
    for (const state of before.values()) {
      if (profiles.get(state.name) === state) continue
      this.#retired.add(state)
    }
    this.#closeRetired()
  }

  status (): Record<string, LimiterStatus> {
    const result: Record<string, LimiterStatus> = {}
    for (const [name, state] of this.#profiles) result[name] = state.limiter.status()
    return result
  }

  accountsStatus (): AccountsLimitsStatus {
    const { maxInFlight, rateLimit, rateBurst, queueTimeoutMs, queueMax } = this.#accountLimits
    const accounts = [...this.#accounts.values()].map((account) => ({
      profiles: [...account.profiles],
      inFlight: account.budget.inFlight(),
      // Every profile's queue waits on its account's pause: the first one's status shows it.
      pause: (this.#profiles.get(account.profiles[0] as string) as ProfileState).limiter.status().pause
    }))
    return { enabled: this.#profiles.size > 0, per: 'account', maxInFlight, rateLimit, rateBurst, queueTimeoutMs, queueMax, accounts }
  }

  close (): void {
    const accounts = new Set(this.#accounts.values())
    for (const state of this.#live) {
      state.limiter.close()
      state.cap.close?.()
      accounts.add(state.account)
    }
    for (const account of accounts) account.budget.close?.()
  }

  /** An account dropped by an earlier description whose retired limiters still hold requests: its count goes on. */
  #finishing (key: string): AccountState | undefined {
    for (const state of this.#live) if (state.account.key === key) return state.account
    return undefined
  }

  #newAccount (account: Account): AccountState {
    return { key: account.key, budget: this.#budgetFor(account, undefined, this.#accountLimits), profiles: [], queues: [], turn: 0, identity: account }
  }

  #newProfile (profile: Profile, account: AccountState): ProfileState {
    const caps: Limits = { maxInFlight: profile.maxInFlight, rateLimit: profile.rateLimit, rateBurst: profile.rateBurst, ...this.#queue }
    // A profile without caps has nothing to count: a budget in memory, never a round trip to a shared store.
    const cap = profile.maxInFlight === 0 && profile.rateLimit === 0 ? new MemoryBudget(caps, this.#deps.clock) : this.#budgetFor(account.identity, profile.name, caps)
    const budget = new ComposedBudget(cap, account.budget, () => this.#released(state))
    const limiter = new QueuedLimiter(budget, caps, { clock: this.#deps.clock, log: this.#deps.log.child({ profile: profile.name }) })
    const state: ProfileState = { name: profile.name, account, caps: capsOf(profile), cap, limiter }
    account.queues.push(state)
    this.#live.add(state)
    return state
  }

  /**
   * A lease went back to the account's budget: every queue of the account is woken, the first one
   * in turn first, and the first to take the slot wins; the turn moves on so that no queue starves.
   */
  #released (state: ProfileState): void {
    const { queues } = state.account
    const first = state.account.turn++ % queues.length
    for (const queue of [...queues.slice(first), ...queues.slice(0, first)]) queue.limiter.wake()
    if (this.#retired.size > 0) this.#closeRetired()
  }

  #closeRetired (): void {
    for (const state of this.#retired) this.#closeIfDone(state)
  }

  /** A retired profile's limiter goes once nothing of it is in flight or waiting. */
  #closeIfDone (state: ProfileState): void {
    const { inFlight, queued } = state.limiter.status()
    if (inFlight > 0 || queued > 0) return
    state.limiter.close()
    state.cap.close?.()
    this.#live.delete(state)
    this.#retired.delete(state)
    const { queues } = state.account
    queues.splice(queues.indexOf(state), 1)
    // The last limiter of an account no profile uses any more: its budget goes too.
    if (queues.length === 0 && this.#accounts.get(state.account.key) !== state.account) state.account.budget.close?.()
  }
}

/** The limiters of a description's profiles; apply() replaces the description. */
export function createProfileLimiters (description: ProfilesDescription, limits: Limits | undefined, deps: ProfileLimitersDeps): ProfileLimiters {
  const limiters = new Limiters(limits, deps)
  limiters.apply(description)
  return limiters
}
