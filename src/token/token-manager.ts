// Token lifecycle: single-flight login, refresh ahead, backoff, the explicit state readiness and /-/status read.
import type { Logger } from 'pino'
import type { Dispatcher } from 'undici'
import type { Clock, TimerHandle } from '../clock.js'
import type { Config } from '../config.js'
import { retryAfterMs, retryDelay } from './backoff.js'
import { login } from './login.js'
import type { LoginFailure, LoginOutcome, LoginResult } from './login.js'
import { planToken } from './plan.js'
import type { AdoptedToken, FleetOutcome, TokenFleet } from './token-fleet.js'
import type { TokenSource } from './token-source.js'

/** An operator's retryNow() (SIGHUP) starts at most one login per this interval: Roecny limits logins per minute per key. */
export const RETRY_NOW_INTERVAL_MS = 10_000

/**
 * The states drawn in docs/architecture.md; set at each transition. `starting` and `refreshing` are a
 * login on its way (before and after the first token), `backoff` and `rejected` the wait for a retry.
 */
export const TOKEN_STATES = ['starting', 'ready', 'refreshing', 'backoff', 'rejected', 'stopped'] as const
export type TokenState = typeof TOKEN_STATES[number]

/** What retryNow() did: a login started, or why none did. */
export type RetryNowOutcome = 'started' | 'token-usable' | 'login-in-flight' | 'retry-after' | 'too-soon' | 'not-running'

export interface LoginErrorStatus {
  /** ISO wall-clock time of the failure. */
  readonly at: string
  readonly status: number | null
  /** Roecny's error `code`, when it sent one. */
  readonly code: string | null
  readonly message: string
}

/** What /-/status shows; never the token or a credential. */
export interface TokenStatus {
  readonly ready: boolean
  readonly state: TokenState
  readonly loginInFlight: boolean
  /** ISO wall-clock times of the current token; all null without one. */
  readonly token: { obtainedAt: string | null, expiresAt: string | null, refreshAt: string | null }
  readonly logins: Record<LoginOutcome, number>
  readonly lastLoginError: LoginErrorStatus | null
  /** ISO wall-clock time of the next scheduled login (refresh or retry); null when none is scheduled. */
  readonly nextLoginAt: string | null
  /** Fleet mode only: tokens taken up from the fleet's store rather than from a login of this replica. */
  readonly tokensAdopted?: number
}

export interface TokenManagerOptions {
  readonly config: Pick<Config, 'baseUrl' | 'upstreamOrigin' | 'upstreamPathPrefix' | 'clientId' | 'apiKey' | 'scope' | 'loginAs' | 'refreshRatio' | 'loginTimeoutMs'>
  /** The keep-alive pool the proxy forwards with. */
  readonly dispatcher: Dispatcher
  readonly clock: Clock
  readonly log: Logger
  /** Called after every login that was not aborted by stop(), e.g. for metrics. */
  readonly onLoginResult?: (result: LoginOutcome, durationMs: number) => void
  /** Called each time a new token starts serving: this replica's own login or one adopted from the fleet. */
  readonly onToken?: () => void
  /** Fleet mode (SPEC §12): one token for every replica sharing a Redis; undefined: this replica alone. */
  readonly fleet?: TokenFleet
}

/** What a login sends; replaced when a rotated *_FILE secret brings new values. */
export interface Credentials {
  readonly clientId: string
  readonly apiKey: string
}

export interface TokenManager extends TokenSource {
  /** Logs in at once; later calls do nothing. */
  start: () => void
  /**
   * New credentials (a rotated secret file): once the calling code yields, a login with them starts
   * (changes made together cost one login); the current token serves until it succeeds. False
   * when the values are the ones in use.
   */
  setCredentials: (credentials: Partial<Credentials>) => boolean
  /**
   * An operator's nudge (SIGHUP): with no usable token, the login waiting for its retry starts now,
   * unless Roecny's Retry-After still runs or this started one less than RETRY_NOW_INTERVAL_MS ago.
   * Logged when there is no usable token; silent otherwise.
   */
  retryNow: () => RetryNowOutcome
  /** Cancels timers and aborts a login in flight; resolves once nothing is left running. Final. */
  stop: () => Promise<void>
  status: () => TokenStatus
  loginInFlight: () => boolean
  /** Wall-clock ms of the current token's expiry; 0 without a token. */
  expiresAtWallMs: () => number
  /** Wall-clock ms of the current token's planned refresh; 0 without a token. */
  refreshAtWallMs: () => number
}

