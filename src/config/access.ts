// Who may call the proxy, on which listener, and what it forwards: the access key, the socket, hosts, origins, methods, paths, body size.
import { METHODS } from '../node-http.js'
import type { Config } from '../config.js'
import { isLoopbackHost, validHost } from '../hosts.js'
import { accessKeys as readAccessKeys, readCaFile } from './secret-files.js'
import { defaultOf } from './variables.js'
import type { ProxyEnv } from './variables.js'

export type AccessSettings = Pick<Config, 'proxySocket' | 'proxySocketMode' | 'accessKeys' | 'allowUnauthenticatedRemote' |
'allowedHosts' | 'corsOrigins' | 'allowMethods' | 'allowPaths' | 'denyPaths' | 'maxBodyBytes' | 'upstreamCa'>

/** Shorter access keys are accepted with a warning: a local attacker can try keys as fast as the proxy answers. */
const MIN_ACCESS_KEY_LENGTH = 16
const MAX_SOCKET_PATH_BYTES = 107

const REMOTE_PROBLEM = 'PROXY_HOST is not a loopback address: set PROXY_ACCESS_KEY or PROXY_ACCESS_KEY_FILE so that only your ' +
  'callers can use the Roecny token (or PROXY_ALLOW_UNAUTHENTICATED_REMOTE=true to let anyone who reaches the port use it)'
const REMOTE_WARNING = 'PROXY_ALLOW_UNAUTHENTICATED_REMOTE=true: the proxy listens on a non-loopback address without an access key; ' +
  'anyone who reaches the port acts as the Roecny account holder'

/** A comma list, items trimmed, empty items dropped. */
function items (raw: string): string[] {
  return raw.split(',').map((item) => item.trim()).filter((item) => item !== '')
}

const SOCKET_MODE = /^(?:0o?)?([0-7]{3})$/i
const SOCKET_MODE_PROBLEM = 'PROXY_SOCKET_MODE must be an octal file mode such as 0660'
const DEFAULT_SOCKET_MODE = parseInt(defaultOf('PROXY_SOCKET_MODE') as string, 8)

function parseSocketMode (raw: string, problems: string[]): number | undefined {
  const digits = SOCKET_MODE.exec(raw)?.[1]
  if (digits === undefined) {
    problems.push(SOCKET_MODE_PROBLEM)
    return undefined
  }
  return parseInt(digits, 8)
}

const ALLOWED_HOSTS_PROBLEM = 'PROXY_ALLOWED_HOSTS must be * or a comma list of host names and IP addresses, without ports'

/** Lower-case names; IPv6 addresses without brackets. `*` stays as the one item that turns the check off. */
function parseAllowedHosts (raw: string | undefined, problems: string[]): readonly string[] {
  if (raw === undefined) return Object.freeze([])
  const hosts: string[] = []
  for (const item of items(raw)) {
    const host = item.toLowerCase().replace(/^\[(.*)\]$/, '$1')
    if (host !== '*' && !validHost(host)) {
      problems.push(ALLOWED_HOSTS_PROBLEM)
      return Object.freeze([])
    }
    if (!hosts.includes(host)) hosts.push(host)
  }
  if (hosts.length === 0) problems.push(ALLOWED_HOSTS_PROBLEM)
  return Object.freeze(hosts.includes('*') ? ['*'] : hosts)
}

const CORS_PROBLEM = 'PROXY_CORS_ORIGINS must be a comma list of origins such as https://app.example (scheme://host[:port], no path; * and null are not accepted)'

/**
 * Serialised as browsers send them in `Origin` (lower case, default port dropped), so a request's
 * header is compared as a plain string. `*` is refused: every web page could then spend the token.
 */
