// The request target: its path and query, the proxy's own paths, the methods never forwarded, the login path, and the one normal form the policies compare.
import { METHODS } from '../node-http.js'

/** Roecny's login endpoint, below the base URL's path prefix. */
export const LOGIN_PATH = '/api/v1/authentication/login'

/** Everything under this prefix is the proxy's own and never forwarded. */
export const OWN_PREFIX = '/-/'

/** What kubelet probes and Prometheus read: served on every listener, with no caller checks. */
export const PROBE_PATHS: readonly string[] = Object.freeze(['/-/healthz', '/-/readyz', '/-/metrics'])

/** The proxy's own routes on its main listener. */
export const OWN_PATHS: readonly string[] = Object.freeze([...PROBE_PATHS, '/-/status'])

/**
 * Methods that are never forwarded: CONNECT (not a request to the API) and TRACE, which would
 * make Roecny reflect the injected bearer token back to the caller.
 */
export const NEVER_FORWARDED: ReadonlySet<string> = new Set(['CONNECT', 'TRACE'])

/** Every other method Node parses. */
export const FORWARDED_METHODS: readonly string[] = Object.freeze(METHODS.filter((method) => !NEVER_FORWARDED.has(method)))

const SLASH = 0x2f
const DASH = 0x2d
const DOT = 0x2e
const PERCENT = 0x25
const SEMICOLON = 0x3b
const BACKSLASH = 0x5c
const HASH = 0x23

/** The raw target split once: the path (as sent) and the query (without its `?`). */
export function splitTarget (url: string): { path: string, query: string } {
  const q = url.indexOf('?')
  return q === -1 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) }
}

/** The target's path, as sent. */
export function pathOf (url: string): string {
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

/** True for a target under `/-/`: the proxy answers it itself. */
export function isOwnTarget (url: string): boolean {
  return url.charCodeAt(1) === DASH && url.charCodeAt(2) === SLASH && url.charCodeAt(0) === SLASH
}

export const TARGET_BAD = -1
export const HAS_PERCENT = 1

/** True when a segment (`start` to `end`, exclusive) is `.` or `..`, once its `;parameters` are cut. */
function dotSegment (url: string, start: number, end: number): boolean {
  if (url.charCodeAt(start) !== DOT) return false
  const length = end - start
  return length === 1 || (length === 2 && url.charCodeAt(start + 1) === DOT)
}

/**
 * One pass over the raw target, allocating nothing: visible ASCII only, no `\` or `#` anywhere (a
 * URL parser would turn them into `/` or cut the path), no `.` or `..` segment in the path (also
 * not as `..;x`, which a server that cuts path parameters resolves), no `//` at its start.
 * Returns TARGET_BAD, or flags saying whether the path needs decoding.
 */
export function scanTarget (url: string, pathEnd: number): number {
  if (url.charCodeAt(1) === SLASH) return TARGET_BAD
  let flags = 0
  let segmentStart = 1
  let segmentEnd = -1
  for (let i = 1; i <= pathEnd; i++) {
    const c = i < pathEnd ? url.charCodeAt(i) : SLASH
    if (c === SLASH) {
      if (dotSegment(url, segmentStart, segmentEnd === -1 ? i : segmentEnd)) return TARGET_BAD
      segmentStart = i + 1
      segmentEnd = -1
    } else if (c === SEMICOLON) {
      if (segmentEnd === -1) segmentEnd = i
    } else if (c === PERCENT) {
      flags |= HAS_PERCENT
    } else if (c <= 0x20 || c >= 0x7f || c === BACKSLASH || c === HASH) {
      return TARGET_BAD
    }
  }
  for (let i = pathEnd; i < url.length; i++) {
    const c = url.charCodeAt(i)
    if (c <= 0x20 || c >= 0x7f || c === BACKSLASH || c === HASH) return TARGET_BAD
  }
  return flags
}

/** After percent-decoding: control characters, a backslash, a `.` or `..` segment (parameters or not), or `//` at the start. */
const BAD_DECODED_PATH = /[\x00-\x1f\x7f\\]|(?:^|\/)\.\.?(?:[/;]|$)|^\/\// // eslint-disable-line no-control-regex -- finding them is the point

/** The decoded path, or undefined when an escape is malformed or decodes to something that is refused. */
export function decodePath (path: string): string | undefined {
  let decoded: string
  try {
    decoded = decodeURIComponent(path)
  } catch {
    return undefined
  }
  return BAD_DECODED_PATH.test(decoded) ? undefined : decoded
}

const REPEATED_SLASHES = /\/{2,}/g
/** Path parameters (`;jsessionid=...`), which servlet containers cut from a segment before routing. */
const SEGMENT_PARAMETERS = /;[^/]*/g

/**
 * The form every path rule compares (the path policy and the login path alike): decoded, path
 * parameters cut, repeated and trailing slashes dropped. Rules compare it case-insensitively.
 */
export function normalisePath (decodedPath: string): string {
  let normal = decodedPath
  if (normal.includes(';')) normal = normal.replace(SEGMENT_PARAMETERS, '')
  if (normal.includes('//')) normal = normal.replace(REPEATED_SLASHES, '/')
  if (normal.length > 1 && normal.charCodeAt(normal.length - 1) === SLASH) normal = normal.slice(0, -1)
  return normal
}

const LOGIN_PATH_LOWER = LOGIN_PATH.toLowerCase()

/**
 * True when a normal path (see normalisePath) names the login endpoint in any case, also with a
 * `.suffix` on its last segment, which suffix-matching routers (older Spring MVC) map to it.
 */
export function isLoginPath (normalPath: string): boolean {
  if (normalPath.length < LOGIN_PATH_LOWER.length) return false
  const lower = normalPath.toLowerCase()
  return lower === LOGIN_PATH_LOWER || (lower.startsWith(LOGIN_PATH_LOWER) && lower.charCodeAt(LOGIN_PATH_LOWER.length) === DOT)
}