function iso (wallMs: number): string {
  return new Date(wallMs).toISOString()
}

/** The current token's times, monotonic ms: when it was taken up, and its plan. */
interface TokenTimes {
  readonly obtainedAt: number
  readonly expiresAt: number
  readonly refreshAt: number
}

/** A login on its way, and what aborts it. */
interface InFlight {
  readonly promise: Promise<void>
  readonly controller: AbortController
}

/** One token's lifecycle: the state it is in and what moves it on. Reached only through createTokenManager(). */
class TokenLifecycle {
  private readonly options: TokenManagerOptions
  private readonly clock: Clock
  private readonly log: Logger
  /** What login() reads; a new object when the credentials change. */
  private config: TokenManagerOptions['config']

  private state: TokenState = 'starting'
  private started = false
  /** The token served, and until when (monotonic ms): current() reads these on every request. */
  private token: string | undefined
  private usableUntil = -Infinity
  /** Meaningful while `token` is set. */
  private times: TokenTimes = { obtainedAt: 0, expiresAt: 0, refreshAt: 0 }
  /** Whether a token was ever held: a login then is a refresh, not the start. */
  private hadToken = false
  private inFlight: InFlight | undefined
  private timer: TimerHandle | undefined
  private nextLoginAt: number | undefined

  /** Failed logins in a row: the backoff's exponent. */
  private failures = 0
  /** Until when Roecny's last Retry-After runs; retryNow() does not cut it short. */
  private retryAfterUntil = -Infinity
  /** When retryNow() last started a login. */
  private retryNowAt = -Infinity
  /** Rejected since the last success: the error is logged on the change, not on every attempt. */
  private credentialsRejected = false
  /** New credentials set; their login starts once the caller yields. */
  private credentialsChanged = false
  /** The last token Roecny refused: fleet mode never adopts it again. */
  private refused: string | undefined

  private readonly logins: Record<LoginOutcome, number> = { ok: 0, rejected: 0, rate_limited: 0, error: 0 }
  private lastError: LoginErrorStatus | null = null
  private adopted = 0

  constructor (options: TokenManagerOptions) {
    this.options = options
    this.clock = options.clock
    this.log = options.log
    this.config = options.config
  }

  // ---- what the request path asks

  current (): string | undefined {
    return this.clock.monotonic() < this.usableUntil ? this.token : undefined
  }

  isReady (): boolean {
    return this.current() !== undefined
  }

  async acquire (): Promise<string | undefined> {
    // The login in flight is itself bounded by loginTimeoutMs, so waiting for it is too. One that
    // new credentials replaced hands over to the login with them: the wait goes on for that one.
    for (;;) {
      const usable = this.current()
      if (usable !== undefined || this.inFlight === undefined) return usable
      await this.inFlight.promise
    }
  }

  invalidate (refusedToken: string): void {
    // A 401 to a request that carried an older token says nothing about the current one.
    if (refusedToken !== this.token) return
    this.refused = refusedToken
    this.options.fleet?.refused(refusedToken, this.config)
    this.drop()
    this.log.info('upstream refused the current token; logging in again')
    this.beginLogin()
  }

  retryAfterSeconds (): number {
    if (this.nextLoginAt === undefined) return 1
    return Math.max(1, Math.ceil((this.nextLoginAt - this.clock.monotonic()) / 1000))
  }

  // ---- logins: one in flight at most

  start (): void {
    if (this.started) return
    this.started = true
    this.beginLogin()
  }

  private beginLogin (): void {
    if (this.state === 'stopped' || this.inFlight !== undefined) return
    this.cancelTimer()
    const controller = new AbortController()
    this.state = this.hadToken ? 'refreshing' : 'starting'
    this.inFlight = { controller, promise: this.attempt(this.clock.monotonic(), controller) }
  }

  private async obtain (controller: AbortController): Promise<FleetOutcome> {
    const credentials = this.config
    const { dispatcher, clock, fleet } = this.options
    const loginNow = async (): Promise<LoginResult> => await login({ config: credentials, dispatcher, clock, signal: controller.signal })
    if (fleet === undefined) return { login: await loginNow() }
    return await fleet.obtain({ credentials, held: this.token, refused: this.refused, login: loginNow, signal: controller.signal })
  }

