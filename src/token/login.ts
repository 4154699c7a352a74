// One login call to Roecny: the request, validation of the answer, and classification of failures.
import type { Dispatcher } from 'undici'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import { LOGIN_PATH } from '../proxy/target.js'
import { parseHttpDate, parseRetryAfter } from '../http-date.js'

/** A login answer larger than this is not a login answer; we never buffer more. */
export const MAX_LOGIN_BODY_BYTES = 64 * 1024

/**
 * A token goes into `Authorization: Bearer <token>` on every request, so it must be a legal
 * header value that cannot split or smuggle headers: visible ASCII only (RFC 9110 VCHAR), no
 * whitespace, no obs-text, no control characters. Every JWT and every RFC 6750 b64token fits.
 */
const HEADER_SAFE_TOKEN = /^[\x21-\x7E]+$/

/** ISO 8601 with a mandatory offset: a time without one would be read as local time. */
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})$/

/** Roecny error codes are short identifiers; anything longer is cut before it reaches logs. */
const MAX_CODE_LENGTH = 100

export type LoginFailureKind = 'rejected' | 'rate_limited' | 'error'
export type LoginOutcome = 'ok' | LoginFailureKind

export interface LoginSuccess {
  readonly ok: true
  readonly status: number
  readonly token: string
  /** What the server granted: `expires_at` (or the JWT `exp`) minus its `Date` header. */
  readonly lifetimeMs: number
}

export interface LoginFailure {
  readonly ok: false
  readonly kind: LoginFailureKind
  /** HTTP status of the answer; undefined when there was none (network error, timeout). */
  readonly status: number | undefined
  /** Roecny's error `code` from a JSON error body, when it sent one. */
  readonly code: string | undefined
  /** Our own one-line description; never echoes a response body or a secret. */
  readonly message: string
  /** From a `Retry-After` header (delta-seconds or HTTP date), relative to the answer's `Date`. */
  readonly retryAfterMs: number | undefined
}

export type LoginResult = LoginSuccess | LoginFailure

export interface LoginOptions {
  readonly config: Pick<Config, 'upstreamOrigin' | 'upstreamPathPrefix' | 'clientId' | 'apiKey' | 'scope' | 'loginAs' | 'loginTimeoutMs'>
  /** The keep-alive pool the proxy forwards with; its TLS settings are the caller's. */
  readonly dispatcher: Dispatcher
  readonly clock: Clock
  /** Aborts the attempt (shutdown). */
  readonly signal?: AbortSignal
}

type Body = Dispatcher.ResponseData['body']

function failure (kind: LoginFailureKind, status: number | undefined, message: string, code?: string, retryAfterMs?: number): LoginFailure {
  return { ok: false, kind, status, code, message, retryAfterMs }
}

function kindOf (status: number): LoginFailureKind {
  if (status === 401 || status === 403) return 'rejected'
  if (status === 429) return 'rate_limited'
  return 'error'
}

function header (headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const value = headers[name]
  // A repeated Date or Retry-After is ambiguous; treat it as absent.
  return typeof value === 'string' ? value : undefined
}

