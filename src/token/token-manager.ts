// Token lifecycle: single-flight login, refresh ahead, backoff, and the state readiness reads.
import type { Logger } from 'pino'
import type { Dispatcher } from 'undici'
import type { Clock, TimerHandle } from '../clock.js'
import type { Config } from '../config.js'
import { login } from './login.js'
import type { LoginFailure, LoginOutcome, LoginResult } from './login.js'
import type { AdoptedToken, FleetOutcome, TokenFleet } from './token-fleet.js'
import type { TokenSource } from './token-source.js'

/** Backoff after a failed login: full jitter over `base * 2^(failures-1)`, capped. */
export const BACKOFF_BASE_MS = 1000
export const BACKOFF_CAP_MS = 60_000
/** Rejected credentials rarely fix themselves within seconds, so they are retried more slowly. */
export const REJECTED_BASE_MS = 10_000
export const REJECTED_CAP_MS = 300_000
/** A token is never handed out within min(30 s, 10 % of its lifetime) of its expiry. */
export const SAFETY_MARGIN_CAP_MS = 30_000
export const SAFETY_MARGIN_RATIO = 0.1
/** The refresh happens up to this share of its delay earlier, so replicas do not log in in step. */
export const REFRESH_JITTER_RATIO = 0.05
/** A Retry-After beyond this is treated as this: a broken header must not park the proxy for days. */
export const MAX_RETRY_AFTER_MS = 3_600_000
/** A lifetime beyond this is treated as this: we still refresh daily, and timers stay in range. */
export const MAX_LIFETIME_MS = 86_400_000
/** Floor for the refresh delay: a server granting absurdly short lifetimes must not cause a login storm. */
export const MIN_REFRESH_DELAY_MS = 1000

export type TokenState = 'starting' | 'ready' | 'refreshing' | 'backoff' | 'rejected' | 'stopped'

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
  /** Cancels timers and aborts a login in flight; resolves once nothing is left running. Final. */
  stop: () => Promise<void>
  status: () => TokenStatus
  loginInFlight: () => boolean
  /** Wall-clock ms of the current token's expiry; 0 without a token. */
  expiresAtWallMs: () => number
  /** Wall-clock ms of the current token's planned refresh; 0 without a token. */
  refreshAtWallMs: () => number
}

/** How long before its expiry a token with this lifetime stops being handed out: min(30 s, 10 %). */
export function safetyMarginMs (lifetimeMs: number): number {
  return Math.min(SAFETY_MARGIN_CAP_MS, lifetimeMs * SAFETY_MARGIN_RATIO)
}

/** Exponential backoff with full jitter; `failures` counts from 1. */
export function backoffDelay (failures: number, baseMs: number, capMs: number, random: number): number {
  return random * Math.min(capMs, baseMs * 2 ** Math.min(failures - 1, 30))
}

function iso (wallMs: number): string {
  return new Date(wallMs).toISOString()
}