  private async attempt (sentAt: number, controller: AbortController): Promise<void> {
    const outcome = await this.obtain(controller)
    // Replaced by a login with new credentials: this answer, whatever it is, no longer counts.
    if (this.inFlight?.controller !== controller) return
    this.inFlight = undefined
    if (this.state === 'stopped') return
    if ('adopted' in outcome) {
      this.took(outcome.adopted, this.clock.monotonic() - outcome.adopted.ageMs, 'token adopted from the fleet; refresh scheduled')
      this.adopted++
      return
    }
    const result = outcome.login
    const durationMs = this.clock.monotonic() - sentAt
    if (result.ok) {
      this.took(result, sentAt, 'login succeeded; token refresh scheduled')
      this.logins.ok++
    } else {
      this.failed(result)
    }
    this.report(result.ok ? 'ok' : result.kind, durationMs)
  }

  private report (outcome: LoginOutcome, durationMs: number): void {
    const { onLoginResult } = this.options
    if (onLoginResult === undefined) return
    try {
      onLoginResult(outcome, durationMs)
    } catch (err) {
      this.log.warn({ err }, 'onLoginResult hook threw; ignored')
    }
  }

  // ---- outcomes of a login

  /** A token to serve: from this replica's login sent at `grantedAt`, or from the fleet, granted then. */
  private took (result: Pick<AdoptedToken, 'token' | 'lifetimeMs'>, grantedAt: number, message: string): void {
    const now = this.clock.monotonic()
    const plan = planToken({ lifetimeMs: result.lifetimeMs, grantedAt, now, refreshRatio: this.config.refreshRatio, random: this.clock.random() })
    this.token = result.token
    this.times = { obtainedAt: now, expiresAt: plan.expiresAt, refreshAt: plan.refreshAt }
    this.usableUntil = plan.usableUntil
    this.hadToken = true
    this.state = 'ready'
    this.failures = 0
    this.retryAfterUntil = -Infinity
    if (this.credentialsRejected) {
      this.credentialsRejected = false
      this.log.info('login credentials accepted again')
    }
    this.schedule(plan.refreshDelayMs)
    this.log.info({
      expiresAt: iso(this.wallAt(plan.expiresAt)),
      lifetimeSeconds: Math.round(plan.lifetimeMs / 1000),
      refreshAt: iso(this.wallAt(plan.refreshAt)),
      refreshInSeconds: Math.round(plan.refreshDelayMs / 1000)
    }, message)
    this.options.onToken?.()
  }

  private failed (result: LoginFailure): void {
    this.failures++
    this.logins[result.kind]++
    this.lastError = Object.freeze({ at: iso(this.clock.wallNow()), status: result.status ?? null, code: result.code ?? null, message: result.message })
    const rejected = result.kind === 'rejected'
    const delay = retryDelay(result, this.failures, this.clock.random())
    const asked = retryAfterMs(result)
    this.retryAfterUntil = asked > 0 ? this.clock.monotonic() + asked : -Infinity
    this.schedule(delay)
    const fields = { status: result.status, code: result.code, attempt: this.failures, retryInSeconds: Math.round(delay / 100) / 10 }
    if (rejected && !this.credentialsRejected) {
      this.credentialsRejected = true
      this.log.error(fields, `login rejected (${result.message}): check the client ID and API key; retrying slowly`)
    } else if (rejected) {
      // Rejected credentials are one operator problem, not one per attempt: error once per change.
      this.log.debug(fields, 'login still rejected')
    } else {
      this.log.warn(fields, `login failed: ${result.message}`)
    }
    // Credentials rejected and not accepted since stay the state through other failures.
    this.state = this.credentialsRejected ? 'rejected' : 'backoff'
  }

  // ---- the one timer: the next refresh or retry