function parseCorsOrigins (raw: string | undefined, problems: string[]): readonly string[] {
  if (raw === undefined) return Object.freeze([])
  const origins: string[] = []
  for (const item of items(raw)) {
    let url: URL | undefined
    try {
      url = new URL(item)
    } catch {
      url = undefined
    }
    const plain = url !== undefined && (url.protocol === 'http:' || url.protocol === 'https:') &&
      /^https?:\/\/[^/@?#]+\/?$/i.test(item)
    if (!plain) {
      problems.push(CORS_PROBLEM)
      return Object.freeze([])
    }
    const origin = (url as URL).origin
    if (!origins.includes(origin)) origins.push(origin)
  }
  if (origins.length === 0) problems.push(CORS_PROBLEM)
  return Object.freeze(origins)
}

const METHODS_PROBLEM = 'PROXY_ALLOW_METHODS must be a comma list of HTTP methods such as GET,HEAD'

/** One method as an operator writes it, in upper case; undefined when Node does not parse such a method. */
export function parseMethod (item: string): string | undefined {
  const method = item.toUpperCase()
  return METHODS.includes(method) ? method : undefined
}

/** Upper case, from the methods Node parses; undefined (every method) when unset. */
function parseMethods (raw: string | undefined, problems: string[]): readonly string[] | undefined {
  if (raw === undefined) return undefined
  const methods: string[] = []
  for (const item of items(raw)) {
    const method = parseMethod(item)
    if (method === undefined) {
      problems.push(METHODS_PROBLEM)
      return undefined
    }
    if (!methods.includes(method)) methods.push(method)
  }
  if (methods.length === 0) problems.push(METHODS_PROBLEM)
  return Object.freeze(methods)
}

/** Visible ASCII after the leading slash, and none of the characters that would mean something else in a path. */
const PATTERN_TEXT = /^\/[\x21-\x7e]*$/
const PATTERN_FORBIDDEN = /[?#%\\]/

/**
 * A path pattern as an operator writes it: `/api/v1/balances/**`, `/api/v1/payments/*`. It is matched
 * against the decoded path, so it is written decoded; repeated and trailing slashes are dropped, as
 * they are from the path it is matched against. `**` stands only for whole segments. Undefined when
 * the pattern is not one.
 */
export function parsePathPattern (item: string): string | undefined {
  const segments = item.split('/').slice(1).filter((segment) => segment !== '')
  const bad = !PATTERN_TEXT.test(item) || PATTERN_FORBIDDEN.test(item) ||
    segments.some((segment) => segment === '.' || segment === '..' || (segment.includes('**') && segment !== '**'))
  return bad ? undefined : `/${segments.join('/')}`
}

/** A comma list of path patterns (see parsePathPattern), each once; undefined when unset. */
function parsePathPatterns (name: string, raw: string | undefined, problems: string[]): readonly string[] | undefined {
  if (raw === undefined) return undefined
  const problem = `${name} must be a comma list of paths starting with / (* matches within one segment, ** any number of segments)`
  const patterns: string[] = []
  for (const item of items(raw)) {
    const pattern = parsePathPattern(item)
    if (pattern === undefined) {
      problems.push(problem)
      return undefined
    }
    if (!patterns.includes(pattern)) patterns.push(pattern)
  }
  if (patterns.length === 0) problems.push(problem)
  return Object.freeze(patterns)
}

/** Who may call the proxy, on which listener, and what it forwards; with the problems and warnings they raise. */
export function accessSettings (data: Record<string, string>, parsed: ProxyEnv | undefined, problems: string[], warnings: string[]): AccessSettings {
  const accessKeys = readAccessKeys(data, problems, warnings)
  if (accessKeys.some((key) => key.length < MIN_ACCESS_KEY_LENGTH)) {
    const source = data.PROXY_ACCESS_KEY !== undefined ? 'PROXY_ACCESS_KEY' : 'PROXY_ACCESS_KEY_FILE'
    warnings.push(`${source} holds ${accessKeys.length > 1 ? 'a key of ' : ''}fewer than ${MIN_ACCESS_KEY_LENGTH} characters; use a long random value (e.g. 32 random bytes, hex-encoded)`)
  }
  const proxySocket = data.PROXY_SOCKET
  // A longer path is silently cut to fit the socket address: the proxy would listen somewhere else.
  if (proxySocket !== undefined && Buffer.byteLength(proxySocket) > MAX_SOCKET_PATH_BYTES) {
    problems.push(`PROXY_SOCKET must be a path of at most ${MAX_SOCKET_PATH_BYTES} bytes (the size of a Unix socket address)`)
  }
  let proxySocketMode = DEFAULT_SOCKET_MODE
  if (data.PROXY_SOCKET_MODE !== undefined) {
    if (proxySocket === undefined) {
      problems.push('PROXY_SOCKET_MODE is set but PROXY_SOCKET is not; set PROXY_SOCKET to listen on a Unix socket')
    }
    proxySocketMode = parseSocketMode(data.PROXY_SOCKET_MODE, problems) ?? DEFAULT_SOCKET_MODE
    if ((proxySocketMode & 0o002) !== 0) {
      warnings.push('PROXY_SOCKET_MODE lets every local user connect to the socket and act as the Roecny account holder')
    }
  }
  if (proxySocket !== undefined && (data.PROXY_HOST !== undefined || data.PROXY_PORT !== undefined)) {
    warnings.push('PROXY_HOST and PROXY_PORT are not used: the proxy listens on PROXY_SOCKET only')
  }
  // The rule follows the address the proxy binds, so a typo cannot open it up: only loopback goes without a key.
  const allowUnauthenticatedRemote = parsed?.PROXY_ALLOW_UNAUTHENTICATED_REMOTE ?? data.PROXY_ALLOW_UNAUTHENTICATED_REMOTE === 'true'
  const host = data.PROXY_HOST ?? defaultOf('PROXY_HOST') as string
  // With profiles, only a keyless profile serves callers without a key: the profiles file applies this rule to it.
  if (data.PROXY_PROFILES_FILE === undefined && proxySocket === undefined && accessKeys.length === 0 && validHost(host) && !isLoopbackHost(host)) {
    if (allowUnauthenticatedRemote) warnings.push(REMOTE_WARNING)
    else problems.push(REMOTE_PROBLEM)
  }
  return {
    proxySocket,
    proxySocketMode,
    accessKeys,
    allowUnauthenticatedRemote,
    allowedHosts: parseAllowedHosts(data.PROXY_ALLOWED_HOSTS, problems),
    corsOrigins: parseCorsOrigins(data.PROXY_CORS_ORIGINS, problems),
    allowMethods: parseMethods(data.PROXY_ALLOW_METHODS, problems),
    allowPaths: parsePathPatterns('PROXY_ALLOW_PATHS', data.PROXY_ALLOW_PATHS, problems),
    denyPaths: parsePathPatterns('PROXY_DENY_PATHS', data.PROXY_DENY_PATHS, problems) ?? Object.freeze([]),
    maxBodyBytes: parsed?.PROXY_MAX_BODY_BYTES,
    upstreamCa: readCaFile(data.ROECNY_CA_FILE, problems)
  }
}