export function createTokenManager (options: TokenManagerOptions): TokenManager {
  const { dispatcher, clock, log, onLoginResult, fleet } = options
  // What login() reads; a new object when the credentials change.
  let config = options.config

  // Times are monotonic ms, measured from when the login request was sent, so the wall clock
  // (ours or the server's) never decides when a token is used or refreshed.
  let token: string | undefined
  let usableUntil = -Infinity
  let obtainedAt = 0
  let expiresAt = 0
  let refreshAt = 0

  let inFlight: Promise<void> | undefined
  let abortLogin: AbortController | undefined
  let timer: TimerHandle | undefined
  let nextLoginAt: number | undefined
  let failures = 0
  /** The last token Roecny refused: fleet mode never adopts it again. */
  let refused: string | undefined
  let hadToken = false
  let adopted = 0
  let credentialsRejected = false
  let started = false
  let stopped = false
  let credentialsChanged = false
  const logins: Record<LoginOutcome, number> = { ok: 0, rejected: 0, rate_limited: 0, error: 0 }
  let lastError: LoginErrorStatus | null = null

  function wallAt (monotonicMs: number): number {
    return clock.wallNow() + (monotonicMs - clock.monotonic())
  }

  // Called on every proxied request: one comparison, no allocation.
  function current (): string | undefined {
    return clock.monotonic() < usableUntil ? token : undefined
  }

  function isReady (): boolean {
    return current() !== undefined
  }

  async function acquire (): Promise<string | undefined> {
    // The login in flight is itself bounded by loginTimeoutMs, so waiting for it is too. One that
    // new credentials replaced hands over to the login with them: the wait goes on for that one.
    for (;;) {
      const usable = current()
      if (usable !== undefined || inFlight === undefined) return usable
      await inFlight
    }
  }

  function cancelTimer (): void {
    timer?.cancel()
    timer = undefined
    nextLoginAt = undefined
  }

  function loginDue (): void {
    timer = undefined
    nextLoginAt = undefined
    beginLogin()
  }

  function schedule (delayMs: number): void {
    nextLoginAt = clock.monotonic() + delayMs
    timer = clock.setTimer(loginDue, delayMs)
  }

  function beginLogin (): void {
    if (stopped || inFlight !== undefined) return
    cancelTimer()
    const controller = new AbortController()
    abortLogin = controller
    inFlight = attempt(clock.monotonic(), controller)
  }

  async function obtain (controller: AbortController): Promise<FleetOutcome> {
    const credentials = config
    const loginNow = async (): Promise<LoginResult> => await login({ config: credentials, dispatcher, clock, signal: controller.signal })
    if (fleet === undefined) return { login: await loginNow() }
    return await fleet.obtain({ credentials, held: token, refused, login: loginNow, signal: controller.signal })
  }

  async function attempt (sentAt: number, controller: AbortController): Promise<void> {
    const outcome = await obtain(controller)
    // Replaced by a login with new credentials: this answer, whatever it is, no longer counts.
    if (abortLogin !== controller) return
    inFlight = undefined
    abortLogin = undefined
    if (stopped) return
    if ('adopted' in outcome) {
      took(outcome.adopted, clock.monotonic() - outcome.adopted.ageMs, 'token adopted from the fleet; refresh scheduled')
      adopted++
      return
    }
    const result = outcome.login
    const durationMs = clock.monotonic() - sentAt
    if (result.ok) {
      took(result, sentAt, 'login succeeded; token refresh scheduled')
      logins.ok++
    } else {
      failed(result)
    }
    report(result.ok ? 'ok' : result.kind, durationMs)
  }

  function report (outcome: LoginOutcome, durationMs: number): void {
    if (onLoginResult === undefined) return
    try {
      onLoginResult(outcome, durationMs)
    } catch (err) {
      log.warn({ err }, 'onLoginResult hook threw; ignored')
    }
  }

  /** A token to serve: from this replica's login sent at `sentAt`, or from the fleet, granted then. */
  function took (result: Pick<AdoptedToken, 'token' | 'lifetimeMs'>, sentAt: number, message: string): void {
    const now = clock.monotonic()
    const lifetime = Math.min(result.lifetimeMs, MAX_LIFETIME_MS)
    const margin = safetyMarginMs(lifetime)
    token = result.token
    hadToken = true
    obtainedAt = now
    expiresAt = sentAt + lifetime
    usableUntil = expiresAt - margin
    // Never plan the refresh past the point where the token stops being handed out.
    const planned = Math.min(lifetime * config.refreshRatio, lifetime - margin)
    const delay = Math.max(MIN_REFRESH_DELAY_MS, sentAt + planned * (1 - REFRESH_JITTER_RATIO * clock.random()) - now)
    refreshAt = now + delay
    failures = 0
    if (credentialsRejected) {
      credentialsRejected = false
      log.info('login credentials accepted again')
    }
    schedule(delay)
    log.info({
      expiresAt: iso(wallAt(expiresAt)),
      lifetimeSeconds: Math.round(lifetime / 1000),
      refreshAt: iso(wallAt(refreshAt)),
      refreshInSeconds: Math.round(delay / 1000)
    }, message)
  }

  function failed (result: LoginFailure): void {
    failures++
    logins[result.kind]++
    lastError = Object.freeze({ at: iso(clock.wallNow()), status: result.status ?? null, code: result.code ?? null, message: result.message })
    const rejected = result.kind === 'rejected'
    let delay = rejected
      ? backoffDelay(failures, REJECTED_BASE_MS, REJECTED_CAP_MS, clock.random())
      : backoffDelay(failures, BACKOFF_BASE_MS, BACKOFF_CAP_MS, clock.random())
    if (result.retryAfterMs !== undefined) delay = Math.max(delay, Math.min(result.retryAfterMs, MAX_RETRY_AFTER_MS))
    schedule(delay)
    const fields = { status: result.status, code: result.code, attempt: failures, retryInSeconds: Math.round(delay / 100) / 10 }
    if (!rejected) {
      log.warn(fields, `login failed: ${result.message}`)
      return
    }
    // Rejected credentials are one operator problem, not one per attempt: error once per change.
    if (credentialsRejected) {
      log.debug(fields, 'login still rejected')
      return
    }
    credentialsRejected = true
    log.error(fields, `login rejected (${result.message}): check the client ID and API key; retrying slowly`)
  }

  function setCredentials (next: Partial<Credentials>): boolean {
    const clientId = next.clientId ?? config.clientId
    const apiKey = next.apiKey ?? config.apiKey
    if (clientId === config.clientId && apiKey === config.apiKey) return false
    config = Object.freeze({ ...config, clientId, apiKey })
    if (started && !stopped && !credentialsChanged) {
      credentialsChanged = true
      queueMicrotask(loginWithNewCredentials)
    }
    return true
  }

  /**
   * A login in flight carries the old values, which may be exactly what was revoked: it is aborted
   * rather than waited for (up to LOGIN_TIMEOUT_MS), and its answer ignored. The current token keeps
   * serving meanwhile; a rejection of the new values is a new state, so it is logged again.
   */
  function loginWithNewCredentials (): void {
    credentialsChanged = false
    if (stopped) return
    log.info('credentials changed; logging in with the new ones')
    const replaced = abortLogin
    inFlight = undefined
    abortLogin = undefined
    replaced?.abort()
    failures = 0
    credentialsRejected = false
    beginLogin()
  }

  function invalidate (refusedToken: string): void {
    // A 401 to a request that carried an older token says nothing about the current one.
    if (refusedToken !== token) return
    refused = refusedToken
    fleet?.refused(refusedToken, config)
    token = undefined
    usableUntil = -Infinity
    log.info('upstream refused the current token; logging in again')
    beginLogin()
  }

  function retryAfterSeconds (): number {
    if (nextLoginAt === undefined) return 1
    return Math.max(1, Math.ceil((nextLoginAt - clock.monotonic()) / 1000))
  }

  function state (): TokenState {
    if (stopped) return 'stopped'
    if (credentialsRejected) return 'rejected'
    if (failures > 0) return 'backoff'
    if (inFlight !== undefined) return hadToken ? 'refreshing' : 'starting'
    return isReady() ? 'ready' : 'starting'
  }

  function status (): TokenStatus {
    return {
      ready: isReady(),
      state: state(),
      loginInFlight: loginInFlight(),
      token: token === undefined
        ? { obtainedAt: null, expiresAt: null, refreshAt: null }
        : { obtainedAt: iso(wallAt(obtainedAt)), expiresAt: iso(wallAt(expiresAt)), refreshAt: iso(wallAt(refreshAt)) },
      logins: { ...logins },
      lastLoginError: lastError,
      nextLoginAt: nextLoginAt === undefined ? null : iso(wallAt(nextLoginAt)),
      ...(fleet === undefined ? {} : { tokensAdopted: adopted })
    }
  }

  function loginInFlight (): boolean {
    return inFlight !== undefined
  }

  function expiresAtWallMs (): number {
    return token === undefined ? 0 : wallAt(expiresAt)
  }

  function refreshAtWallMs (): number {
    return token === undefined ? 0 : wallAt(refreshAt)
  }

  function start (): void {
    if (started) return
    started = true
    beginLogin()
  }

  async function stop (): Promise<void> {
    stopped = true
    cancelTimer()
    token = undefined
    usableUntil = -Infinity
    abortLogin?.abort()
    await inFlight
  }

  return {
    start,
    setCredentials,
    stop,
    current,
    acquire,
    invalidate,
    retryAfterSeconds,
    isReady,
    status,
    loginInFlight,
    expiresAtWallMs,
    refreshAtWallMs
  }
}