  private schedule (delayMs: number): void {
    this.nextLoginAt = this.clock.monotonic() + delayMs
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined
      this.nextLoginAt = undefined
      this.beginLogin()
    }, delayMs)
  }

  private cancelTimer (): void {
    this.timer?.cancel()
    this.timer = undefined
    this.nextLoginAt = undefined
  }

  // ---- what operators and secrets change

  setCredentials (next: Partial<Credentials>): boolean {
    const clientId = next.clientId ?? this.config.clientId
    const apiKey = next.apiKey ?? this.config.apiKey
    if (clientId === this.config.clientId && apiKey === this.config.apiKey) return false
    this.config = Object.freeze({ ...this.config, clientId, apiKey })
    if (this.started && this.state !== 'stopped' && !this.credentialsChanged) {
      this.credentialsChanged = true
      queueMicrotask(() => this.loginWithNewCredentials())
    }
    return true
  }

  /**
   * A login in flight carries the old values, which may be exactly what was revoked: it is aborted
   * rather than waited for (up to LOGIN_TIMEOUT_MS), and its answer ignored. The current token keeps
   * serving meanwhile; a rejection of the new values is a new state, so it is logged again.
   */
  private loginWithNewCredentials (): void {
    this.credentialsChanged = false
    if (this.state === 'stopped') return
    this.log.info('credentials changed; logging in with the new ones')
    const replaced = this.inFlight
    this.inFlight = undefined
    replaced?.controller.abort()
    this.failures = 0
    this.credentialsRejected = false
    this.beginLogin()
  }

  retryNow (): RetryNowOutcome {
    if (!this.started || this.state === 'stopped') return 'not-running'
    if (this.current() !== undefined) return 'token-usable'
    if (this.inFlight !== undefined || this.credentialsChanged) {
      this.log.info('no usable token; a login is already on its way')
      return 'login-in-flight'
    }
    const now = this.clock.monotonic()
    if (now < this.retryAfterUntil) {
      this.log.info({ retryInSeconds: this.retryAfterSeconds() }, 'no usable token; Roecny\'s Retry-After still runs, so the login keeps its time')
      return 'retry-after'
    }
    if (now < this.retryNowAt + RETRY_NOW_INTERVAL_MS) {
      this.log.info({ retryInSeconds: this.retryAfterSeconds() }, `no usable token; a login was started on request less than ${RETRY_NOW_INTERVAL_MS / 1000} s ago, so the login keeps its time`)
      return 'too-soon'
    }
    this.retryNowAt = now
    this.log.info({ state: this.state }, 'no usable token; logging in now instead of at the scheduled retry')
    this.beginLogin()
    return 'started'
  }

  async stop (): Promise<void> {
    this.state = 'stopped'
    this.cancelTimer()
    this.drop()
    this.inFlight?.controller.abort()
    await this.inFlight?.promise
  }

  private drop (): void {
    this.token = undefined
    this.usableUntil = -Infinity
  }

  // ---- what status and metrics read

  private wallAt (monotonicMs: number): number {
    return this.clock.wallNow() + (monotonicMs - this.clock.monotonic())
  }

  status (): TokenStatus {
    const { times, nextLoginAt } = this
    return {
      ready: this.isReady(),
      state: this.state,
      loginInFlight: this.loginInFlight(),
      token: this.token === undefined
        ? { obtainedAt: null, expiresAt: null, refreshAt: null }
        : { obtainedAt: iso(this.wallAt(times.obtainedAt)), expiresAt: iso(this.wallAt(times.expiresAt)), refreshAt: iso(this.wallAt(times.refreshAt)) },
      logins: { ...this.logins },
      lastLoginError: this.lastError,
      nextLoginAt: nextLoginAt === undefined ? null : iso(this.wallAt(nextLoginAt)),
      ...(this.options.fleet === undefined ? {} : { tokensAdopted: this.adopted })
    }
  }

  loginInFlight (): boolean {
    return this.inFlight !== undefined
  }

  expiresAtWallMs (): number {
    return this.token === undefined ? 0 : this.wallAt(this.times.expiresAt)
  }

  refreshAtWallMs (): number {
    return this.token === undefined ? 0 : this.wallAt(this.times.refreshAt)
  }
}

/** A token manager; cheap to build and holding no global, so a process may run several. Nothing runs before start(). */
export function createTokenManager (options: TokenManagerOptions): TokenManager {
  const lifecycle = new TokenLifecycle(options)
  // Plain functions: callers pass them around detached (e.g. `busyWhile(manager.loginInFlight)`).
  return {
    start: () => lifecycle.start(),
    setCredentials: (credentials) => lifecycle.setCredentials(credentials),
    retryNow: () => lifecycle.retryNow(),
    stop: async () => await lifecycle.stop(),
    current: () => lifecycle.current(),
    acquire: async () => await lifecycle.acquire(),
    invalidate: (token) => lifecycle.invalidate(token),
    retryAfterSeconds: () => lifecycle.retryAfterSeconds(),
    isReady: () => lifecycle.isReady(),
    status: () => lifecycle.status(),
    loginInFlight: () => lifecycle.loginInFlight(),
    expiresAtWallMs: () => lifecycle.expiresAtWallMs(),
    refreshAtWallMs: () => lifecycle.refreshAtWallMs()
  }
}