/** Reads at most MAX_LOGIN_BODY_BYTES; undefined (and the body destroyed) when larger. */
async function readBounded (body: Body, contentLength: string | undefined): Promise<string | undefined> {
  if (contentLength !== undefined && Number(contentLength) > MAX_LOGIN_BODY_BYTES) {
    body.destroy()
    return undefined
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += (chunk as Buffer).length
    if (size > MAX_LOGIN_BODY_BYTES) {
      body.destroy()
      return undefined
    }
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function parseJson (text: string | undefined): unknown {
  if (text === undefined) return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function errorCode (text: string | undefined): string | undefined {
  const parsed = parseJson(text)
  if (!isRecord(parsed) || typeof parsed.code !== 'string' || parsed.code === '') return undefined
  return parsed.code.slice(0, MAX_CODE_LENGTH)
}

/** Epoch ms of `expires_at`, or undefined when it is absent or not a time with an offset. */
export function parseExpiresAt (value: unknown): number | undefined {
  if (typeof value !== 'string' || !ISO_WITH_OFFSET.test(value)) return undefined
  // The vendor sends `+0000`; Date.parse only promises the `+00:00` form.
  const ms = Date.parse(value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'))
  return Number.isNaN(ms) ? undefined : ms
}

/** Epoch ms of the JWT's `exp` claim, or undefined when the token is not a JWT with one. */
export function jwtExpiry (token: string): number | undefined {
  const parts = token.split('.')
  if (parts.length !== 3) return undefined
  const payload = parseJson(Buffer.from(parts[1] as string, 'base64url').toString('utf8'))
  if (!isRecord(payload) || typeof payload.exp !== 'number' || !Number.isFinite(payload.exp)) return undefined
  return payload.exp * 1000
}

function validate (status: number, text: string | undefined, serverNowMs: number): LoginResult {
  if (text === undefined) return failure('error', status, `login answer larger than ${MAX_LOGIN_BODY_BYTES} bytes`)
  const parsed = parseJson(text)
  if (!isRecord(parsed)) return failure('error', status, 'login answer is not a JSON object')
  const token = parsed.token
  if (typeof token !== 'string') return failure('error', status, 'login answer has no token string')
  if (token === '') return failure('error', status, 'login answer has an empty token')
  if (!HEADER_SAFE_TOKEN.test(token)) return failure('error', status, 'login answer token is not a legal header value')
  const expiresAtMs = parseExpiresAt(parsed.expires_at) ?? jwtExpiry(token)
  if (expiresAtMs === undefined) return failure('error', status, 'login answer has neither a usable expires_at nor a JWT exp')
  const lifetimeMs = expiresAtMs - serverNowMs
  if (lifetimeMs <= 0) return failure('error', status, 'login answer token is already expired')
  return { ok: true, status, token, lifetimeMs }
}

function describeThrown (err: unknown, timedOut: boolean, aborted: boolean, timeoutMs: number): string {
  if (timedOut) return `login timed out after ${timeoutMs} ms`
  if (aborted) return 'login aborted'
  // Only the error's code: undici messages may quote header names, and a log line stays terse.
  const code = (err as { code?: unknown } | undefined)?.code
  return typeof code === 'string' ? `login request failed: ${code}` : 'login request failed'
}

function requestHeaders (config: LoginOptions['config']): Record<string, string> {
  const headers: Record<string, string> = {
    'x-client-id': config.clientId,
    'x-api-key': config.apiKey,
    'content-type': 'application/json'
  }
  if (config.scope !== undefined) headers.scope = config.scope
  if (config.loginAs !== undefined) headers['x-login-as'] = config.loginAs
  return headers
}

/** The request and the reading of its answer; throws on network errors and aborts. */
async function exchange (opts: LoginOptions, signal: AbortSignal): Promise<LoginResult> {
  const { config, dispatcher, clock } = opts
  const response = await dispatcher.request({
    origin: config.upstreamOrigin,
    path: config.upstreamPathPrefix + LOGIN_PATH,
    method: 'POST',
    headers: requestHeaders(config),
    body: '',
    signal
  })
  const serverNowMs = parseHttpDate(header(response.headers, 'date')) ?? clock.wallNow()
  // Every answer is read (bounded) or destroyed, so the pooled connection is never left hanging.
  const text = await readBounded(response.body, header(response.headers, 'content-length'))
  const status = response.statusCode
  if (status >= 200 && status < 300) return validate(status, text, serverNowMs)
  const retryAfterMs = parseRetryAfter(header(response.headers, 'retry-after'), serverNowMs)
  return failure(kindOf(status), status, `login answered ${status}`, errorCode(text), retryAfterMs)
}

/** Performs one login, bounded by loginTimeoutMs on the injected clock. Never throws; a failure is a result. */
export async function login (opts: LoginOptions): Promise<LoginResult> {
  const { config, clock, signal } = opts
  const controller = new AbortController()
  let timedOut = false
  const timer = clock.setTimer(function loginTimedOut () {
    timedOut = true
    controller.abort()
  }, config.loginTimeoutMs)
  function abortFromCaller (): void {
    controller.abort()
  }
  signal?.addEventListener('abort', abortFromCaller)
  if (signal?.aborted === true) controller.abort()

  let result: LoginResult
  try {
    result = await exchange(opts, controller.signal)
  } catch (err) {
    result = failure('error', undefined, describeThrown(err, timedOut, controller.signal.aborted, config.loginTimeoutMs))
  }
  timer.cancel()
  signal?.removeEventListener('abort', abortFromCaller)
  return result
}
